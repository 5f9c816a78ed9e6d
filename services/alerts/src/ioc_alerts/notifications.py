"""Notifications the alerts service queues on its own, outside an alert's change: reminders
of alerts still firing."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_alerts import tables as t
from ioc_common.events import AlertState


async def queue_repeats(session: AsyncSession, now: datetime, repeat_interval_s: float) -> int:
    """Remind recipients of alerts still firing (not acknowledged) once per repeat interval."""
    n = t.notifications
    last = (
        sa.select(
            n.c.alert_id,
            n.c.recipient_id,
            sa.func.max(n.c.created_at).label("last_at"),
            sa.func.count().filter(n.c.kind == "repeat").label("repeats"),
        )
        .group_by(n.c.alert_id, n.c.recipient_id)
        .subquery()
    )
    rows = (
        await session.execute(
            sa.select(last, t.alerts.c.version)
            .join(t.alerts, t.alerts.c.id == last.c.alert_id)
            .where(
                t.alerts.c.state == AlertState.FIRING.value,
                last.c.last_at < now - timedelta(seconds=repeat_interval_s),
            )
        )
    ).all()
    queued = 0
    for r in rows:
        result = await session.execute(
            pg_insert(n)
            .values(
                dedupe_key=f"{r.alert_id}:{r.version}:repeat:{r.recipient_id}:{r.repeats + 1}",
                recipient_id=r.recipient_id,
                alert_id=r.alert_id,
                alert_version=r.version,
                kind="repeat",
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        queued += result.rowcount or 0  # type: ignore[attr-defined]
    return queued
