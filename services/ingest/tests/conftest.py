"""Fixtures of the ingest service's tests: the app on in-memory fakes (fast), and sample events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ioc_common.testing import bts_event
from ioc_ingest.testing import Harness, memory_harness


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with memory_harness() as h:
        yield h


@pytest.fixture
def make_bts() -> Any:
    return bts_event
