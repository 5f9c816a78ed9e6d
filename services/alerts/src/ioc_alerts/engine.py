"""Evaluation against the database: remember what the metrics service reported, judge each
(indicator, unit) under its targets, and apply the outcome to the alerts.

Driven by ``ioc.metrics.updated.v1`` (``record_updates`` + ``evaluate``) and by the periodic
sweep (``sweep``), since deadlines pass and data goes stale without any event."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

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
from ioc_alerts.lifecycle import (
    Batch,
    Desired,
    apply_to,
    fingerprint,
    open_alerts,
    write_refreshes,
)
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


class TargetSet:
    """The enabled targets by indicator, remembering which apply to which unit."""

    def __init__(self, stored: Sequence[StoredTarget]) -> None:
        self.stored = list(stored)
        self.by_indicator: dict[str, list[StoredTarget]] = defaultdict(list)
        for target in self.stored:
            self.by_indicator[target.spec.indicator].append(target)
        self.indicators = frozenset(self.by_indicator)
        self._applicable: dict[tuple[str, str, str, date], tuple[StoredTarget, ...]] = {}

    def applicable(
        self, indicator: str, unit_code: str, level: str, on: date
    ) -> tuple[StoredTarget, ...]:
        key = (indicator, unit_code, level, on)
        found = self._applicable.get(key)
        if found is None:
            found = tuple(
                s
                for s in self.by_indicator.get(indicator, ())
                if applies(s.spec, unit_code, level, on)
            )
            if len(self._applicable) >= 500_000:  # bounded: units × indicators × dates
                self._applicable.clear()
            self._applicable[key] = found
        return found


class TargetCache:
    """The enabled targets, parsed once and reused while none changed.

    Whether one changed costs one small aggregate per use: rows are never deleted and every
    admin change (create, replace, disable) bumps a version and ``updated_at``, so an edit
    made through any replica's API is seen at this replica's next batch."""

    def __init__(self) -> None:
        self._signature: tuple[Any, ...] | None = None
        self._set = TargetSet([])

    async def current(self, session: AsyncSession) -> TargetSet:
        c = t.targets.c
        row = (
            await session.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.coalesce(sa.func.sum(c.version), 0),
                    sa.func.max(c.updated_at),
                )
            )
        ).one()
        signature = tuple(row)
        if signature != self._signature:
            self._set = TargetSet(await load_enabled_targets(session))
            self._signature = signature
        return self._set


async def record_updates(session: AsyncSession, updates: Sequence[MetricUpdated]) -> set[Key]:
    """Keep the latest value per (indicator, unit, granularity) and the last report time per
    (indicator, unit); returns the keys to evaluate.

    The batch is coalesced first (per key only its newest period and version, per unit and
    indicator its last report time), then written set-based: a thousand updates of one key
    cost what one does."""
    catalogue = load_catalogue()
    latest: dict[tuple[str, str, str], MetricUpdated] = {}
    reported: dict[tuple[str, str], MetricUpdated] = {}
    keys: set[Key] = set()
    for update in updates:
        if catalogue.get(update.indicator) is None:
            log.warning("alerts.unknown_indicator", indicator=update.indicator)
            continue
        obs_key = (update.indicator, update.unit_code, update.granularity.value)
        held = latest.get(obs_key)
        # A later period replaces; within the same period, only a newer version does.
        if held is None or (update.period_start, update.version) > (
            held.period_start,
            held.version,
        ):
            latest[obs_key] = update
        rep_key = (update.indicator, update.unit_code)
        last = reported.get(rep_key)
        if last is None or update.updated_at > last.updated_at:
            reported[rep_key] = update
        keys.add((update.indicator, update.unit_code, update.level.value))
    # unnest() of one array per column: one statement and nine parameters however many
    # rows (no per-row SQL to build), written in key order so concurrent writers lock alike.
    rows = [u for _, u in sorted(latest.items(), key=lambda kv: kv[0])]
    if rows:
        await session.execute(
            _UPSERT_OBSERVATIONS,
            {
                "indicator": [u.indicator for u in rows],
                "unit_code": [u.unit_code for u in rows],
                "granularity": [u.granularity.value for u in rows],
                "level": [u.level.value for u in rows],
                "period": [u.period for u in rows],
                "period_start": [u.period_start for u in rows],
                "value": [
                    display_value(
                        catalogue.require(u.indicator), u.value, u.numerator, u.denominator
                    )
                    for u in rows
                ],
                "version": [u.version for u in rows],
                "updated_at": [u.updated_at for u in rows],
            },
        )
    reports = [u for _, u in sorted(reported.items(), key=lambda kv: kv[0])]
    if reports:
        await session.execute(
            _UPSERT_REPORTS,
            {
                "indicator": [u.indicator for u in reports],
                "unit_code": [u.unit_code for u in reports],
                "level": [u.level.value for u in reports],
                "at": [u.updated_at for u in reports],
            },
        )
    return keys


_UPSERT_OBSERVATIONS = sa.text(
    "INSERT INTO alerts_observations AS o (indicator, unit_code, granularity, level, period,"
    " period_start, value, version, updated_at)"
    " SELECT * FROM unnest(CAST(:indicator AS text[]), CAST(:unit_code AS text[]),"
    "  CAST(:granularity AS text[]), CAST(:level AS text[]), CAST(:period AS text[]),"
    "  CAST(:period_start AS date[]), CAST(:value AS float8[]), CAST(:version AS int[]),"
    "  CAST(:updated_at AS timestamptz[]))"
    " ON CONFLICT (indicator, unit_code, granularity) DO UPDATE SET level = excluded.level,"
    "  period = excluded.period, period_start = excluded.period_start, value = excluded.value,"
    "  version = excluded.version, updated_at = excluded.updated_at"
    # A later period replaces; within the same period, only a newer version does.
    " WHERE excluded.period_start > o.period_start"
    "  OR (excluded.period_start = o.period_start AND excluded.version > o.version)"
)
_UPSERT_REPORTS = sa.text(
    "INSERT INTO alerts_reports AS r (indicator, unit_code, level, last_report_at)"
    " SELECT * FROM unnest(CAST(:indicator AS text[]), CAST(:unit_code AS text[]),"
    "  CAST(:level AS text[]), CAST(:at AS timestamptz[]))"
    " ON CONFLICT (indicator, unit_code) DO UPDATE"
    " SET last_report_at = greatest(r.last_report_at, excluded.last_report_at)"
)
_SELECT_OBSERVATIONS = sa.text(
    "SELECT o.indicator, o.unit_code, o.granularity, o.value, o.period, o.period_start"
    " FROM unnest(CAST(:indicator AS text[]), CAST(:unit_code AS text[])) AS k(i, u)"
    " JOIN alerts_observations o ON o.indicator = k.i AND o.unit_code = k.u"
)
_SELECT_REPORTS = sa.text(
    "SELECT r.indicator, r.unit_code, r.last_report_at"
    " FROM unnest(CAST(:indicator AS text[]), CAST(:unit_code AS text[])) AS k(i, u)"
    " JOIN alerts_reports r ON r.indicator = k.i AND r.unit_code = k.u"
)


def _pair_params(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    return {"indicator": [p[0] for p in pairs], "unit_code": [p[1] for p in pairs]}


async def _load_observations(
    session: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], dict[Granularity, Observation]]:
    found: dict[tuple[str, str], dict[Granularity, Observation]] = defaultdict(dict)
    if not pairs:
        return found
    for r in (await session.execute(_SELECT_OBSERVATIONS, _pair_params(pairs))).all():
        granularity = Granularity(r.granularity)
        found[(r.indicator, r.unit_code)][granularity] = Observation(
            r.value, r.period, r.period_start, granularity
        )
    return found


async def _load_reports(
    session: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], datetime]:
    if not pairs:
        return {}
    rows = (await session.execute(_SELECT_REPORTS, _pair_params(pairs))).all()
    return {(r.indicator, r.unit_code): r.last_report_at for r in rows}


class Evaluator:
    def __init__(self, *, hysteresis_ratio: float, clock: Clock) -> None:
        self.hysteresis_ratio = hysteresis_ratio
        self.clock = clock
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
        observations = await _load_observations(session, pairs)
        plan: list[tuple[Key, dict[Granularity, Observation], tuple[StoredTarget, ...]]] = []
        for key in keys:
            observed = observations.get((key[0], key[1]), {})
            on = max((o.period_start for o in observed.values()), default=today)
            plan.append((key, observed, targets.applicable(key[0], key[1], key[2], on)))
        last_reports = await _load_reports(
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
