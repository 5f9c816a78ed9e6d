"""Fixtures of the reliability suite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ioc_ingest.testing import Harness, memory_harness


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    """The ingest app on in-memory fakes, with a key for every family in province 08."""
    async with memory_harness() as h:
        yield h
