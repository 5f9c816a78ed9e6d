"""Which events were already handed to Kafka: the idempotency store.

An event is (provider, event_id) — ``ioc_common.events.EventKey`` — so one department's ids
never collide with another's. Each row keeps a digest of what the event said, so a re-send of
the same id with other content is told apart from a true duplicate (409, not "duplicate").

Ids are recorded only after the broker acknowledged them, so a "duplicate" answer never hides
an event that was not published (the ingestor writes them behind its answer and remembers them
until the insert commits: ``ioc_ingest.ingestor``). A crash between the acknowledgement and the
insert lets a resend publish the event twice; consumers deduplicate by (provider, event_id).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

import asyncpg

from ioc_common.db import async_url
from ioc_common.db.partitions import keep_window
from ioc_common.errors import DatabaseUnavailable
from ioc_common.logs import get_logger
from ioc_common.timeutil import utc_now
from ioc_ingest.coalesce import Coalescer

log = get_logger("ioc.ingest.seen")


@dataclass(frozen=True, slots=True)
class SeenEvent:
    event_id: uuid.UUID
    provider: str
    family: str
    topic: str
    partition: int
    offset: int
    received_at: datetime
    content_sha256: bytes


class SeenStore(Protocol):
    async def seen(
        self, provider: str, event_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, bytes | None]:
        """Of these ids, the ones this provider already published, with the digest of what
        each said (None for rows recorded before digests were kept)."""
        ...

    async def record(self, events: Sequence[SeenEvent]) -> None: ...

    async def is_ready(self) -> bool: ...


#: Where published ids are remembered, a partition per month (``ioc_common.db.partitions``).
SEEN_EVENTS = "ingest_seen_events"
#: Any kept month may hold an id: each partition's key is probed.
_SEEN = (
    f"SELECT s.provider, s.event_id, s.content_sha256 FROM {SEEN_EVENTS} s"
    " JOIN unnest($1::text[], $2::uuid[]) AS k(provider, event_id) USING (provider, event_id)"
)
#: Each id lands in the partition of its UTC month (migration 0016); an id already there is
#: left alone, and one in an earlier kept month was found by ``seen`` before it was published.
_RECORD = (
    f'INSERT INTO {SEEN_EVENTS} (event_id, provider, family, topic, partition, "offset",'
    " received_at, content_sha256, seen_month) SELECT *, date_trunc('month', r AT TIME ZONE"
    " 'UTC')::date FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[],"
    " $6::bigint[], $7::timestamptz[], $8::bytea[]) AS k(i, p, f, t, n, o, r, c)"
    " ON CONFLICT DO NOTHING"
)
_Key = tuple[str, uuid.UUID]
#: What a lost, refused or broken connection raises; all of them mean "answer 503".
#: ``InternalClientError`` is a connection left mid-operation by a server that died under it
#: ("cannot switch to state …"), seen when PostgreSQL is killed during a batch.
_DB_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)


def _db_down(exc: BaseException) -> DatabaseUnavailable:
    return DatabaseUnavailable(
        "Cơ sở dữ liệu tạm thời không phản hồi; vui lòng gửi lại sau",
        f"The database did not answer ({type(exc).__name__}); retry later",
    )


def asyncpg_dsn(url: str) -> str:
    """``postgresql://…`` for asyncpg from any URL ``ioc_common.db`` accepts."""
    return "postgresql://" + async_url(url).removeprefix("postgresql+asyncpg://")


async def _no_reset(_: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release: these statements leave no session state."""


class PgSeenStore:
    """The table through a plain asyncpg pool: each call is one statement in one round trip,
    and concurrent calls share it (``Coalescer``).

    Through the ORM session each call cost a pre-ping, BEGIN, the statement and COMMIT or
    ROLLBACK (four round trips, ≈ 2–4 ms and 1–1.5 ms of CPU each); autocommit statements
    need none of that: ``seen`` only reads, and ``record`` is a single atomic INSERT.
    """

    def __init__(self, database_url: str, *, pool_size: int = 10, timeout_s: float = 10.0) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._pool_size = pool_size
        self._timeout_s = timeout_s
        self._pool: asyncpg.Pool | None = None
        self._seen = Coalescer(self._seen_now)
        self._record = Coalescer(self._record_now)

    async def start(self) -> None:
        """Create the pool; it connects on first use, so a database that is down at start-up
        only makes writes answer 503 until it is back."""
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=0,
                max_size=self._pool_size,
                command_timeout=self._timeout_s,
                timeout=self._timeout_s,
                reset=_no_reset,
            )

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise _db_down(RuntimeError("seen store not started"))
        return self._pool

    async def seen(
        self, provider: str, event_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, bytes | None]:
        keys = [(provider, i) for i in event_ids]
        if not keys:
            return {}
        found = await self._seen.submit(keys)  # carries other callers' keys too
        return {k[1]: found[k] for k in keys if k in found}

    async def record(self, events: Sequence[SeenEvent]) -> None:
        if events:
            await self._record.submit(list(events))

    async def _seen_now(self, keys: list[_Key]) -> dict[_Key, bytes | None]:
        providers = [k[0] for k in keys]
        ids = [k[1] for k in keys]
        try:
            rows = await self._require_pool().fetch(_SEEN, providers, ids, timeout=self._timeout_s)
        except _DB_ERRORS as exc:
            raise _db_down(exc) from exc
        return {(row[0], row[1]): row[2] for row in rows}

    async def _record_now(self, events: list[SeenEvent]) -> None:
        # One statement of eight arrays whatever the batch size (no per-row parameters, no
        # 32,767-parameter cap, one round trip).
        columns = (
            [e.event_id for e in events],
            [e.provider for e in events],
            [e.family for e in events],
            [e.topic for e in events],
            [e.partition for e in events],
            [e.offset for e in events],
            [e.received_at for e in events],
            [e.content_sha256 for e in events],
        )
        try:
            await self._require_pool().execute(_RECORD, *columns, timeout=self._timeout_s)
        except _DB_ERRORS as exc:
            raise _db_down(exc) from exc

    async def keep_window(self, today: date, window_days: int) -> list[str]:
        """Make this month's and the next month's partitions and drop the months wholly older
        than the dedup window (an id published longer ago may be published again). Returns
        the partitions dropped."""
        try:
            async with self._require_pool().acquire() as conn, conn.transaction():
                return await keep_window(conn, SEEN_EVENTS, today, window_days)
        except _DB_ERRORS as exc:
            raise _db_down(exc) from exc

    async def is_ready(self) -> bool:
        try:
            await self._require_pool().fetchval("SELECT 1", timeout=3)
        except Exception:  # any failure means "not ready"
            return False
        return True


#: Seconds between two checks of the UTC day: the window is kept once a day, the first check
#: after the day turned (the next month's partition exists a month ahead).
WINDOW_CHECK_EVERY_S = 3600.0


async def keep_seen_window(
    store: PgSeenStore,
    window_days: int,
    *,
    every_s: float = WINDOW_CHECK_EVERY_S,
    today: Callable[[], date] = lambda: utc_now().date(),
) -> None:
    """For as long as the service runs: keep the dedup window at start and once per UTC day.
    A database that does not answer is logged and tried again at the next check."""
    kept_on: date | None = None
    while True:
        day = today()
        if day != kept_on:
            try:
                dropped = await store.keep_window(day, window_days)
            except DatabaseUnavailable as exc:
                log.warning("ingest.dedup_window_failed", error=exc.message_en)
            else:
                kept_on = day
                if dropped:
                    log.info("ingest.dedup_months_dropped", partitions=dropped)
        await asyncio.sleep(every_s)


class InMemorySeenStore:
    """A real fake of the table for fast unit tests; ``available`` switches it off, and
    ``hold`` (an unset event) keeps each ``record`` from finishing until it is set."""

    def __init__(self) -> None:
        self.rows: dict[_Key, SeenEvent] = {}
        self.available = True
        self.hold: asyncio.Event | None = None

    async def seen(
        self, provider: str, event_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, bytes | None]:
        if not self.available:
            raise _db_down(ConnectionError("in-memory store switched off"))
        rows = ((i, self.rows.get((provider, i))) for i in event_ids)
        return {i: row.content_sha256 for i, row in rows if row is not None}

    async def record(self, events: Sequence[SeenEvent]) -> None:
        if self.hold is not None:
            await self.hold.wait()
        if not self.available:
            raise _db_down(ConnectionError("in-memory store switched off"))
        for e in events:
            self.rows.setdefault((e.provider, e.event_id), e)

    async def is_ready(self) -> bool:
        return self.available
