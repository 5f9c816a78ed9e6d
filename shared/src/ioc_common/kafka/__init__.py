"""Kafka helpers: a publisher that only returns once the broker acknowledged, a consumer with
manual offsets, admin helpers, and in-memory fakes of both for unit tests (``memory``)."""

from ioc_common.kafka.records import ConsumedRecord, OutgoingRecord, RecordMeta

__all__ = ["ConsumedRecord", "OutgoingRecord", "RecordMeta"]
