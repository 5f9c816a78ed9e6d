"""Concurrent seen-id statements share one round trip, and each caller still gets its own
answer or the statement's error."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ioc_common.errors import DatabaseUnavailable
from ioc_ingest.coalesce import Coalescer
from ioc_ingest.testing import Harness


class Recorder:
    """A statement that takes a while and remembers what each run carried."""

    def __init__(self, fail: bool = False) -> None:
        self.runs: list[list[int]] = []
        self.fail = fail
        self.release = asyncio.Event()

    async def __call__(self, items: list[int]) -> set[int]:
        self.runs.append(list(items))
        await self.release.wait()
        if self.fail:
            raise DatabaseUnavailable("CSDL", "database down")
        return {i for i in items if i % 2 == 0}


async def test_callers_arriving_while_a_statement_runs_share_the_next_one() -> None:
    run = Recorder()
    coalescer: Coalescer[int, set[int]] = Coalescer(run)
    first = asyncio.create_task(coalescer.submit([0, 1]))
    await asyncio.sleep(0)
    others = [asyncio.create_task(coalescer.submit([n])) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    assert run.runs == [[0, 1]]  # the others wait for the running statement
    run.release.set()
    results = await asyncio.gather(first, *others)
    assert run.runs == [[0, 1], [2, 3, 4]]
    assert results[1:] == [{2, 4}] * 3  # the whole statement's result; the store filters it
    assert results[0] == {0}


async def test_every_caller_of_a_failed_statement_gets_its_error() -> None:
    run = Recorder(fail=True)
    coalescer: Coalescer[int, set[int]] = Coalescer(run)
    tasks = [asyncio.create_task(coalescer.submit([n])) for n in range(3)]
    await asyncio.sleep(0)
    run.release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, DatabaseUnavailable) for o in outcomes)
    # The next caller starts afresh.
    run.fail = False
    assert await coalescer.submit([8]) == {8}


async def test_a_caller_that_gives_up_does_not_cancel_the_others() -> None:
    run = Recorder()
    coalescer: Coalescer[int, set[int]] = Coalescer(run)
    leaving = asyncio.create_task(coalescer.submit([2]))
    staying = asyncio.create_task(coalescer.submit([4]))
    await asyncio.sleep(0)
    leaving.cancel()
    run.release.set()
    assert await staying == {2, 4}
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_concurrent_single_events_with_the_same_id_are_published_and_answered_once_each(
    harness: Harness, make_bts: object
) -> None:
    sent = [make_bts() for _ in range(20)]  # type: ignore[operator]
    answers = await asyncio.gather(
        *(harness.client.post("/v1/events", json=e, headers=harness.headers()) for e in sent)
    )
    assert [a.status_code for a in answers] == [202] * 20
    assert {a.json()["event_id"] for a in answers} == {e["event_id"] for e in sent}
    again = await harness.client.post("/v1/events", json=sent[3], headers=harness.headers())
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "event_id": sent[3]["event_id"]}
    assert {i for _, i in harness.seen.rows} == {uuid.UUID(e["event_id"]) for e in sent}
