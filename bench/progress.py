"""How fast a consumer got through pre-loaded records, told from its committed progress."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TooShort(RuntimeError):
    """A run that ended before it could be timed."""


async def committed_rate(
    committed: Callable[[], Awaitable[int]],
    total: int,
    *,
    what: str,
    timeout_s: float,
    every_s: float,
) -> float:
    """Records/s from the first commit seen to the last, polling ``committed()`` (records
    committed so far) every ``every_s``: start-up and group join are left out, and so are the
    records of the first commit seen. A run that committed everything before any poll saw
    progress cannot be timed: it raises :class:`TooShort` (counted from readiness instead, a
    second process started after the first had taken the records once read 5 million/s)."""
    deadline = time.monotonic() + timeout_s
    ready = time.perf_counter()
    first: tuple[float, int] | None = None
    while time.monotonic() < deadline:
        done = await committed()
        now = time.perf_counter()
        if done and first is None:
            first = (now, done)
        if done >= total:
            assert first is not None
            if done == first[1]:
                raise TooShort(
                    f"{what} committed all {total:,} records within {now - ready:.3f}s of"
                    " readiness, before a poll saw any: run more records"
                )
            return (done - first[1]) / (now - first[0])
        await asyncio.sleep(every_s)
    raise TimeoutError(f"{what} did not commit {total} records within {timeout_s:.0f}s")
