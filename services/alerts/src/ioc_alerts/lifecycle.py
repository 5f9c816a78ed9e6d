"""The alert lifecycle in PostgreSQL: one open alert per fingerprint, firing → acknowledged →
resolved, severity changes, a history row for every change, an ``AlertChanged`` event in the
event outbox and notifications queued for the recipients — all in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_alerts import tables as t
from ioc_alerts.evaluation import SEVERITY_RANK
from ioc_alerts.matching import recipient_matches, silence_matches, silenced
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
    #: Judged on a back-filled (past) period: the change is recorded, nobody is notified.
    backfill: bool = False

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


async def open_alerts(
    session: AsyncSession, fingerprints: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The open alerts of many fingerprints in one query, locked (in fingerprint order, as
    every writer locks them, so two transactions do not wait on each other in a cycle)."""
    wanted = sorted(set(fingerprints))
    if not wanted:
        return {}
    rows = (
        (
            await session.execute(
                sa.select(t.alerts)
                .where(
                    t.alerts.c.fingerprint == sa.any_(_FINGERPRINTS),
                    t.alerts.c.state != AlertState.RESOLVED.value,
                )
                .order_by(t.alerts.c.fingerprint)
                .with_for_update(),
                {"fingerprints": wanted},
            )
        )
        .mappings()
        .all()
    )
    return {r["fingerprint"]: dict(r) for r in rows}


# One array parameter, not one parameter per fingerprint: the statement stays the same.
_FINGERPRINTS = sa.bindparam("fingerprints", type_=postgresql.ARRAY(sa.String))


@dataclass
class Batch:
    """One transaction's shared reads and deferred writes, however many alerts change in it
    (a sweep or a consumed batch may change many): active silences and enabled recipients are
    read once; history rows, ``AlertChanged`` events and notifications are written together
    by :meth:`flush`, in the order the changes were made."""

    silences: Sequence[Mapping[Any, Any]] | None = None
    recipients: Sequence[Mapping[Any, Any]] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    async def audience(
        self, session: AsyncSession, now: datetime
    ) -> tuple[Sequence[Mapping[Any, Any]], Sequence[Mapping[Any, Any]]]:
        silences, recipients = self.silences, self.recipients
        if silences is None:
            query = sa.select(t.silences).where(
                t.silences.c.starts_at <= now, t.silences.c.ends_at > now
            )
            silences = self.silences = (await session.execute(query)).mappings().all()
        if recipients is None:
            query = sa.select(t.recipients).where(t.recipients.c.enabled)
            recipients = self.recipients = (await session.execute(query)).mappings().all()
        return silences, recipients

    async def flush(self, session: AsyncSession) -> None:
        if self.history:
            await session.execute(sa.insert(t.history), self.history)
        if self.events:
            await session.execute(sa.insert(t.event_outbox), self.events)
        if self.notifications:
            await session.execute(
                pg_insert(t.notifications).on_conflict_do_nothing(index_elements=["dedupe_key"]),
                self.notifications,
            )
        self.history, self.events, self.notifications = [], [], []


async def apply(session: AsyncSession, desired: Desired, now: datetime) -> str | None:
    """Bring the open alert of ``desired.fingerprint`` in line; returns the change made."""
    current = await open_alert(session, desired.fingerprint)
    change, _ = await apply_to(session, desired, current, now)
    return change


async def apply_to(
    session: AsyncSession,
    desired: Desired,
    current: dict[str, Any] | None,
    now: datetime,
    *,
    refreshes: dict[Any, dict[str, Any]] | None = None,
    batch: Batch | None = None,
) -> tuple[str | None, dict[str, Any] | None]:
    """Bring ``current`` (the open alert of ``desired.fingerprint``, locked by the caller) in
    line; returns the change made and the open alert afterwards.

    With ``refreshes`` (by alert id), fresher figures at the same severity are put there for
    :func:`write_refreshes` to write together, instead of one UPDATE each; with ``batch``,
    what the change adds is written by its :meth:`Batch.flush`.

    Back-fill (``desired.backfill``): a change judged on a past period is recorded (history,
    ``AlertChanged``) but notifies nobody, and the alert is marked ``untold`` in its detail;
    the first judgement of a current period that keeps it open then tells the recipients of
    the alert as it stands (one "firing" notification), and a judgement moving to another
    period adds a ``period`` history row, so the history shows every period judged."""
    detail = dict(desired.detail or {})
    silent = desired.backfill
    if current is not None and silent and (current.get("detail") or {}).get(UNTOLD):
        detail[UNTOLD] = True  # still nobody told: keep the mark through back-filled periods
    if current is None:
        if desired.severity is None:
            return None, None
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
            "acknowledged_by": None,
            "acknowledged_at": None,
            "acknowledged_note": None,
            "resolved_at": None,
            "resolved_by": None,
        }
        if silent:
            alert["detail"] = detail | {UNTOLD: True}
        await session.execute(sa.insert(t.alerts).values(**alert))
        await _changed(
            session, alert, "opened", now, actor=None, note=None,
            notify=None if silent else "firing", batch=batch,
        )  # fmt: skip
        return "opened", alert
    if desired.severity is None:
        # "resolved" goes only to those told of the alert: nobody, for an untold one.
        await _resolve(session, current, now, actor=None, note=desired.resolve_note, batch=batch)
        return "resolved", None
    updates: dict[str, Any] = {
        "summary_vi": desired.summary_vi,
        "summary_en": desired.summary_en,
        "detail": detail,
        "target_id": desired.target_id,
    }
    if desired.severity.value == current["severity"]:
        # Fresher figures, same severity: no new version, nobody is told again — except
        # those an alert opened or changed by back-fill was never told of.
        if all(current.get(k) == v for k, v in updates.items()):
            return None, current  # nothing new to write either
        before = current.get("detail") or {}
        moved = before.get("period") != detail.get("period")
        if moved or (before.get(UNTOLD) and not silent):
            writes = Batch() if batch is None else batch
            after = current | updates
            if moved:
                writes.history.append(_history_row(after, "period", now, actor=None, note=None))
            if before.get(UNTOLD) and not silent:
                await queue_notifications(session, after, "firing", now, batch=writes)
            if batch is None:
                await writes.flush(session)
        if refreshes is None:
            await session.execute(
                sa.update(t.alerts).where(t.alerts.c.id == current["id"]).values(**updates)
            )
        else:
            refreshes[current["id"]] = {
                "b_id": current["id"],
                **{f"b_{k}": v for k, v in updates.items()},
            }
        return None, current | updates
    escalated = SEVERITY_RANK[desired.severity] > SEVERITY_RANK[AlertSeverity(current["severity"])]
    notify = "changed"
    updates |= {
        "severity": desired.severity.value,
        "version": current["version"] + 1,
        "updated_at": now,
    }
    if escalated and current["state"] == AlertState.ACKNOWLEDGED.value:
        # Worse than what the operator acknowledged: it needs their attention again.
        updates["state"] = AlertState.FIRING.value
    if refreshes is not None:
        refreshes.pop(current["id"], None)  # this write carries newer figures
    await session.execute(
        sa.update(t.alerts).where(t.alerts.c.id == current["id"]).values(**updates)
    )
    if silent:
        updates["detail"] = detail | {UNTOLD: True}
    elif (current.get("detail") or {}).get(UNTOLD):
        # Nobody was told of this alert: the current state is news to them all.
        notify = "firing"
    alert = current | updates
    change = "escalated" if escalated else "deescalated"
    await _changed(
        session, alert, change, now, actor=None, note=None,
        notify=None if silent else notify, batch=batch,
    )  # fmt: skip
    return change, alert


_REFRESHED = ("summary_vi", "summary_en", "detail", "target_id")
#: In an alert's detail: opened or changed by back-fill, nobody told of it yet.
UNTOLD = "untold"


async def write_refreshes(session: AsyncSession, refreshes: Sequence[dict[str, Any]]) -> None:
    """Write fresher figures of many open alerts in one executemany."""
    if not refreshes:
        return
    await session.execute(
        sa.update(t.alerts)
        .where(t.alerts.c.id == sa.bindparam("b_id"))
        .values({k: sa.bindparam(f"b_{k}") for k in _REFRESHED}),
        list(refreshes),
    )


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
    batch: Batch | None = None,
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
    await _changed(
        session, alert, "resolved", now, actor=actor, note=note,
        notify="resolved", batch=batch,
    )  # fmt: skip
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
    batch: Batch | None = None,
) -> None:
    own = batch is None
    writes = Batch() if batch is None else batch
    writes.history.append(_history_row(alert, change, now, actor=actor, note=note))
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
    writes.events.append(
        {"key": alert["unit_code"], "value": event.model_dump_json().encode(), "created_at": now}
    )
    if notify is not None:
        await queue_notifications(session, alert, notify, now, batch=writes)
    if own:
        await writes.flush(session)


async def record_silence(
    session: AsyncSession, silence: Mapping[str, Any], actor: str, now: datetime
) -> int:
    """A ``silenced`` row in the history of every open alert ``silence`` matches, with who
    silenced it, why and until when — an operator reading an alert's history sees why nobody
    was told of it. Returns how many alerts it names."""
    query = sa.select(t.alerts).where(t.alerts.c.state != AlertState.RESOLVED.value)
    if silence["indicator"] is not None:
        query = query.where(t.alerts.c.indicator == silence["indicator"])
    # A silence that starts later is recorded as what it will do.
    on = max(now, silence["starts_at"])
    found = [dict(a) for a in (await session.execute(query.order_by(t.alerts.c.id))).mappings()]
    rows = [
        _history_row(alert, "silenced", now, actor=actor, note=silence["reason"])
        | {
            "detail": dict(alert.get("detail") or {})
            | {
                "silence_id": str(silence["id"]),
                "silence_starts_at": silence["starts_at"].isoformat(),
                "silence_ends_at": silence["ends_at"].isoformat(),
            }
        }
        for alert in found
        if silence_matches(silence, alert, on)
    ]
    if rows:
        await session.execute(sa.insert(t.history), rows)
    return len(rows)


def _history_row(
    alert: Mapping[str, Any], change: str, now: datetime, *, actor: str | None, note: str | None
) -> dict[str, Any]:
    return {
        "alert_id": alert["id"],
        "version": alert["version"],
        "at": now,
        "change": change,
        "state": alert["state"],
        "severity": alert["severity"],
        "actor": actor or SYSTEM,
        "note": note,
        "detail": dict(alert.get("detail") or {}),
    }


async def queue_notifications(
    session: AsyncSession,
    alert: Mapping[str, Any],
    kind: str,
    now: datetime,
    *,
    batch: Batch | None = None,
) -> int:
    """Queue one notification per recipient who should hear of this change (not silenced);
    returns how many (with ``batch``, they are written by its flush).

    A "resolved" or "changed" message goes to whoever was told of the alert before, so nobody
    hears of the end of an alert they never heard of, and nobody misses it."""
    own = batch is None
    writes = Batch() if batch is None else batch
    active_silences, recipients = await writes.audience(session, now)
    if not recipients or silenced(active_silences, alert, now):
        return 0
    told: set[Any] = set()
    if kind != "firing":  # a new alert: nobody was told of it yet
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
        told |= {n["recipient_id"] for n in writes.notifications if n["alert_id"] == alert["id"]}
    queued = 0
    for recipient in recipients:
        wanted = recipient_matches(recipient, alert, now)
        if kind == "resolved":
            wanted = recipient["id"] in told
        elif kind == "changed":
            wanted = wanted or recipient["id"] in told
        if not wanted:
            continue
        writes.notifications.append(
            {
                "dedupe_key": f"{alert['id']}:{alert['version']}:{kind}:{recipient['id']}",
                "recipient_id": recipient["id"],
                "alert_id": alert["id"],
                "alert_version": alert["version"],
                "kind": kind,
                "created_at": now,
            }
        )
        queued += 1
    if own:
        await writes.flush(session)
    return queued
