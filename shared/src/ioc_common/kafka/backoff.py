"""The one back-off policy of the platform's loops: exponential with full jitter, capped, reset
on success.

The n-th wait after consecutive failures is uniform in ``[0, min(cap_s, base_s * 2**n)]``
("full jitter": replicas that failed together do not retry together). Every consumer loop and
reconnect loop uses it: the metrics and alerts batch worker, the alerts service's other loops,
the gateway's live feed, ingest's broker reconnect. The random source and the sleep are
injectable, so tests check the policy without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable

#: More doublings than this cannot matter below any sane cap (and 2**n stays a small float).
_MAX_DOUBLINGS = 32


def ceiling(failures: int, base_s: float, cap_s: float) -> float:
    """The longest wait after ``failures`` earlier consecutive failures (0 for the first):
    ``min(cap_s, base_s * 2**failures)``. The wait is uniform below it; a loop with no
    ``Backoff`` of its own (the alerts dispatcher counts a delivery's attempts in its table)
    draws it from here."""
    return min(cap_s, base_s * 2.0 ** min(max(failures, 0), _MAX_DOUBLINGS))


class Backoff:
    def __init__(
        self,
        base_s: float = 0.2,
        cap_s: float = 10.0,
        *,
        rand: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError("need 0 < base_s <= cap_s")
        self.base_s = base_s
        self.cap_s = cap_s
        self._rand = rand
        self._sleep = sleep
        #: Consecutive failures since the last success.
        self.failures = 0

    def ceiling(self) -> float:
        """The longest the next wait may be."""
        return ceiling(self.failures, self.base_s, self.cap_s)

    def next_delay(self) -> float:
        """Count one more failure and return how long to wait before the next try."""
        delay = self.ceiling() * self._rand()
        self.failures += 1
        return delay

    def reset(self) -> None:
        """A success: the next failure waits little again."""
        self.failures = 0

    async def wait(self, stopping: asyncio.Event | None = None) -> float:
        """Count a failure and wait its delay, or less if ``stopping`` is set meanwhile.
        Returns the delay chosen."""
        delay = self.next_delay()
        if stopping is None:
            await self._sleep(delay)
            return delay
        if stopping.is_set():
            return delay
        sleeper = asyncio.ensure_future(self._sleep(delay))
        stopped = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({sleeper, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopped):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return delay
