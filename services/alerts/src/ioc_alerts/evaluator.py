"""Evaluation against the database: judge each (indicator, unit) under its targets and apply
the outcome to the alerts.

Driven by ``ioc.metrics.updated.v2`` (``observations.record_updates`` + ``evaluate``) and by
the periodic sweep (``sweep_keys``), since data goes stale without any event. The judgement
itself is ``evaluation.decide``; the alerts' life, ``lifecycle``.

Each (indicator, unit) is judged on its most recent period (``alerts_observations`` keeps it:
an older period arriving late never replaces it, so it cannot flip the live alert), in that
period's own time. A most recent period that is already history (back-fill, see
``evaluation.is_backfill``) changes the alert and its history without notifying anyone."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_alerts import tables as t
from ioc_alerts.evaluation import Decision, Observation, Reason, Rule, decide
from ioc_alerts.lifecycle import Batch, Desired, apply_to, fingerprint, open_alerts, write_refreshes
from ioc_alerts.messages import lagging_summary, missing_summary
from ioc_alerts.observations import Key, load_observations, load_reports
from ioc_alerts.targets_store import StoredTarget, TargetCache
from ioc_common.catalogue import load_catalogue
from ioc_common.events import AlertSeverity, AlertState
from ioc_common.logs import get_logger
from ioc_common.reference.units import level_of
from ioc_common.timeutil import VIETNAM_TZ, Granularity

log = get_logger("ioc.alerts.evaluator")

Clock = Callable[[], datetime]


class Evaluator:
    def __init__(
        self, *, hysteresis_ratio: float, clock: Clock, demo_day_s: float | None = None
    ) -> None:
        self.hysteresis_ratio = hysteresis_ratio
        self.clock = clock
        #: ``ioc dev``'s demo reporting interval (``AlertsSettings.demo_day_s``).
        self.demo_day_s = demo_day_s
        self.targets = TargetCache()

    async def evaluate(self, session: AsyncSession, keys: Iterable[Key]) -> list[str]:
        """Judge each key under the targets that apply to it; returns the changes made.

        However many keys, the state they are judged on (targets, observations, last
        reports, open alerts) is read in a handful of queries and unchanged alerts are not
        written; only alerts that change cost statements of their own."""
        keys = sorted(set(keys))
        if not keys:
            return []
        targets = await self.targets.current(session)
        now = self.clock()
        today = now.astimezone(VIETNAM_TZ).date()
        # Lock the open alerts before reading what they are judged on: a concurrent
        # evaluation of the same keys (the sweep and the consumer) then waits here and reads
        # the figures the other one committed, never a snapshot older than the alerts.
        open_ = await open_alerts(
            session, [fingerprint(rule.value, k[0], k[1]) for k in keys for rule in Rule]
        )
        pairs = sorted({(k[0], k[1]) for k in keys})
        observations = await load_observations(session, pairs)
        plan: list[tuple[Key, dict[Granularity, Observation], tuple[StoredTarget, ...]]] = []
        for key in keys:
            observed = observations.get((key[0], key[1]), {})
            on = max((o.period_start for o in observed.values()), default=today)
            plan.append((key, observed, targets.applicable(key[0], key[1], key[2], on)))
        last_reports = await load_reports(
            session, sorted({(k[0], k[1]) for k, _, applicable in plan if applicable})
        )
        run = _Evaluation(now, today, open_)
        for key, observed, applicable in plan:
            if not applicable:
                # No target (any more): close what this service opened for the unit.
                await self._close_all(session, run, key)
                continue
            indicator_code, unit_code, _ = key
            lagging_open = open_.get(fingerprint(Rule.LAGGING.value, indicator_code, unit_code))
            previous = AlertSeverity(lagging_open["severity"]) if lagging_open else None
            decision = decide(
                [s.spec for s in applicable],
                observed,
                indicator=load_catalogue().require(indicator_code),
                last_report_at=last_reports.get((indicator_code, unit_code)),
                expected_since=min(s.created_at for s in applicable),
                today=today,
                now=now,
                previous_lagging=previous,
                hysteresis_ratio=self.hysteresis_ratio,
                demo_day_s=self.demo_day_s,
            )
            await self._apply(session, run, decision, applicable, key)
        await write_refreshes(session, list(run.refreshes.values()))
        await run.writes.flush(session)
        return run.changes

    async def _apply(
        self,
        session: AsyncSession,
        run: _Evaluation,
        decision: Decision,
        applicable: Sequence[StoredTarget],
        key: Key,
    ) -> None:
        indicator_code, unit_code, level = key
        today = run.today
        indicator = load_catalogue().require(indicator_code)
        pillar = indicator.pillar.value
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
                backfill=decision.backfill,
            )
        # Missing data first: its alert replaces the lagging one it suppresses.
        for desired in (missing_desired, lagging_desired):
            if desired is not None:
                await run.apply(session, desired)

    async def _close_all(self, session: AsyncSession, run: _Evaluation, key: Key) -> None:
        indicator, unit_code, level = key
        opened = [
            rule for rule in Rule if fingerprint(rule.value, indicator, unit_code) in run.open
        ]
        if not opened:
            return
        pillar = load_catalogue().require(indicator).pillar.value
        for rule in opened:
            desired = Desired(
                rule=rule.value,
                indicator=indicator,
                unit_code=unit_code,
                level=level,
                pillar=pillar,
                severity=None,
                resolve_note="Không còn chỉ tiêu áp dụng / no target applies any more",
            )
            await run.apply(session, desired)

    async def sweep_keys(self, session: AsyncSession) -> set[Key]:
        """Every (indicator, unit) a target expects: units that reported an indicator with a
        target, units a target lists by code, and units with an open alert."""
        targets = await self.targets.current(session)
        keys: set[Key] = set()
        if targets.indicators:
            rows = (
                await session.execute(
                    sa.select(
                        t.reports.c.indicator, t.reports.c.unit_code, t.reports.c.level
                    ).where(t.reports.c.indicator.in_(sorted(targets.indicators)))
                )
            ).all()
            keys |= {(r.indicator, r.unit_code, r.level) for r in rows}
        for s in targets.stored:
            for code in s.spec.scope.units or ():
                keys.add((s.spec.indicator, code, level_of(code).value))
        open_rows = (
            await session.execute(
                sa.select(t.alerts.c.indicator, t.alerts.c.unit_code, t.alerts.c.level).where(
                    t.alerts.c.state != AlertState.RESOLVED.value
                )
            )
        ).all()
        keys |= {(r.indicator, r.unit_code, r.level) for r in open_rows}
        return keys


@dataclass
class _Evaluation:
    """One evaluation's state: the open alerts it locked (kept current as it changes them),
    fresher figures to write together, who may be told, and the changes made."""

    now: datetime
    today: date
    open: dict[str, dict[str, Any]]
    refreshes: dict[Any, dict[str, Any]] = field(default_factory=dict)
    writes: Batch = field(default_factory=Batch)
    changes: list[str] = field(default_factory=list)

    async def apply(self, session: AsyncSession, desired: Desired) -> None:
        fp = desired.fingerprint
        current = self.open.get(fp)
        change, after = await apply_to(
            session, desired, current, self.now, refreshes=self.refreshes, batch=self.writes
        )
        if after is None:
            self.open.pop(fp, None)
        else:
            self.open[fp] = after
        if change is not None:
            self.changes.append(f"{fp}:{change}")
            log.info(
                "alerts.changed",
                fingerprint=fp,
                change=change,
                severity=desired.severity.value if desired.severity else None,
            )
