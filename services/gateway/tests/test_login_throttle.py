"""Password guessing is slowed: after five wrong passwords for one username within fifteen
minutes, that username is refused with 429 and Retry-After for five minutes — even with the
right password — while other operators log in as usual."""

from __future__ import annotations

import httpx
import pytest

from ioc_gateway.login_throttle import LoginThrottle
from ioc_gateway.testing import PASSWORD, Gateway


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_failures_spread_beyond_the_window_never_lock() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(max_failures=3, window_s=60, lockout_s=30, clock=clock)
    for _ in range(10):
        assert not throttle.failed("an.nv")
        clock.now += 31  # at most two failures inside any 60 s
    assert throttle.retry_after("an.nv") is None


def test_the_nth_failure_locks_until_the_lockout_ends() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(max_failures=3, window_s=60, lockout_s=30, clock=clock)
    assert [throttle.failed("An.NV ") for _ in range(3)] == [False, False, True]
    assert throttle.retry_after("an.nv") == 30  # usernames compare case- and space-blind
    clock.now += 29
    assert throttle.retry_after("an.nv") == pytest.approx(1)
    clock.now += 1
    assert throttle.retry_after("an.nv") is None
    assert not throttle.failed("an.nv")  # the count started again after the lockout


def test_a_success_forgets_earlier_failures() -> None:
    throttle = LoginThrottle(max_failures=3, clock=FakeClock())
    throttle.failed("an.nv")
    throttle.failed("an.nv")
    throttle.succeeded("an.nv")
    assert not throttle.failed("an.nv")
    assert not throttle.failed("an.nv")


def test_zero_failures_turns_it_off() -> None:
    throttle = LoginThrottle(max_failures=0, clock=FakeClock())
    assert not any(throttle.failed("an.nv") for _ in range(100))
    assert throttle.retry_after("an.nv") is None


@pytest.mark.connected
async def test_five_wrong_passwords_lock_that_user_only(gateway: Gateway) -> None:
    clock = FakeClock()
    gateway.state.login_throttle.clock = clock
    target = await gateway.user("bi-doan", "operator", "071")
    other = await gateway.user("khac", "operator", "072")
    async with httpx.AsyncClient(base_url=gateway.url) as client:

        async def login(username: str, password: str) -> httpx.Response:
            return await client.post(
                "/v1/auth/login", json={"username": username, "password": password}
            )

        for _ in range(5):
            assert (await login(target, "sai-mat-khau-123")).status_code == 401
        locked = await login(target, PASSWORD)
        assert locked.status_code == 429, locked.text
        assert locked.json()["error"]["code"] == "rate_limited"
        assert locked.json()["error"]["message_en"].startswith("Too many failed logins")
        assert 299 <= float(locked.headers["Retry-After"]) <= 300

        assert (await login(other, PASSWORD)).status_code == 200

        clock.now += 301
        assert (await login(target, PASSWORD)).status_code == 200

        metrics = (await client.get("/metrics")).text
        assert "ioc_gateway_login_lockouts_total 1.0" in metrics
        assert "ioc_gateway_login_throttled_total 1.0" in metrics
