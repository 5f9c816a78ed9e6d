"""Topic creation and broker readiness, used at start-up by ``ioc dev``, tests and services."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    AuthenticationFailedError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAlreadyExistsError,
)

from ioc_common.logs import get_logger

log = get_logger("ioc.kafka.admin")


async def wait_for_broker(
    bootstrap_servers: str, timeout_s: float = 60.0, *, security: Mapping[str, Any] | None = None
) -> list[str]:
    """Return the broker's topic list once an admin request succeeds. ``security``:
    ``ioc_common.kafka.client_security(settings)`` (None is PLAINTEXT); a refused login is
    not retried."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers, request_timeout_ms=5000, **dict(security or {})
        )
        try:
            await admin.start()
            topics: list[str] = await admin.list_topics()
            return topics
        except (AuthenticationFailedError, SaslAuthenticationFailed):
            raise
        except (KafkaError, OSError) as exc:
            last = exc
            await asyncio.sleep(0.3)
        finally:
            await admin.close()
    raise TimeoutError(f"Kafka at {bootstrap_servers} did not answer in {timeout_s:.0f}s: {last!r}")


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    partitions: int = 6,
    replication: int = 1,
    *,
    security: Mapping[str, Any] | None = None,
) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=10000, **dict(security or {})
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            # Another process may create them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(t, num_partitions=partitions, replication_factor=replication)
                        for t in missing
                    ]
                )
            log.info("kafka.topics_created", topics=missing, partitions=partitions)
    finally:
        await admin.close()
