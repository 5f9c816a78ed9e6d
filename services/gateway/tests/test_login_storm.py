"""Argon2 runs off the event loop, at most ``password_hash_concurrency`` at once: while a storm
of logins has every verification slot busy, ``/healthz`` still answers.

The verifications are held on a gate that opens only after ``/healthz`` answered: were they run
on the event loop, the first one would block it (and the server with it) until its own
give-up delay, and the test would see a verification that gave up instead of being released."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from ioc_gateway.auth import Passwords, check_password
from ioc_gateway.testing import gateway_harness

pytestmark = pytest.mark.connected

SLOTS = 2
LOGINS = 8


class GatedVerifier:
    """A blocking verify that records how many run at once and waits for ``gate``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.gave_up = 0
        self.slots_full = threading.Event()
        self.gate = threading.Event()

    def __call__(self, stored_hash: str, password: str) -> bool:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            if self.running == SLOTS:
                self.slots_full.set()
        try:
            if not self.gate.wait(timeout=30):
                with self.lock:
                    self.gave_up += 1
            return check_password(stored_hash, password)
        finally:
            with self.lock:
                self.running -= 1


async def test_a_failed_login_storm_does_not_block_healthz(database_url: str) -> None:
    async with gateway_harness(
        database_url, password_hash_concurrency=SLOTS, login_max_failures=0
    ) as gateway:
        verifier = GatedVerifier()
        gateway.state.users.passwords = Passwords(SLOTS, verify=verifier)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as client:
            storm = [
                asyncio.create_task(
                    client.post(
                        "/v1/auth/login",
                        json={"username": f"{gateway.prefix}-nobody-{i}", "password": "doan-sai"},
                    )
                )
                for i in range(LOGINS)
            ]
            assert await asyncio.to_thread(verifier.slots_full.wait, 30)
            health = await client.get("/healthz")
            # Answered while every slot is still held and the other logins wait their turn.
            assert health.status_code == 200
            assert not verifier.gate.is_set()
            assert verifier.running == SLOTS
            assert not any(task.done() for task in storm)
            verifier.gate.set()
            answers = await asyncio.gather(*storm)
    assert [r.status_code for r in answers] == [401] * LOGINS
    assert verifier.gave_up == 0
    assert verifier.most == SLOTS
