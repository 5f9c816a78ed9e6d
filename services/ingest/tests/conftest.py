"""Fixtures of the ingest service's tests: the app on in-memory fakes (fast), and sample events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ioc_ingest.testing import Harness, memory_harness


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with memory_harness() as h:
        yield h


def bts_event(unit_code: str = "071", **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "family": "bts",
        "unit_code": unit_code,
        "observed_at": "2025-05",
        "payload": {
            "operator": "Viettel",
            "technology": "4G",
            "sites": 42,
            "villages_total": 65,
            "villages_covered": 63,
        },
    }
    event.update(overrides)
    return event


@pytest.fixture
def make_bts() -> Any:
    return bts_event
