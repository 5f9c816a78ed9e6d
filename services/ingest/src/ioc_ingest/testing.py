"""Running the app in-process for tests and benchmarks, with fakes or with the real things.

``memory_harness()`` wires the app to ``InMemoryPublisher`` and in-memory key and id stores
(fast unit tests); ``running(app)`` runs any app's lifespan and gives an httpx client bound to
it without a network socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from ioc_common.kafka.memory import InMemoryBroker, InMemoryPublisher
from ioc_common.observability import new_registry
from ioc_ingest.app import create_app
from ioc_ingest.config import IngestSettings
from ioc_ingest.keys import InMemoryKeyStore
from ioc_ingest.seen import InMemorySeenStore

#: Before the 2025 reform, so district codes are valid and recent periods need no backfill.
FIXED_NOW = datetime(2025, 6, 20, 3, 0, tzinfo=UTC)


def settings_for_tests(**overrides: Any) -> IngestSettings:
    """Settings for tests: no key cache, no rate limit, warnings-only logs, unless
    overridden."""
    base: dict[str, Any] = {
        "key_cache_ttl_seconds": 0,
        "rate_per_second": 0,
        "log_level": "WARNING",
    }
    return IngestSettings(**{**base, **overrides})


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://ingest.test", timeout=60
        ) as client,
    ):
        yield client


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient
    broker: InMemoryBroker
    keys: InMemoryKeyStore
    seen: InMemorySeenStore
    registry: CollectorRegistry
    key: str
    """A key for every family, scoped to Tuyên Quang (08)."""

    def create_key(
        self,
        families: Sequence[str] = ("bts", "public_service", "cashless", "observation"),
        units: Sequence[str] = ("08",),
        *,
        provider: str = "so-tttt-tq",
        indicators: Sequence[str] = (),
        all_units: bool = False,
    ) -> str:
        _, raw = self.keys.create(
            provider=provider,
            families=families,
            units=() if all_units else units,
            indicators=indicators,
            all_units=all_units,
        )
        return raw

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    async def upload(
        self, family: str, data: str | bytes, key: str | None = None
    ) -> httpx.Response:
        """A CSV file (``str``: encoded as UTF-8) uploaded for ``family`` with the harness's key,
        or ``key``."""
        content = data.encode() if isinstance(data, str) else data
        return await self.client.post(
            "/v1/uploads",
            params={"family": family},
            files={"file": ("data.csv", content, "text/csv")},
            headers=self.headers(key),
        )

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.registry.get_sample_value(name, labels or {}) or 0.0


@asynccontextmanager
async def memory_harness(
    settings: IngestSettings | None = None, now: Callable[[], datetime] = lambda: FIXED_NOW
) -> AsyncIterator[Harness]:
    broker = InMemoryBroker(partitions=6)
    keys = InMemoryKeyStore()
    seen = InMemorySeenStore()
    registry = new_registry()
    app = create_app(
        settings or settings_for_tests(),
        publisher=InMemoryPublisher(broker),
        key_store=keys,
        seen_store=seen,
        registry=registry,
        now=now,
    )
    async with running(app) as client:
        harness = Harness(app, client, broker, keys, seen, registry, key="")
        harness.key = harness.create_key()
        yield harness
