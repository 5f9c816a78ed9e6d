"""The benchmark's rate of a consumer's committed progress: timed from the first commit seen,
and never a rate from a run that ended before any poll saw it move."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bench.progress import TooShort, committed_rate


def _polls(values: list[int]) -> Iterator[int]:
    yield from values
    while True:
        yield values[-1]


async def _rate(values: list[int], total: int) -> float:
    polls = _polls(values)

    async def committed() -> int:
        return next(polls)

    return await committed_rate(committed, total, what="test", timeout_s=5, every_s=0.01)


def test_the_rate_counts_from_the_first_commit_seen() -> None:
    rate = asyncio.run(_rate([0, 0, 1_000, 2_000, 3_000], 3_000))
    # 2,000 records in the two 10 ms intervals after the first commit seen (sleeps only
    # lengthen them): never more than 100,000/s, and the first commit's 1,000 are left out.
    assert 0 < rate <= 100_000


def test_a_run_that_ended_before_any_poll_saw_progress_is_refused() -> None:
    with pytest.raises(TooShort, match="run more records"):
        asyncio.run(_rate([0, 0, 3_000], 3_000))


def test_a_run_that_never_ends_times_out() -> None:
    polls = _polls([0, 10])

    async def committed() -> int:
        return next(polls)

    with pytest.raises(TimeoutError):
        asyncio.run(committed_rate(committed, 100, what="test", timeout_s=0.05, every_s=0.01))
