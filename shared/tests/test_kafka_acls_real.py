"""Kafka security on the real Apache Kafka broker, run as deployments run it: SASL/SCRAM logins,
the StandardAuthorizer, and the ACLs of ``ioc_common.kafka.acls`` applied by Kafka's own
``kafka-acls.sh`` tool. The clients are the project's own, built from settings."""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from ioc_common.errors import BrokerUnavailable
from ioc_common.events import Family
from ioc_common.infra.kafka_local import BrokerSasl, LocalKafka
from ioc_common.kafka import client_security
from ioc_common.kafka.acls import ADMIN_USER, PRINCIPALS, acl_commands, principal_of
from ioc_common.kafka.admin import ensure_topics, wait_for_broker
from ioc_common.kafka.consumer import KafkaConsumer
from ioc_common.kafka.publisher import KafkaPublisher
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.settings import ServiceSettings
from ioc_common.topics import ALL_TOPICS, telemetry_topic

pytestmark = pytest.mark.connected

PASSWORDS = {p.user: secrets.token_hex(16) for p in PRINCIPALS}
ADMIN_PASSWORD = secrets.token_hex(16)
#: Every wait in these tests is bounded; a hang fails the test instead of the session.
BOUND_S = 60.0
TELEMETRY = telemetry_topic(Family.BTS)


def settings_for(broker: LocalKafka, user: str, password: str | None = None) -> ServiceSettings:
    return ServiceSettings(
        kafka_bootstrap_servers=broker.bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=user,
        kafka_sasl_password=password or PASSWORDS.get(user, ADMIN_PASSWORD),
    )


@pytest.fixture(scope="module")
def secured_kafka() -> Iterator[LocalKafka]:
    broker = LocalKafka(sasl=BrokerSasl(ADMIN_PASSWORD, users=PASSWORDS)).start()
    admin = client_security(settings_for(broker, ADMIN_USER))
    try:
        asyncio.run(wait_for_broker(broker.bootstrap, BOUND_S, security=admin))
        asyncio.run(ensure_topics(broker.bootstrap, ALL_TOPICS, partitions=1, security=admin))
        for args in acl_commands():
            broker.acl(args)
        yield broker
    finally:
        broker.destroy()


@pytest.fixture
async def ingest_publisher(secured_kafka: LocalKafka) -> AsyncIterator[KafkaPublisher]:
    settings = settings_for(secured_kafka, principal_of("ingest").user)
    publisher = KafkaPublisher(
        settings.kafka_bootstrap_servers,
        idempotence="on",
        client_id="ioc-ingest",
        security=client_security(settings),
    )
    await asyncio.wait_for(publisher.start(), BOUND_S)
    yield publisher
    await publisher.stop()


def record() -> OutgoingRecord:
    return OutgoingRecord(TELEMETRY, uuid.uuid4().bytes, key="071")


async def test_ingest_produces_to_telemetry_with_its_own_login(
    ingest_publisher: KafkaPublisher,
) -> None:
    metas = await asyncio.wait_for(ingest_publisher.publish_many([record()]), BOUND_S)
    assert ingest_publisher.idempotent  # Write on the topic is enough for InitProducerId
    assert metas[0].topic == TELEMETRY


async def test_gateway_may_not_produce_to_telemetry(secured_kafka: LocalKafka) -> None:
    settings = settings_for(secured_kafka, principal_of("gateway").user)
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers, security=client_security(settings))
    await asyncio.wait_for(publisher.start(), BOUND_S)  # it logs in: only the write is refused
    try:
        with pytest.raises(BrokerUnavailable) as refused:
            await asyncio.wait_for(publisher.publish_many([record()]), BOUND_S)
    finally:
        await publisher.stop()
    assert isinstance(refused.value.__cause__, TopicAuthorizationFailedError)


async def test_ingest_may_not_read_telemetry(secured_kafka: LocalKafka) -> None:
    settings = settings_for(secured_kafka, principal_of("ingest").user)
    consumer = KafkaConsumer(
        settings.kafka_bootstrap_servers,
        [TELEMETRY],
        group_id="ioc-metrics",
        security=client_security(settings),
    )
    await asyncio.wait_for(consumer.start(), BOUND_S)
    try:
        with pytest.raises((TopicAuthorizationFailedError, GroupAuthorizationFailedError)):
            async with asyncio.timeout(BOUND_S):
                while True:
                    await consumer.getmany(timeout_ms=500, max_records=10)
    finally:
        await consumer.stop()


async def test_a_wrong_password_is_refused_at_login(
    secured_kafka: LocalKafka, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(secured_kafka, principal_of("ingest").user, password="not-it")
    publisher = KafkaPublisher(
        settings.kafka_bootstrap_servers,
        idempotence="off",
        security=client_security(settings),
    )
    with caplog.at_level(logging.WARNING, logger="aiokafka"), pytest.raises(BrokerUnavailable):
        await asyncio.wait_for(publisher.start(), BOUND_S)
    await publisher.stop()
    # aiokafka reports the broker's answer only in its log; the broker itself is up (above).
    assert "SaslAuthenticationFailed" in caplog.text
