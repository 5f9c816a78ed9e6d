"""The pipeline every write endpoint shares: validate, check scope, drop duplicates, publish
what is left in one ``publish_many``, then record the published ids.

Nothing is recorded as seen before the broker acknowledged it, and a broker failure fails the
whole request (503) with nothing recorded, so a retry of the same request is always safe.

The record is written behind the answer: once Kafka acknowledged, the request answers 202 and
the ids go to the seen store in the background (a 2,000-event insert took 20–40 ms of each
request's 150–200). Until that insert commits, this process remembers the ids itself, so a
resend it receives meanwhile is still told "duplicate". What that changes: a crash in those
milliseconds forgets the ids (a resend is published again and consumers deduplicate it — as
when the insert fails, which could always happen after the acknowledgement); shutdown waits for
the pending inserts; past ``_PENDING_MAX`` ids in flight a request waits for its own insert.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from ioc_common.errors import BrokerUnavailable, DatabaseUnavailable, FieldError
from ioc_common.kafka.publisher import Publisher
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.logs import get_logger
from ioc_common.timeutil import utc_now
from ioc_ingest.keys import ApiKey
from ioc_ingest.metrics import IngestMetrics
from ioc_ingest.seen import SeenEvent, SeenStore
from ioc_ingest.validation import Checked, EventValidator, Rejection

log = get_logger("ioc.ingest")
#: The standard logger behind ``log``: asked before building per-event id lists for it.
_std_log = logging.getLogger("ioc.ingest")

Status = Literal["accepted", "duplicate", "rejected"]
#: At most this many event ids in one log line.
_LOGGED_IDS = 1_000
#: Published ids whose record may be in flight at once; past it a request awaits its insert
#: (a slow database slows the answers instead of growing this process's memory).
_PENDING_MAX = 50_000
_Key = tuple[str, uuid.UUID]


@dataclass(slots=True)
class Outcome:
    index: int
    status: Status
    event_id: uuid.UUID | None = None
    family: str | None = None
    errors: list[FieldError] = field(default_factory=list)
    code: str | None = None
    reason: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


@dataclass(kw_only=True, eq=False)
class Ingestor:
    validator: EventValidator
    publisher: Publisher
    seen: SeenStore
    metrics: IngestMetrics
    retry_after_s: float = 5.0
    #: Published ids whose record has not committed yet: the content digest, and how many
    #: requests are recording the id (two racing requests can both publish a new one).
    _unrecorded: dict[_Key, tuple[bytes, int]] = field(default_factory=dict, init=False)
    _recording: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    async def flush(self) -> None:
        """Wait for every record written behind an answer (before the seen store closes)."""
        while self._recording:
            await asyncio.gather(*self._recording, return_exceptions=True)

    async def ingest(
        self,
        key: ApiKey,
        items: Sequence[object],
        *,
        endpoint: str,
        idempotency_key: str | None = None,
        item_keys: bool = False,
    ) -> list[Outcome]:
        received_at = utc_now()
        outcomes: list[Outcome | None] = [None] * len(items)
        valid: list[tuple[int, Checked]] = []
        now = self.validator.now()  # one clock reading per request
        for index, raw in enumerate(items):
            built = self.validator.build(
                raw,
                provider=key.provider,
                received_at=received_at,
                idempotency_key=idempotency_key,
                item_keys=item_keys,
                now=now,
            )
            if isinstance(built, Rejection):
                outcomes[index] = _rejected(index, built)
                continue
            event = built.event
            scope_errors = key.out_of_scope(
                event.family.value, event.indicator, event.unit_code, event.observed_at
            )
            if scope_errors:
                outcomes[index] = Outcome(
                    index,
                    "rejected",
                    event.event_id,
                    event.family.value,
                    scope_errors,
                    code="forbidden",
                    reason="scope",
                )
                continue
            valid.append((index, built))

        # The same id twice in one request: the first one stands for both, if they agree.
        first: dict[uuid.UUID, bytes] = {}
        unique: list[tuple[int, Checked, bytes]] = []
        for index, checked in valid:
            eid, digest = checked.event.event_id, checked.content_digest()
            if eid not in first:
                first[eid] = digest
                unique.append((index, checked, digest))
            else:
                outcomes[index] = _repeat(index, checked, same=first[eid] == digest)

        # Identity is (provider, id): only this provider's earlier events can be repeats. Ids
        # whose record is still in flight are taken before asking the store: one that commits
        # during the lookup leaves this list, but the lookup may not see it yet.
        in_flight: dict[uuid.UUID, bytes | None] = {}
        for _, checked, _ in unique:
            recording = self._unrecorded.get((key.provider, checked.event.event_id))
            if recording is not None:
                in_flight[checked.event.event_id] = recording[0]
        already = await self.seen.seen(key.provider, (c.event.event_id for _, c, _ in unique))
        already.update(in_flight)
        to_publish: list[tuple[int, Checked, bytes]] = []
        for index, checked, digest in unique:
            eid = checked.event.event_id
            if eid in already:
                earlier = already[eid]
                outcomes[index] = _repeat(index, checked, same=earlier in (None, digest))
            else:
                to_publish.append((index, checked, digest))

        if to_publish:
            await self._publish(key, to_publish, outcomes, received_at)

        done = [o for o in outcomes if o is not None]
        assert len(done) == len(items)
        self._count(key, endpoint, done)
        return done

    async def _publish(
        self,
        key: ApiKey,
        to_publish: list[tuple[int, Checked, bytes]],
        outcomes: list[Outcome | None],
        received_at: object,
    ) -> None:
        records = [OutgoingRecord(c.topic, c.record_value(), key=c.key) for _, c, _ in to_publish]
        started = time.perf_counter()
        try:
            metas = await self.publisher.publish_many(records)
        except BrokerUnavailable as exc:
            self.metrics.publish_failures.inc()
            exc.retry_after = self.retry_after_s
            log.warning(
                "ingest.publish_failed",
                provider=key.provider,
                key_prefix=key.prefix,
                events=len(records),
                error=exc.message_en,
            )
            raise
        self.metrics.publish_seconds.observe(time.perf_counter() - started)
        seen_rows: list[SeenEvent] = []
        for (index, checked, digest), meta in zip(to_publish, metas, strict=True):
            event = checked.event
            outcomes[index] = Outcome(
                index,
                "accepted",
                event.event_id,
                event.family.value,
                topic=meta.topic,
                partition=meta.partition,
                offset=meta.offset,
            )
            seen_rows.append(
                SeenEvent(
                    event.event_id,
                    key.provider,
                    event.family.value,
                    meta.topic,
                    meta.partition,
                    meta.offset,
                    event.received_at,
                    digest,
                )
            )
        pending = {(r.provider, r.event_id): r.content_sha256 for r in seen_rows}
        for k, digest in pending.items():
            held = self._unrecorded.get(k)
            self._unrecorded[k] = (digest, held[1] + 1 if held else 1)
        task = asyncio.create_task(self._record(key, seen_rows, pending))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)
        if len(self._unrecorded) > _PENDING_MAX:
            await asyncio.shield(task)

    async def _record(
        self, key: ApiKey, seen_rows: list[SeenEvent], pending: dict[_Key, bytes]
    ) -> None:
        try:
            await self.seen.record(seen_rows)
        except Exception as exc:  # in the background: nobody else would hear of it
            # Already acknowledged by Kafka: the answer was 202 and stays right.
            self.metrics.seen_record_failures.inc(len(seen_rows))
            log.error(
                "ingest.seen_record_failed",
                provider=key.provider,
                events=len(seen_rows),
                error=exc.message_en if isinstance(exc, DatabaseUnavailable) else repr(exc),
                hint="a resend of these events will publish them again; consumers deduplicate",
            )
        finally:
            # An id stays in flight until the last request recording it is done.
            for k in pending:
                digest, holders = self._unrecorded[k]
                if holders == 1:
                    del self._unrecorded[k]
                else:
                    self._unrecorded[k] = (digest, holders - 1)

    def _count(self, key: ApiKey, endpoint: str, outcomes: list[Outcome]) -> None:
        self.metrics.batch_events.labels(endpoint).observe(len(outcomes))
        # One increment per label set, not per event: labels() is a lock and a dict lookup.
        events: Counter[tuple[str, str]] = Counter()
        rejections: Counter[str] = Counter()
        for o in outcomes:
            events[(o.family or "unknown", o.status)] += 1
            if o.status == "rejected":
                rejections[o.reason or "schema"] += 1
        for (family, status), count in events.items():
            self.metrics.events.labels(family, status).inc(count)
        for reason, count in rejections.items():
            self.metrics.rejections.labels(reason).inc(count)
        if not _std_log.isEnabledFor(logging.INFO):
            return  # the per-event id lists below cost ≈ 1 µs an event
        by_status: dict[str, list[str]] = {"accepted": [], "duplicate": [], "rejected": []}
        for o in outcomes:
            by_status[o.status].append(str(o.event_id) if o.event_id else f"#{o.index}")
        log.info(
            "ingest.request_done",
            endpoint=endpoint,
            provider=key.provider,
            key_prefix=key.prefix,
            accepted=len(by_status["accepted"]),
            duplicates=len(by_status["duplicate"]),
            rejected=len(by_status["rejected"]),
            accepted_ids=by_status["accepted"][:_LOGGED_IDS],
            duplicate_ids=by_status["duplicate"][:_LOGGED_IDS],
            rejected_ids=by_status["rejected"][:_LOGGED_IDS],
        )


def _rejected(index: int, rejection: Rejection) -> Outcome:
    return Outcome(
        index,
        "rejected",
        rejection.event_id,
        rejection.family,
        rejection.errors,
        code=rejection.code,
        reason=rejection.reason,
    )


def _repeat(index: int, checked: Checked, *, same: bool) -> Outcome:
    """An id this provider used before: a duplicate if it says the same, else a conflict —
    a corrected figure needs a new id and a higher revision, never a silent drop."""
    event = checked.event
    if same:
        return Outcome(index, "duplicate", event.event_id, event.family.value)
    return Outcome(
        index,
        "rejected",
        event.event_id,
        event.family.value,
        [FieldError("event_id", ID_REUSED)],
        code="conflict",
        reason="conflict",
    )


#: The per-field reason of a conflict (bilingual, like every field reason of ingest).
ID_REUSED: Final = (
    "mã sự kiện này đã được dùng cho một số liệu khác; muốn sửa số liệu, hãy gửi với event_id "
    "mới và revision cao hơn / this event_id was already used for a different figure; to "
    "correct a figure, send it with a new event_id and a higher revision"
)
