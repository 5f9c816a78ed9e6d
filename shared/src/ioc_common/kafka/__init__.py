"""Kafka helpers: a publisher that only returns once the broker acknowledged, a consumer with
manual offsets, admin helpers, the clients' security settings (``client_security``) and the
services' ACLs (``acls``), and in-memory fakes of both for unit tests (``memory``)."""

from ioc_common.kafka.records import ConsumedRecord, OutgoingRecord, RecordMeta
from ioc_common.kafka.security import client_security

__all__ = ["ConsumedRecord", "OutgoingRecord", "RecordMeta", "client_security"]
