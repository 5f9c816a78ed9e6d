"""From queued notifications to delivered messages.

1. **Grouping** — a recipient's queued notifications wait ``group_wait`` from the oldest one,
   then go out as one digest per channel (as Alertmanager's group_wait does).
2. **Outbox** — each digest is a row of ``alerts_outbox`` with an idempotency key derived from
   the (alert, state change, recipient, channel) entries it carries; written in the same
   transaction that marks the notifications grouped.
3. **Dispatch** — due rows are claimed with ``FOR UPDATE SKIP LOCKED`` (several replicas may
   run), sent, and either marked sent, rescheduled with exponential back-off and full jitter,
   or marked dead after ``max_attempts`` (or at once for a permanent failure). Every attempt is
   recorded in ``alerts_delivery_attempts``.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_alerts import tables as t
from ioc_alerts.channels import Channel, Outcome, SendResult, excerpt
from ioc_alerts.config import AlertsSettings
from ioc_alerts.evaluator import Clock
from ioc_alerts.messages import DigestItem, digest
from ioc_alerts.observability import AlertsMetrics
from ioc_common.db import transaction
from ioc_common.events import AlertSeverity
from ioc_common.kafka.backoff import ceiling
from ioc_common.logs import get_logger

log = get_logger("ioc.alerts.dispatcher")


def backoff_delay(attempts: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """The platform's back-off (``ioc_common.kafka.backoff``) after a delivery's ``attempts``
    failed attempts: uniform between 0 and min(cap, base × 2^(attempts−1))."""
    return rng.uniform(0, ceiling(attempts - 1, base_s, cap_s))


def address_of(channel: Mapping[Any, Any]) -> str:
    """What the API shows as the delivery's destination (never the webhook secret)."""
    kind = channel["channel"]
    if kind == "email":
        return str(channel["address"])
    if kind == "webhook":
        return str(channel["url"])
    return str(channel.get("user_id") or channel.get("phone"))


@dataclass(eq=False)
class Dispatcher:
    settings: AlertsSettings
    sessions: async_sessionmaker[AsyncSession]
    channels: Mapping[str, Channel]
    metrics: AlertsMetrics
    clock: Clock
    rng: random.Random = field(default_factory=random.Random)

    # --- grouping

    async def group(self) -> int:
        """Turn every recipient's ripe notifications into digests in the outbox."""
        now = self.clock()
        ripe_before = now - timedelta(seconds=self.settings.group_wait_s)
        n = t.notifications
        async with self.sessions() as session:
            recipients = (
                (
                    await session.execute(
                        sa.select(n.c.recipient_id)
                        .where(n.c.grouped_at.is_(None))
                        .group_by(n.c.recipient_id)
                        .having(sa.func.min(n.c.created_at) <= ripe_before)
                    )
                )
                .scalars()
                .all()
            )
        made = 0
        for recipient_id in recipients:
            async with transaction(self.sessions) as session:
                made += await self._group_one(session, recipient_id, now)
        return made

    async def _group_one(
        self, session: AsyncSession, recipient_id: uuid.UUID, now: datetime
    ) -> int:
        n = t.notifications
        pending = (
            (
                await session.execute(
                    sa.select(n)
                    .where(n.c.recipient_id == recipient_id, n.c.grouped_at.is_(None))
                    .order_by(n.c.created_at, n.c.id)
                    .with_for_update(skip_locked=True)
                )
            )
            .mappings()
            .all()
        )
        if not pending:
            return 0
        recipient = (
            (
                await session.execute(
                    sa.select(t.recipients).where(t.recipients.c.id == recipient_id)
                )
            )
            .mappings()
            .first()
        )
        keys = sorted(p["dedupe_key"] for p in pending)
        digest_key = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:40]
        await session.execute(
            sa.update(n)
            .where(n.c.id.in_([p["id"] for p in pending]))
            .values(grouped_at=now, digest_key=digest_key)
        )
        if recipient is None or not recipient["enabled"]:
            return 0
        items = await self._items(session, pending)
        if not items:
            return 0
        payload = digest(recipient["name"], items, self.settings.dashboard_url)
        payload |= {"created_at": now.isoformat(), "recipient": recipient["name"]}
        alert_ids = sorted({uuid.UUID(i.alert_id) for i in items})
        made = 0
        for index, channel in enumerate(recipient["channels"]):
            key = f"ntf_{digest_key}_{index}_{channel['channel']}"
            result = await session.execute(
                pg_insert(t.outbox)
                .values(
                    id=uuid.uuid4(),
                    idempotency_key=key,
                    recipient_id=recipient_id,
                    channel=channel["channel"],
                    address=address_of(channel),
                    payload=payload,
                    alert_ids=alert_ids,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            made += result.rowcount or 0  # type: ignore[attr-defined]
        log.info("alerts.digest_queued", recipient=str(recipient_id), items=len(items), rows=made)
        return made

    async def _items(self, session: AsyncSession, pending: Any) -> list[DigestItem]:
        ids = {p["alert_id"] for p in pending}
        alerts = {
            r["id"]: r
            for r in (
                await session.execute(sa.select(t.alerts).where(t.alerts.c.id.in_(ids)))
            ).mappings()
        }
        # The state and severity each change announced, from the history at that version.
        hist = {
            (r["alert_id"], r["version"]): r
            for r in (
                await session.execute(sa.select(t.history).where(t.history.c.alert_id.in_(ids)))
            ).mappings()
        }
        items: list[DigestItem] = []
        for p in pending:
            alert = alerts.get(p["alert_id"])
            if alert is None:
                continue
            at_version = hist.get((p["alert_id"], p["alert_version"]))
            severity = at_version["severity"] if at_version else alert["severity"]
            state = at_version["state"] if at_version else alert["state"]
            items.append(
                DigestItem(
                    alert_id=str(alert["id"]),
                    alert_version=p["alert_version"],
                    kind=p["kind"],
                    rule=alert["rule"],
                    state=state,
                    severity=AlertSeverity(severity),
                    indicator=alert["indicator"],
                    unit_code=alert["unit_code"],
                    pillar=alert["pillar"],
                    summary_vi=alert["summary_vi"],
                    summary_en=alert["summary_en"],
                )
            )
        return items

    # --- dispatching

    async def dispatch(self, batch: int = 20) -> int:
        """Send the due deliveries once; returns how many were attempted."""
        now = self.clock()
        o = t.outbox
        async with transaction(self.sessions) as session:
            rows = (
                (
                    await session.execute(
                        sa.select(o)
                        .where(o.c.status == "pending", o.c.next_attempt_at <= now)
                        .order_by(o.c.next_attempt_at)
                        .limit(batch)
                        .with_for_update(skip_locked=True)
                    )
                )
                .mappings()
                .all()
            )
            if not rows:
                return 0
            recipients = {
                r["id"]: r
                for r in (
                    await session.execute(
                        sa.select(t.recipients).where(
                            t.recipients.c.id.in_({r["recipient_id"] for r in rows})
                        )
                    )
                ).mappings()
            }
            results = await asyncio.gather(
                *(self._send(row, recipients.get(row["recipient_id"])) for row in rows)
            )
            for row, (result, elapsed_ms) in zip(rows, results, strict=True):
                await self._record(session, row, result, elapsed_ms)
        return len(rows)

    async def _send(
        self, row: Mapping[Any, Any], recipient: Mapping[Any, Any] | None
    ) -> tuple[SendResult, int]:
        started = time.perf_counter()
        channel = self.channels.get(row["channel"])
        address = _channel_config(recipient, row)
        if channel is None:
            result = SendResult(Outcome.DEAD, f"channel {row['channel']} is not configured")
        elif address is None:
            result = SendResult(Outcome.DEAD, "the recipient or its channel was removed")
        else:
            try:
                result = await channel.send(row["idempotency_key"], address, row["payload"])
            except Exception as err:  # a bug in a channel must not stop the dispatcher
                log.error("alerts.channel_error", channel=row["channel"], exc_info=True)
                result = SendResult(Outcome.RETRY, f"{type(err).__name__}: {err}")
        return result, int((time.perf_counter() - started) * 1000)

    async def _record(
        self, session: AsyncSession, row: Mapping[Any, Any], result: SendResult, elapsed_ms: int
    ) -> None:
        now = self.clock()
        attempts = row["attempts"] + 1
        outcome = result.outcome
        error = excerpt(result.error)  # never a receiver's whole answer
        if outcome is Outcome.RETRY and attempts >= self.settings.max_attempts:
            outcome = Outcome.DEAD
        values: dict[str, Any] = {"attempts": attempts, "updated_at": now}
        if outcome is Outcome.SENT:
            values |= {"status": "sent", "sent_at": now, "last_error": None}
        elif outcome is Outcome.DEAD:
            values |= {"status": "dead", "last_error": error}
        else:
            delay = backoff_delay(
                attempts, self.settings.backoff_base_s, self.settings.backoff_cap_s, self.rng
            )
            delay = max(delay, result.retry_after_s or 0.0)
            values |= {
                "last_error": error,
                "next_attempt_at": now + timedelta(seconds=delay),
            }
        await session.execute(
            sa.update(t.outbox).where(t.outbox.c.id == row["id"]).values(**values)
        )
        previous = (
            await session.execute(
                sa.select(sa.func.count()).where(t.delivery_attempts.c.outbox_id == row["id"])
            )
        ).scalar_one()
        await session.execute(
            sa.insert(t.delivery_attempts).values(
                outbox_id=row["id"],
                attempt=previous + 1,
                at=now,
                outcome=outcome.value,
                error=error,
                duration_ms=elapsed_ms,
            )
        )
        self.metrics.deliveries.labels(row["channel"], outcome.value).inc()
        log.info(
            "alerts.delivery_attempt",
            delivery=str(row["id"]),
            channel=row["channel"],
            outcome=outcome.value,
            attempt=attempts,
            error=error,
        )


def _channel_config(
    recipient: Mapping[Any, Any] | None, row: Mapping[Any, Any]
) -> dict[str, Any] | None:
    """The recipient's current settings for the row's channel and address (a webhook secret
    may have been rotated since the row was queued; a removed channel is not sent to)."""
    if recipient is None:
        return None
    for channel in recipient["channels"]:
        if channel["channel"] == row["channel"] and address_of(channel) == row["address"]:
            return dict(channel)
    return None
