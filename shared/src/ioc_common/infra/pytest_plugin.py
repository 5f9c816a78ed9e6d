"""Session-scoped pytest fixtures: a real Kafka bootstrap address and a real PostgreSQL URL.

``IOC_TEST_INFRA`` chooses where they come from:
- ``local`` (default, CI): Apache Kafka from Maven's jars and PostgreSQL from the wheel;
- ``containers``: testcontainers' Kafka and PostgreSQL, where a Docker engine answers;
- ``external``: ``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` as already running.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ioc_common.db import async_url
from ioc_common.db.migrate import upgrade
from ioc_common.infra.kafka_local import LocalKafka
from ioc_common.infra.postgres_local import LocalPostgres
from ioc_common.kafka.admin import ensure_topics, wait_for_broker
from ioc_common.topics import ALL_TOPICS


def _mode() -> str:
    return os.environ.get("IOC_TEST_INFRA", "local")


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[LocalKafka | None]:
    """The local Apache Kafka process (None in the other modes); fault tests restart it."""
    if _mode() != "local":
        yield None
        return
    started = time.monotonic()
    broker = LocalKafka().start()
    asyncio.run(wait_for_broker(broker.bootstrap))
    print(
        f"\n[infra] Apache Kafka ready at {broker.bootstrap} in {time.monotonic() - started:.1f}s"
    )
    yield broker
    broker.destroy()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: LocalKafka | None) -> Iterator[str]:
    mode = _mode()
    container: Any = None
    if kafka_broker is not None:
        bootstrap = kafka_broker.bootstrap
    elif mode == "containers":
        from testcontainers.kafka import KafkaContainer

        container = KafkaContainer().with_kraft().start()
        bootstrap = container.get_bootstrap_server()
    else:
        bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    asyncio.run(ensure_topics(bootstrap, ALL_TOPICS))
    yield bootstrap
    if container is not None:
        container.stop()


@pytest.fixture(scope="module")
def private_kafka_bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    """A broker of the test module's own (local mode), with every platform topic and nothing
    else on them: for tests whose services read whole topics from the start, where other
    tests' messages on the session's broker would only slow them down. In the other modes it
    is the session's broker."""
    if _mode() != "local":
        yield request.getfixturevalue("kafka_bootstrap")
        return
    broker = LocalKafka().start()
    asyncio.run(wait_for_broker(broker.bootstrap))
    asyncio.run(ensure_topics(broker.bootstrap, ALL_TOPICS, partitions=3))
    yield broker.bootstrap
    broker.destroy()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres | None]:
    if _mode() != "local":
        yield None
        return
    started = time.monotonic()
    server = LocalPostgres().start()
    print(f"\n[infra] PostgreSQL ready at port {server.port} in {time.monotonic() - started:.1f}s")
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def postgres_base_url(postgres_server: LocalPostgres | None) -> Iterator[str]:
    """A URL of the server's maintenance database, from which test databases are created."""
    container: Any = None
    if postgres_server is not None:
        url = postgres_server.url("postgres")
    elif _mode() == "containers":
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:17-alpine", driver="asyncpg").start()
        url = container.get_connection_url()
    else:
        url = os.environ["DATABASE_URL"]
    yield async_url(url)
    if container is not None:
        container.stop()


async def _create_database(base_url: str, name: str) -> str:
    import asyncpg

    plain = base_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    head, _, _ = base_url.rpartition("/")
    return f"{head}/{name}"


def new_database(base_url: str, *, migrated: bool = True) -> str:
    """A new, empty database on the test server (migrated to head unless asked not to)."""
    url = asyncio.run(_create_database(base_url, f"t_{uuid.uuid4().hex[:12]}"))
    if migrated:
        upgrade(url)
    return url


@pytest.fixture(scope="session")
def database_url(postgres_base_url: str) -> str:
    """One migrated database shared by the session's tests."""
    return new_database(postgres_base_url)


@pytest.fixture
def fresh_database_url(postgres_base_url: str) -> str:
    """A migrated database of the test's own, for tests that count rows."""
    return new_database(postgres_base_url)


# --- leaks: what a test left unclosed is reported against that test ---------------------------


@pytest.fixture(autouse=True)
def _collect_what_the_test_left() -> Iterator[None]:
    """A collection after each test (its fixtures closed first: autouse ones end last). An
    unclosed connection or socket then warns — an error here — in the test that left it, not
    in whichever later test the collector happened to run in (CI once failed that way)."""
    yield
    gc.collect()


# --- reporting: show that the connected tests really ran, and never let CI skip them ---------

_connected: dict[str, int] = {"passed": 0, "failed": 0, "skipped": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "connected" not in report.keywords:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _connected[report.outcome] = _connected.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"connected tests (real Apache Kafka / PostgreSQL, mode={_mode()}): "
        f"{_connected['passed']} passed, {_connected['failed']} failed, "
        f"{_connected['skipped']} skipped"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") and _connected["skipped"] and exitstatus == 0:
        print(f"\n{_connected['skipped']} connected test(s) were skipped; CI requires them to run")
        session.exitstatus = 1
