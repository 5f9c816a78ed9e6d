"""The shared back-off: exponential with full jitter, capped, reset on success; its random
source and sleep injected, so nothing here waits."""

from __future__ import annotations

import asyncio

import pytest

from ioc_common.kafka.backoff import Backoff


def test_ceilings_double_up_to_the_cap_and_jitter_spans_zero_to_the_ceiling() -> None:
    top = Backoff(0.5, 4.0, rand=lambda: 1.0)
    assert [top.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    bottom = Backoff(0.5, 4.0, rand=lambda: 0.0)
    assert [bottom.next_delay() for _ in range(3)] == [0.0, 0.0, 0.0]
    half = Backoff(0.5, 4.0, rand=lambda: 0.5)
    assert [half.next_delay() for _ in range(3)] == [0.25, 0.5, 1.0]


def test_a_success_resets_and_many_failures_stay_at_the_cap() -> None:
    backoff = Backoff(0.2, 10.0, rand=lambda: 1.0)
    for _ in range(1000):
        backoff.next_delay()
    assert backoff.ceiling() == 10.0
    backoff.reset()
    assert (backoff.failures, backoff.next_delay()) == (0, 0.2)


def test_nonsense_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="base_s"):
        Backoff(0.0, 1.0)
    with pytest.raises(ValueError, match="base_s"):
        Backoff(2.0, 1.0)


async def test_wait_sleeps_the_delay_and_a_stop_cuts_it_short() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    backoff = Backoff(1.0, 8.0, rand=lambda: 1.0, sleep=fake_sleep)
    assert await backoff.wait() == 1.0
    assert await backoff.wait() == 2.0
    assert slept == [1.0, 2.0]

    forever = asyncio.Event()

    async def never(_: float) -> None:
        await forever.wait()

    stopping = asyncio.Event()
    blocked = Backoff(1.0, 8.0, rand=lambda: 1.0, sleep=never)
    waiting = asyncio.create_task(blocked.wait(stopping))
    await asyncio.sleep(0)
    assert not waiting.done()
    stopping.set()
    assert await waiting == 1.0  # returned on the stop, not after the (endless) sleep
