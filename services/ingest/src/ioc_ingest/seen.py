"""Which event ids were already handed to Kafka: the idempotency store.

Ids are recorded only after the broker acknowledged them, so a "duplicate" answer never hides
an event that was not published. A crash between the acknowledgement and the insert lets a
resend publish the event twice; downstream consumers deduplicate by ``event_id``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_common.db import transaction
from ioc_common.errors import DatabaseUnavailable


@dataclass(frozen=True, slots=True)
class SeenEvent:
    event_id: uuid.UUID
    provider: str
    family: str
    topic: str
    partition: int
    offset: int
    received_at: datetime


class SeenStore(Protocol):
    async def seen(self, event_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """The ids among these that were already published."""
        ...

    async def record(self, events: Sequence[SeenEvent]) -> None: ...

    async def is_ready(self) -> bool: ...


_SEEN = sa.text(
    "SELECT event_id FROM ingest_seen_events WHERE event_id = ANY(CAST(:ids AS uuid[]))"
)
_RECORD = sa.text(
    'INSERT INTO ingest_seen_events (event_id, provider, family, topic, partition, "offset",'
    " received_at) SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:providers AS text[]),"
    " CAST(:families AS text[]), CAST(:topics AS text[]), CAST(:partitions AS int[]),"
    " CAST(:offsets AS bigint[]), CAST(:received AS timestamptz[]))"
    " ON CONFLICT (event_id) DO NOTHING"
)


def _db_down(exc: Exception) -> DatabaseUnavailable:
    return DatabaseUnavailable(
        "Cơ sở dữ liệu tạm thời không phản hồi; vui lòng gửi lại sau",
        f"The database did not answer ({type(exc).__name__}); retry later",
    )


class PgSeenStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def seen(self, event_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        ids = list(event_ids)
        if not ids:
            return set()
        try:
            async with self._sessions() as session:
                return set((await session.execute(_SEEN, {"ids": ids})).scalars())
        except (SQLAlchemyError, OSError) as exc:
            raise _db_down(exc) from exc

    async def record(self, events: Sequence[SeenEvent]) -> None:
        if not events:
            return
        columns = {
            "ids": [e.event_id for e in events],
            "providers": [e.provider for e in events],
            "families": [e.family for e in events],
            "topics": [e.topic for e in events],
            "partitions": [e.partition for e in events],
            "offsets": [e.offset for e in events],
            "received": [e.received_at for e in events],
        }
        try:
            async with transaction(self._sessions) as session:
                # One statement of seven arrays whatever the batch size (no per-row
                # parameters, no 32,767-parameter cap, one round trip).
                await session.execute(_RECORD, columns)
        except (SQLAlchemyError, OSError) as exc:
            raise _db_down(exc) from exc

    async def is_ready(self) -> bool:
        try:
            async with self._sessions() as session:
                await session.execute(sa.text("SELECT 1"))
        except Exception:  # any failure means "not ready"
            return False
        return True


class InMemorySeenStore:
    """A real fake of the table for fast unit tests; ``available`` switches it off."""

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, SeenEvent] = {}
        self.available = True

    async def seen(self, event_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        if not self.available:
            raise _db_down(ConnectionError("in-memory store switched off"))
        return {i for i in event_ids if i in self.rows}

    async def record(self, events: Sequence[SeenEvent]) -> None:
        if not self.available:
            raise _db_down(ConnectionError("in-memory store switched off"))
        for e in events:
            self.rows.setdefault(e.event_id, e)

    async def is_ready(self) -> bool:
        return self.available
