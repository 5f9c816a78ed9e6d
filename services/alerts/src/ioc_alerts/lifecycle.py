"""The alert lifecycle in PostgreSQL: one open alert per fingerprint, firing → acknowledged →
resolved, severity changes, a history row for every change, an ``AlertChanged`` event in the
event outbox and notifications queued for the recipients — all in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_alerts import tables as t
from ioc_alerts.evaluation import SEVERITY_RANK
from ioc_alerts.matching import recipient_matches, silenced
from ioc_common.errors import Conflict, NotFound
from ioc_common.events import AlertChanged, AlertSeverity, AlertState

SYSTEM = "system"


def fingerprint(rule: str, indicator: str, unit_code: str) -> str:
    return f"{rule}:{indicator}:{unit_code}"


@dataclass(frozen=True, slots=True)
class Desired:
    """What the evaluation wants for one fingerprint; ``severity=None`` means no alert."""

    rule: str
    indicator: str
    unit_code: str
    level: str
    pillar: str
    severity: AlertSeverity | None
    target_id: str | None = None
    summary_vi: str = ""
    summary_en: str = ""
    detail: Mapping[str, Any] | None = None
    resolve_note: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.indicator, self.unit_code)


async def open_alert(session: AsyncSession, fp: str) -> dict[str, Any] | None:
    row = (
        (
            await session.execute(
                sa.select(t.alerts)
                .where(t.alerts.c.fingerprint == fp, t.alerts.c.state != AlertState.RESOLVED.value)
                .with_for_update()
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


async def apply(session: AsyncSession, desired: Desired, now: datetime) -> str | None:
    """Bring the open alert of ``desired.fingerprint`` in line; returns the change made."""
    current = await open_alert(session, desired.fingerprint)
    detail = dict(desired.detail or {})
    if current is None:
        if desired.severity is None:
            return None
        alert = {
            "id": uuid.uuid4(),
            "fingerprint": desired.fingerprint,
            "rule": desired.rule,
            "target_id": desired.target_id,
            "indicator": desired.indicator,
            "unit_code": desired.unit_code,
            "level": desired.level,
            "pillar": desired.pillar,
            "severity": desired.severity.value,
            "state": AlertState.FIRING.value,
            "summary_vi": desired.summary_vi,
            "summary_en": desired.summary_en,
            "detail": detail,
            "opened_at": now,
            "updated_at": now,
            "version": 1,
        }
        await session.execute(sa.insert(t.alerts).values(**alert))
        await _changed(session, alert, "opened", now, actor=None, note=None, notify="firing")
        return "opened"
    if desired.severity is None:
        await _resolve(session, current, now, actor=None, note=desired.resolve_note)
        return "resolved"
    updates: dict[str, Any] = {
        "summary_vi": desired.summary_vi,
        "summary_en": desired.summary_en,
        "detail": detail,
        "target_id": desired.target_id,
    }
    if desired.severity.value == current["severity"]:
        # Fresher figures, same severity: no new version, nobody is told again.
        await session.execute(
            sa.update(t.alerts).where(t.alerts.c.id == current["id"]).values(**updates)
        )
        return None
    escalated = SEVERITY_RANK[desired.severity] > SEVERITY_RANK[AlertSeverity(current["severity"])]
    updates |= {
        "severity": desired.severity.value,
        "version": current["version"] + 1,
        "updated_at": now,
    }
    if escalated and current["state"] == AlertState.ACKNOWLEDGED.value:
        # Worse than what the operator acknowledged: it needs their attention again.
        updates["state"] = AlertState.FIRING.value
    await session.execute(
        sa.update(t.alerts).where(t.alerts.c.id == current["id"]).values(**updates)
    )
    alert = current | updates
    change = "escalated" if escalated else "deescalated"
    await _changed(session, alert, change, now, actor=None, note=None, notify="changed")
    return change


async def acknowledge(
    session: AsyncSession, alert_id: uuid.UUID, actor: str, note: str, now: datetime
) -> dict[str, Any]:
    current = await _locked(session, alert_id)
    if current["state"] != AlertState.FIRING.value:
        raise Conflict(
            f"Cảnh báo đang ở trạng thái {current['state']}, không thể xác nhận",
            f"The alert is {current['state']}; only a firing alert can be acknowledged",
        )
    updates = {
        "state": AlertState.ACKNOWLEDGED.value,
        "acknowledged_by": actor,
        "acknowledged_at": now,
        "acknowledged_note": note,
        "version": current["version"] + 1,
        "updated_at": now,
    }
    await session.execute(sa.update(t.alerts).where(t.alerts.c.id == alert_id).values(**updates))
    alert = current | updates
    await _changed(session, alert, "acknowledged", now, actor=actor, note=note, notify=None)
    return alert


async def resolve_by_hand(
    session: AsyncSession, alert_id: uuid.UUID, actor: str, note: str | None, now: datetime
) -> dict[str, Any]:
    current = await _locked(session, alert_id)
    if current["state"] == AlertState.RESOLVED.value:
        raise Conflict("Cảnh báo đã được khắc phục", "The alert is already resolved")
    return await _resolve(session, current, now, actor=actor, note=note)


async def _locked(session: AsyncSession, alert_id: uuid.UUID) -> dict[str, Any]:
    row = (
        (
            await session.execute(
                sa.select(t.alerts).where(t.alerts.c.id == alert_id).with_for_update()
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("Không tìm thấy cảnh báo", "No such alert")
    return dict(row)


async def _resolve(
    session: AsyncSession,
    current: dict[str, Any],
    now: datetime,
    *,
    actor: str | None,
    note: str | None,
) -> dict[str, Any]:
    updates = {
        "state": AlertState.RESOLVED.value,
        "resolved_at": now,
        "resolved_by": actor or SYSTEM,
        "version": current["version"] + 1,
        "updated_at": now,
    }
    await session.execute(
        sa.update(t.alerts).where(t.alerts.c.id == current["id"]).values(**updates)
    )
    alert = current | updates
    await _changed(session, alert, "resolved", now, actor=actor, note=note, notify="resolved")
    return alert


async def _changed(
    session: AsyncSession,
    alert: Mapping[str, Any],
    change: str,
    now: datetime,
    *,
    actor: str | None,
    note: str | None,
    notify: str | None,
) -> None:
    await session.execute(
        sa.insert(t.history).values(
            alert_id=alert["id"],
            version=alert["version"],
            at=now,
            change=change,
            state=alert["state"],
            severity=alert["severity"],
            actor=actor or SYSTEM,
            note=note,
            detail=dict(alert.get("detail") or {}),
        )
    )
    event = AlertChanged(
        alert_id=alert["id"],
        fingerprint=alert["fingerprint"],
        rule=alert["rule"],
        indicator=alert["indicator"],
        unit_code=alert["unit_code"],
        pillar=alert["pillar"],
        state=AlertState(alert["state"]),
        severity=AlertSeverity(alert["severity"]),
        summary_vi=alert["summary_vi"],
        summary_en=alert["summary_en"],
        changed_at=now,
        actor=actor,
        version=alert["version"],
    )
    await session.execute(
        sa.insert(t.event_outbox).values(
            key=alert["unit_code"], value=event.model_dump_json().encode(), created_at=now
        )
    )
    if notify is not None:
        await queue_notifications(session, alert, notify, now)


async def queue_notifications(
    session: AsyncSession, alert: Mapping[str, Any], kind: str, now: datetime
) -> int:
    """Queue one notification per recipient who should hear of this change (not silenced).

    A "resolved" or "changed" message goes to whoever was told of the alert before, so nobody
    hears of the end of an alert they never heard of, and nobody misses it."""
    active_silences = (
        (
            await session.execute(
                sa.select(t.silences).where(
                    t.silences.c.starts_at <= now, t.silences.c.ends_at > now
                )
            )
        )
        .mappings()
        .all()
    )
    if silenced(active_silences, alert, now):
        return 0
    told = set(
        (
            await session.execute(
                sa.select(t.notifications.c.recipient_id)
                .where(t.notifications.c.alert_id == alert["id"])
                .distinct()
            )
        )
        .scalars()
        .all()
    )
    recipients = (
        (await session.execute(sa.select(t.recipients).where(t.recipients.c.enabled)))
        .mappings()
        .all()
    )
    queued = 0
    for recipient in recipients:
        wanted = recipient_matches(recipient, alert, now)
        if kind == "resolved":
            wanted = recipient["id"] in told
        elif kind == "changed":
            wanted = wanted or recipient["id"] in told
        if not wanted:
            continue
        key = f"{alert['id']}:{alert['version']}:{kind}:{recipient['id']}"
        result = await session.execute(
            pg_insert(t.notifications)
            .values(
                dedupe_key=key,
                recipient_id=recipient["id"],
                alert_id=alert["id"],
                alert_version=alert["version"],
                kind=kind,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        queued += result.rowcount or 0  # type: ignore[attr-defined]
    return queued
