"""Fixtures of the gateway's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ioc_gateway.testing import Gateway, gateway_harness


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[Gateway]:
    async with gateway_harness(database_url) as g:
        yield g
