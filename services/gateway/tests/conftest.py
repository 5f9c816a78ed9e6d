"""Fixtures of the gateway's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from ioc_gateway.platform_testing import Platform, running_platform
from ioc_gateway.testing import Gateway, gateway_harness


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[Gateway]:
    async with gateway_harness(database_url) as g:
        yield g


@pytest.fixture
def platform(
    request: pytest.FixtureRequest, private_kafka_bootstrap: str, postgres_base_url: str
) -> Iterator[Platform]:
    """The four services on the test's own broker (the browser tests), their logs and consumer
    groups named after the test's module."""
    name = request.module.__name__.rpartition(".")[2].removeprefix("test_")
    with running_platform(private_kafka_bootstrap, postgres_base_url, name) as started:
        yield started
