"""The seen-id store on a real PostgreSQL: one statement per call, shared by concurrent calls,
each caller answered about its own ids; an unreachable database is a 503 error."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from ioc_common.errors import DatabaseUnavailable
from ioc_common.infra.process import free_port
from ioc_ingest.seen import PgSeenStore, SeenEvent

pytestmark = pytest.mark.connected


PROVIDER = "so-tttt-tq"


def row(event_id: uuid.UUID, offset: int, provider: str = PROVIDER) -> SeenEvent:
    digest = hashlib.sha256(f"{provider}{event_id}".encode()).digest()
    return SeenEvent(
        event_id, provider, "bts", "ioc.telemetry.bts.v1", 0, offset, datetime.now(UTC), digest
    )


async def test_concurrent_records_and_lookups_answer_each_caller_about_its_own_ids(
    database_url: str,
) -> None:
    store = PgSeenStore(database_url, pool_size=3)
    await store.start()
    try:
        groups = [[uuid.uuid4() for _ in range(5)] for _ in range(12)]
        # The same id twice in one shared statement (two requests racing) is stored once.
        groups.append([groups[0][0]])
        await asyncio.gather(*(store.record([row(i, n) for n, i in enumerate(g)]) for g in groups))
        unseen = [uuid.uuid4() for _ in range(12)]
        answers = await asyncio.gather(
            *(store.seen(PROVIDER, [*g, u]) for g, u in zip(groups, unseen, strict=False))
        )
        for group, answer in zip(groups, answers, strict=False):
            assert answer == {i: row(i, 0).content_sha256 for i in group}
        assert await store.seen(PROVIDER, unseen) == {}
        assert await store.is_ready()
    finally:
        await store.close()


async def test_an_unreachable_database_raises_database_unavailable() -> None:
    store = PgSeenStore(f"postgresql://ioc@127.0.0.1:{free_port()}/ioc", timeout_s=2)
    await store.start()  # connects on first use, so a database down at start-up is no crash
    try:
        assert not await store.is_ready()
        with pytest.raises(DatabaseUnavailable):
            await store.seen(PROVIDER, [uuid.uuid4()])
        with pytest.raises(DatabaseUnavailable):
            await store.record([row(uuid.uuid4(), 1)])
    finally:
        await store.close()


async def test_an_id_is_seen_only_for_the_provider_that_used_it(database_url: str) -> None:
    """Identity is (provider, event_id): another department's id is not a duplicate of ours,
    and both can be recorded."""
    store = PgSeenStore(database_url)
    await store.start()
    try:
        shared = uuid.uuid4()
        await store.record([row(shared, 1, provider="huyen-070")])
        assert await store.seen("huyen-071", [shared]) == {}
        await store.record([row(shared, 2, provider="huyen-071")])
        both = await asyncio.gather(
            store.seen("huyen-070", [shared]), store.seen("huyen-071", [shared])
        )
        assert list(both) == [
            {shared: row(shared, 0, provider="huyen-070").content_sha256},
            {shared: row(shared, 0, provider="huyen-071").content_sha256},
        ]
    finally:
        await store.close()


class _BrokenConnection:
    """What asyncpg raises on a connection the server died under mid-operation (the chaos
    run's PostgreSQL SIGKILL): ``InternalClientError``, not an ``InterfaceError``."""

    async def fetch(self, *_: object, **__: object) -> None:
        raise asyncpg.InternalClientError("cannot switch to state 12; another operation")

    async def execute(self, *_: object, **__: object) -> None:
        raise asyncpg.InternalClientError("cannot switch to state 12; another operation")


async def test_a_connection_broken_mid_operation_is_unavailable_not_a_500() -> None:
    store = PgSeenStore(f"postgresql://ioc@127.0.0.1:{free_port()}/ioc", timeout_s=2)
    store._pool = _BrokenConnection()
    with pytest.raises(DatabaseUnavailable):
        await store.seen(PROVIDER, [uuid.uuid4()])
    with pytest.raises(DatabaseUnavailable):
        await store.record([row(uuid.uuid4(), 1)])
