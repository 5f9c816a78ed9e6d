"""As-of assessments: which units were on track, lagging or missing an indicator at a date,
judged from the stored figures (``alerts_period_values``) and the enabled targets — a read,
never a change: nothing is raised, changed or notified.

For each unit the figure judged is that of the most recent period starting on or before
``as_of`` — the period containing ``as_of`` when one was reported, otherwise the latest one
before it — at the granularity the live evaluation prefers (``pick_observation``). It is the
period's figure as known now (a later correction counts), judged in the period's own time
(:func:`ioc_common.catalogue.targets.judge` on the period's last day), without hysteresis.
A unit is *missing* when that period ended more than the indicator's reporting interval before
``as_of`` (or it never reported); as in the live rule, missing data is not judged lagging.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_alerts.evaluation import SEVERITY_RANK, Observation, pick_observation
from ioc_alerts.targets_store import StoredTarget, TargetCache
from ioc_common.catalogue import Indicator
from ioc_common.catalogue.targets import Verdict, applies, judge, judging_day
from ioc_common.events import AlertSeverity
from ioc_common.reference.units import Level, UnknownUnitError, level_of, unit_tree
from ioc_common.timeutil import Granularity


class Standing(StrEnum):
    ON_TRACK = "on_track"
    LAGGING = "lagging"
    DEADLINE_MISSED = "deadline_missed"
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class Assessment:
    unit_code: str
    level: str
    status: Standing
    severity: AlertSeverity | None
    target_id: str | None
    period: str | None
    period_start: date | None
    judged_on: date | None
    value: float | None
    expected: float | None
    gap: float | None


_LATEST = sa.text(
    "SELECT DISTINCT ON (unit_code, granularity) unit_code, granularity, period, period_start,"
    " value FROM alerts_period_values"
    " WHERE indicator = :indicator AND level = :level AND period_start <= :as_of"
    "  AND (CAST(:unit AS text) IS NULL OR unit_code = CAST(:unit AS text))"
    " ORDER BY unit_code, granularity, period_start DESC"
)


def _candidates(targets: Sequence[StoredTarget], level: str, as_of: date) -> set[str]:
    """Units a target expects at ``level`` even if they never reported: listed units, the
    provinces, or the districts of a province a target is ``within``."""
    tree = unit_tree()
    found: set[str] = set()
    for stored in targets:
        scope = stored.spec.scope
        if scope.units is not None:
            found |= {u for u in scope.units if level_of(u).value == level}
            continue
        if scope.level is None or scope.level.value != level:
            continue
        try:
            if level == Level.PROVINCE.value and scope.within is None:
                found |= {u.code for u in tree.provinces(as_of)}
            for code in scope.within or ():
                if level_of(code).value == level:
                    found.add(code)
                elif level == Level.DISTRICT.value and level_of(code) is Level.PROVINCE:
                    found |= {u.code for u in tree.districts_of_province(code, as_of)}
        except (UnknownUnitError, ValueError):
            continue  # a date or code the reference data does not cover
    return found


async def assess(
    session: AsyncSession,
    cache: TargetCache,
    indicator: Indicator,
    *,
    as_of: date,
    unit: str | None = None,
    level: str | None = None,
) -> list[Assessment]:
    """The standing of one unit (``unit``) or of every unit of a ``level`` that an enabled
    target covers on ``as_of``, by unit code."""
    level = level_of(unit).value if unit is not None else level
    assert level is not None
    targets = (await cache.current(session)).by_indicator.get(indicator.code, [])
    rows = (
        await session.execute(
            _LATEST,
            {"indicator": indicator.code, "level": level, "as_of": as_of, "unit": unit},
        )
    ).all()
    observed: dict[str, dict[Granularity, Observation]] = defaultdict(dict)
    for r in rows:
        granularity = Granularity(r.granularity)
        observed[r.unit_code][granularity] = Observation(
            r.value, r.period, r.period_start, granularity
        )
    codes = {unit} if unit is not None else set(observed) | _candidates(targets, level, as_of)
    stale_before = as_of - timedelta(days=indicator.reporting_interval_days)
    found: list[Assessment] = []
    for code in sorted(codes):
        applicable = [s.spec for s in targets if applies(s.spec, code, level, as_of)]
        if not applicable:
            continue
        observation = pick_observation(observed.get(code, {}), indicator)
        if observation is None or observation.period_end < stale_before:
            found.append(_missing(code, level, observation))
            continue
        on = judging_day(observation.period_start, observation.granularity)
        judged = [
            (
                spec.id,
                judge(
                    spec,
                    observation.value,
                    direction=indicator.direction,
                    on=on,
                    period=observation.period,
                ),
            )
            for spec in applicable
        ]
        target_id, worst = max(
            judged,
            key=lambda j: (
                SEVERITY_RANK[j[1].severity],
                j[1].gap if j[1].gap is not None else -1e18,
            ),
        )
        if worst.verdict is Verdict.NO_DATA:  # a figure of no value (a ratio over zero)
            found.append(_missing(code, level, observation))
            continue
        found.append(
            Assessment(
                code,
                level,
                _STANDING[worst.verdict],
                worst.severity,
                target_id,
                observation.period,
                observation.period_start,
                on,
                observation.value,
                worst.expected,
                worst.gap,
            )
        )
    return found


_STANDING = {
    Verdict.ON_TRACK: Standing.ON_TRACK,
    Verdict.WARNING: Standing.LAGGING,
    Verdict.CRITICAL: Standing.LAGGING,
    Verdict.DEADLINE_MISSED: Standing.DEADLINE_MISSED,
}


def _missing(code: str, level: str, last: Observation | None) -> Assessment:
    """Missing at the date; the last figure before it, if any, is shown but not judged."""
    return Assessment(
        code,
        level,
        Standing.MISSING,
        None,
        None,
        last.period if last else None,
        last.period_start if last else None,
        None,
        last.value if last else None,
        None,
        None,
    )
