"""The one way a consumer sets a record aside: a ``DeadLetter`` on ``ioc.dlq.v1`` saying where
the record was read, why it can never be processed, and its original bytes.

Only records that no retry can mend go there (undecodable, schema-invalid, poison for the
tables); a failure that may pass (the database or the broker away) retries the batch instead.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ioc_common.events import DeadLetter, encode_event
from ioc_common.kafka.records import ConsumedRecord, OutgoingRecord
from ioc_common.timeutil import utc_now
from ioc_common.topics import DLQ

#: How much of the reason's detail a dead letter carries.
DETAIL_MAX = 2000


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record the service cannot process, and why (``reason``: a short code)."""

    record: ConsumedRecord
    reason: str
    detail: str


def dead_letter(
    record: ConsumedRecord, reason: str, detail: str, *, consumer: str, failed_at: datetime
) -> OutgoingRecord:
    """The ``ioc.dlq.v1`` record for one rejected record, keyed like the original."""
    letter = DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        reason=reason,
        detail=detail[:DETAIL_MAX],
        original_b64=base64.b64encode(record.value).decode(),
        consumer=consumer,
        failed_at=failed_at,
    )
    return OutgoingRecord(DLQ, encode_event(letter), key=record.key)


def dead_letters(rejected: Iterable[Rejected], *, consumer: str) -> list[OutgoingRecord]:
    now = utc_now()
    return [
        dead_letter(r.record, r.reason, r.detail, consumer=consumer, failed_at=now)
        for r in rejected
    ]
