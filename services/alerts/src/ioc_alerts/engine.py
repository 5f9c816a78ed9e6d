"""Evaluation against the database: remember what the metrics service reported, judge each
(indicator, unit) under its targets, and apply the outcome to the alerts.

Driven by ``ioc.metrics.updated.v1`` (``record_updates`` + ``evaluate``) and by the periodic
sweep (``sweep``), since deadlines pass and data goes stale without any event."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_alerts import tables as t
from ioc_alerts.evaluation import (
    Decision,
    Observation,
    Reason,
    Rule,
    applies,
    decide,
    display_value,
)
from ioc_alerts.lifecycle import Desired, apply, fingerprint
from ioc_alerts.messages import lagging_summary, missing_summary
from ioc_alerts.targets import TargetSpec, scope_level_of
from ioc_common.catalogue import load_catalogue
from ioc_common.catalogue.targets import load_targets
from ioc_common.db import transaction
from ioc_common.events import AlertSeverity, AlertState, MetricUpdated
from ioc_common.logs import get_logger
from ioc_common.timeutil import VIETNAM_TZ, Granularity

log = get_logger("ioc.alerts.engine")

Clock = Callable[[], datetime]
Key = tuple[str, str, str]  # indicator, unit code, level


@dataclass(frozen=True, slots=True)
class StoredTarget:
    spec: TargetSpec
    created_at: datetime


async def seed_targets(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Insert the shipped targets that are not there yet (an edited or deleted one stays as
    the admin left it: deletion only disables)."""
    rows = [
        {
            "id": spec.id,
            "indicator": spec.indicator,
            "definition": spec.model_dump(mode="json"),
            "origin": "seed",
            "enabled": True,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        for spec in (TargetSpec.from_seed(target) for target in load_targets())
    ]
    async with transaction(sessions) as session:
        result = await session.execute(
            pg_insert(t.targets).values(rows).on_conflict_do_nothing(index_elements=["id"])
        )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def load_enabled_targets(
    session: AsyncSession, indicators: Iterable[str] | None = None
) -> list[StoredTarget]:
    query = sa.select(t.targets.c.definition, t.targets.c.created_at).where(t.targets.c.enabled)
    if indicators is not None:
        query = query.where(t.targets.c.indicator.in_(list(indicators)))
    rows = (await session.execute(query)).all()
    return [StoredTarget(TargetSpec.model_validate(r.definition), r.created_at) for r in rows]


async def record_updates(session: AsyncSession, updates: Sequence[MetricUpdated]) -> set[Key]:
    """Keep the latest value per (indicator, unit, granularity) and the last report time per
    (indicator, unit); returns the keys to evaluate."""
    catalogue = load_catalogue()
    keys: set[Key] = set()
    for update in updates:
        indicator = catalogue.get(update.indicator)
        if indicator is None:
            log.warning("alerts.unknown_indicator", indicator=update.indicator)
            continue
        value = display_value(indicator, update.value, update.numerator, update.denominator)
        obs = t.observations
        stmt = pg_insert(obs).values(
            indicator=update.indicator,
            unit_code=update.unit_code,
            granularity=update.granularity.value,
            level=update.level.value,
            period=update.period,
            period_start=update.period_start,
            value=value,
            version=update.version,
            updated_at=update.updated_at,
        )
        excluded = stmt.excluded
        # A later period replaces; within the same period, only a newer version does.
        newer = sa.or_(
            excluded.period_start > obs.c.period_start,
            sa.and_(excluded.period_start == obs.c.period_start, excluded.version > obs.c.version),
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["indicator", "unit_code", "granularity"],
                set_={
                    "level": excluded.level,
                    "period": excluded.period,
                    "period_start": excluded.period_start,
                    "value": excluded.value,
                    "version": excluded.version,
                    "updated_at": excluded.updated_at,
                },
                where=newer,
            )
        )
        rep = pg_insert(t.reports).values(
            indicator=update.indicator,
            unit_code=update.unit_code,
            level=update.level.value,
            last_report_at=update.updated_at,
        )
        await session.execute(
            rep.on_conflict_do_update(
                index_elements=["indicator", "unit_code"],
                set_={
                    "last_report_at": sa.func.greatest(
                        t.reports.c.last_report_at, rep.excluded.last_report_at
                    )
                },
            )
        )
        keys.add((update.indicator, update.unit_code, update.level.value))
    return keys


class Evaluator:
    def __init__(self, *, hysteresis_ratio: float, clock: Clock) -> None:
        self.hysteresis_ratio = hysteresis_ratio
        self.clock = clock

    async def evaluate(self, session: AsyncSession, keys: Iterable[Key]) -> list[str]:
        """Judge each key under the targets that apply to it; returns the changes made."""
        keys = sorted(set(keys))
        if not keys:
            return []
        stored = await load_enabled_targets(session, {k[0] for k in keys})
        changes: list[str] = []
        for key in keys:
            change = await self._evaluate_one(session, key, stored)
            changes.extend(change)
        return changes

    async def _evaluate_one(
        self, session: AsyncSession, key: Key, stored: Sequence[StoredTarget]
    ) -> list[str]:
        indicator_code, unit_code, level = key
        now = self.clock()
        today = now.astimezone(VIETNAM_TZ).date()
        obs_rows = (
            (
                await session.execute(
                    sa.select(t.observations).where(
                        t.observations.c.indicator == indicator_code,
                        t.observations.c.unit_code == unit_code,
                    )
                )
            )
            .mappings()
            .all()
        )
        observations = {
            Granularity(r["granularity"]): Observation(
                r["value"], r["period"], r["period_start"], Granularity(r["granularity"])
            )
            for r in obs_rows
        }
        on = max((o.period_start for o in observations.values()), default=today)
        applicable = [
            s
            for s in stored
            if s.spec.indicator == indicator_code and applies(s.spec, unit_code, level, on)
        ]
        if not applicable:
            # No target (any more): close what this service opened for the unit.
            return await self._close_all(session, indicator_code, unit_code, level, now)
        last_report_at = (
            await session.execute(
                sa.select(t.reports.c.last_report_at).where(
                    t.reports.c.indicator == indicator_code, t.reports.c.unit_code == unit_code
                )
            )
        ).scalar()
        previous = await self._open_severity(session, Rule.LAGGING, indicator_code, unit_code)
        indicator = load_catalogue().require(indicator_code)
        decision = decide(
            [s.spec for s in applicable],
            observations,
            indicator=indicator,
            last_report_at=last_report_at,
            expected_since=min(s.created_at for s in applicable),
            today=today,
            now=now,
            previous_lagging=previous,
            hysteresis_ratio=self.hysteresis_ratio,
        )
        return await self._apply(session, decision, applicable, indicator_code, unit_code, level)

    async def _apply(
        self,
        session: AsyncSession,
        decision: Decision,
        applicable: Sequence[StoredTarget],
        indicator_code: str,
        unit_code: str,
        level: str,
    ) -> list[str]:
        now = self.clock()
        today = now.astimezone(VIETNAM_TZ).date()
        indicator = load_catalogue().require(indicator_code)
        pillar = indicator.pillar.value
        changes: list[str] = []
        missing = decision.missing
        assert missing is not None
        summary_vi, summary_en = missing_summary(indicator, unit_code, missing, today)
        missing_desired = Desired(
            rule=Rule.MISSING_DATA.value,
            indicator=indicator_code,
            unit_code=unit_code,
            level=level,
            pillar=pillar,
            severity=AlertSeverity.WARNING if missing.missing else None,
            summary_vi=summary_vi,
            summary_en=summary_en,
            detail={
                "last_report_at": missing.last_report_at.isoformat()
                if missing.last_report_at
                else None,
                "silent_for_days": round(missing.silent_for_days, 2),
                "interval_days": missing.interval_days,
                "as_of": today.isoformat(),
                "targets": list(decision.targets),
            },
        )
        lag = decision.lagging
        if lag.reason is Reason.NO_VALUE:
            lagging_desired = None  # nothing to judge: leave whatever is open as it is
        else:
            target = next((s.spec for s in applicable if s.spec.id == lag.target_id), None)
            if lag.severity is not None:
                summary_vi, summary_en = lagging_summary(
                    indicator, unit_code, lag, target.deadline if target else None
                )
            lagging_desired = Desired(
                rule=Rule.LAGGING.value,
                indicator=indicator_code,
                unit_code=unit_code,
                level=level,
                pillar=pillar,
                severity=lag.severity,
                target_id=lag.target_id,
                summary_vi=summary_vi if lag.severity is not None else "",
                summary_en=summary_en if lag.severity is not None else "",
                detail={
                    "reason": lag.reason.value,
                    "actual": lag.actual,
                    "expected": lag.expected,
                    "gap": lag.gap,
                    "tolerance": lag.tolerance,
                    "period": lag.period,
                    "as_of": lag.as_of.isoformat() if lag.as_of else today.isoformat(),
                },
                resolve_note=(
                    "Tạm dừng đánh giá do thiếu số liệu / suppressed: data is missing"
                    if lag.reason is Reason.SUPPRESSED
                    else None
                ),
            )
        # Missing data first: its alert replaces the lagging one it suppresses.
        for desired in (missing_desired, lagging_desired):
            if desired is None:
                continue
            change = await apply(session, desired, now)
            if change is not None:
                changes.append(f"{desired.fingerprint}:{change}")
                log.info(
                    "alerts.changed",
                    fingerprint=desired.fingerprint,
                    change=change,
                    severity=desired.severity.value if desired.severity else None,
                )
        return changes

    async def _open_severity(
        self, session: AsyncSession, rule: Rule, indicator: str, unit_code: str
    ) -> AlertSeverity | None:
        severity = (
            await session.execute(
                sa.select(t.alerts.c.severity).where(
                    t.alerts.c.fingerprint == fingerprint(rule.value, indicator, unit_code),
                    t.alerts.c.state != AlertState.RESOLVED.value,
                )
            )
        ).scalar()
        return AlertSeverity(severity) if severity is not None else None

    async def _close_all(
        self, session: AsyncSession, indicator: str, unit_code: str, level: str, now: datetime
    ) -> list[str]:
        changes: list[str] = []
        pillar = load_catalogue().require(indicator).pillar.value
        for rule in Rule:
            if await self._open_severity(session, rule, indicator, unit_code) is None:
                continue
            desired = Desired(
                rule=rule.value,
                indicator=indicator,
                unit_code=unit_code,
                level=level,
                pillar=pillar,
                severity=None,
                resolve_note="Không còn chỉ tiêu áp dụng / no target applies any more",
            )
            change = await apply(session, desired, now)
            if change is not None:
                changes.append(f"{desired.fingerprint}:{change}")
        return changes

    async def sweep_keys(self, session: AsyncSession) -> set[Key]:
        """Every (indicator, unit) a target expects: units that reported an indicator with a
        target, units a target lists by code, and units with an open alert."""
        stored = await load_enabled_targets(session)
        indicators = {s.spec.indicator for s in stored}
        keys: set[Key] = set()
        if indicators:
            rows = (
                await session.execute(
                    sa.select(
                        t.reports.c.indicator, t.reports.c.unit_code, t.reports.c.level
                    ).where(t.reports.c.indicator.in_(indicators))
                )
            ).all()
            keys |= {(r.indicator, r.unit_code, r.level) for r in rows}
        for s in stored:
            for code in s.spec.scope.units or ():
                keys.add((s.spec.indicator, code, scope_level_of(code).value))
        open_rows = (
            await session.execute(
                sa.select(t.alerts.c.indicator, t.alerts.c.unit_code, t.alerts.c.level).where(
                    t.alerts.c.state != AlertState.RESOLVED.value
                )
            )
        ).all()
        keys |= {(r.indicator, r.unit_code, r.level) for r in open_rows}
        return keys


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
