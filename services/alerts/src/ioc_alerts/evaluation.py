"""Deciding what alert a unit should have: pure functions, no database, no clock.

* **lagging** — the actual value is worse than the trajectory's expected value by more than a
  tolerance (warning, then critical); once the deadline has passed, any shortfall from the goal
  is critical. Hysteresis: an open alert steps down or resolves only once the gap is below the
  lower threshold by a margin (``hysteresis_ratio`` × the critical tolerance), so a value
  hovering at a threshold does not flap.
* **missing data** — nothing reported for longer than the indicator's reporting interval. It
  is its own alert and suppresses lagging for the same unit and indicator: stale data is not
  evidence of lagging.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from ioc_alerts.targets import TargetSpec, scope_level_of
from ioc_alerts.units import unit_within
from ioc_common.catalogue import Direction, Indicator
from ioc_common.events import AggregationLevel, AlertSeverity
from ioc_common.timeutil import GRANULARITY_ORDER, Granularity, period_end


class Rule(StrEnum):
    LAGGING = "lagging"
    MISSING_DATA = "missing_data"


class Reason(StrEnum):
    BEHIND = "behind"  # worse than the trajectory by more than a tolerance
    DEADLINE_MISSED = "deadline_missed"
    ON_TRACK = "on_track"
    NO_VALUE = "no_value"
    SUPPRESSED = "suppressed_missing_data"


SEVERITY_RANK: Mapping[AlertSeverity | None, int] = {
    None: 0,
    AlertSeverity.WARNING: 1,
    AlertSeverity.CRITICAL: 2,
}


@dataclass(frozen=True, slots=True)
class Observation:
    """The latest value of an indicator in one unit at one granularity, in display units."""

    value: float | None
    period: str
    period_start: date
    granularity: Granularity

    @property
    def period_end(self) -> date:
        return period_end(self.period_start, self.granularity)


@dataclass(frozen=True, slots=True)
class LaggingOutcome:
    severity: AlertSeverity | None
    reason: Reason
    target_id: str | None = None
    actual: float | None = None
    expected: float | None = None
    gap: float | None = None
    tolerance: float | None = None
    period: str | None = None
    as_of: date | None = None


@dataclass(frozen=True, slots=True)
class MissingOutcome:
    missing: bool
    last_report_at: datetime | None
    silent_for_days: float
    interval_days: int


@dataclass(frozen=True, slots=True)
class Decision:
    lagging: LaggingOutcome
    missing: MissingOutcome | None
    targets: tuple[str, ...] = field(default=())


def display_value(
    indicator: Indicator, value: float | None, numerator: float | None, denominator: float | None
) -> float | None:
    """The value in the units targets use: a ratio from its parts × its scale (percent)."""
    if indicator.is_ratio and numerator is not None and denominator is not None:
        return numerator / denominator * indicator.scale if denominator > 0 else None
    return value


def preferred_granularity(indicator: Indicator) -> Granularity:
    """The period a target is judged over: the shortest one no shorter than the reporting
    interval, so a unit reporting monthly is judged month by month, never day by day."""
    days = indicator.reporting_interval_days
    if days <= 31:
        return Granularity.MONTH
    if days <= 92:
        return Granularity.QUARTER
    return Granularity.YEAR


def pick_observation(
    observations: Mapping[Granularity, Observation], indicator: Indicator
) -> Observation | None:
    """The preferred granularity's latest period; failing that a coarser one, then a finer."""
    preferred = preferred_granularity(indicator)
    index = GRANULARITY_ORDER.index(preferred)
    order = list(GRANULARITY_ORDER[index:]) + list(reversed(GRANULARITY_ORDER[:index]))
    for granularity in order:
        if granularity in observations:
            return observations[granularity]
    return None


def shortfall(direction: Direction, expected: float, actual: float) -> float:
    """How far ``actual`` is worse than ``expected`` (negative when better)."""
    return expected - actual if direction is Direction.HIGHER_IS_BETTER else actual - expected


def applies(target: TargetSpec, unit_code: str, level: AggregationLevel | str, on: date) -> bool:
    """Whether ``target`` covers the unit at that aggregation level on that date."""
    scope = target.scope
    if scope.units is not None:
        return unit_code in scope.units and scope_level_of(unit_code).value == str(level)
    if scope.level is None or scope.level.value != str(level):
        return False
    return scope.within is None or any(unit_within(w, unit_code, on) for w in scope.within)


def evaluate_lagging(
    target: TargetSpec,
    observation: Observation | None,
    *,
    today: date,
    previous: AlertSeverity | None,
    hysteresis_ratio: float,
) -> LaggingOutcome:
    """The severity the lagging alert of one target should have (None: no alert)."""
    if observation is None or observation.value is None:
        # Nothing to judge: keep what is open (missing data handles the silence).
        return LaggingOutcome(previous, Reason.NO_VALUE, target.id)
    direction = target.indicator_def.direction
    actual = observation.value
    as_of = min(observation.period_end, today)
    base = LaggingOutcome(
        None, Reason.ON_TRACK, target.id, actual, period=observation.period, as_of=as_of
    )
    if today > target.deadline:
        gap = shortfall(direction, target.goal, actual)
        missed = gap > 0
        return replace(
            base,
            severity=AlertSeverity.CRITICAL if missed else None,
            reason=Reason.DEADLINE_MISSED if missed else Reason.ON_TRACK,
            expected=target.goal,
            gap=gap,
            tolerance=0.0,
        )
    expected = target.expected_at(as_of)
    gap = shortfall(direction, expected, actual)
    warning, critical = target.tolerance.warning, target.tolerance.critical
    margin = hysteresis_ratio * critical
    # Thresholds to enter a severity, and (lower, by the margin) to stay in it.
    critical_at = critical - margin if previous is AlertSeverity.CRITICAL else critical
    warning_at = warning - margin if previous is not None else warning
    severity: AlertSeverity | None
    if gap > critical_at:
        severity, tolerance = AlertSeverity.CRITICAL, critical
    elif gap > warning_at:
        severity, tolerance = AlertSeverity.WARNING, warning
    else:
        severity, tolerance = None, warning
    return replace(
        base,
        severity=severity,
        reason=Reason.BEHIND if severity is not None else Reason.ON_TRACK,
        expected=expected,
        gap=gap,
        tolerance=tolerance,
    )


def evaluate_missing(
    last_report_at: datetime | None,
    *,
    expected_since: datetime,
    interval_days: int,
    now: datetime,
) -> MissingOutcome:
    """Missing when nothing arrived for longer than the reporting interval (counted from
    ``expected_since`` — when the target began to apply — if nothing ever arrived)."""
    since = last_report_at if last_report_at is not None else expected_since
    silent = now - since
    return MissingOutcome(
        missing=silent > timedelta(days=interval_days),
        last_report_at=last_report_at,
        silent_for_days=silent.total_seconds() / 86400,
        interval_days=interval_days,
    )


def decide(
    targets: Sequence[TargetSpec],
    observations: Mapping[Granularity, Observation],
    *,
    indicator: Indicator,
    last_report_at: datetime | None,
    expected_since: datetime,
    today: date,
    now: datetime,
    previous_lagging: AlertSeverity | None,
    hysteresis_ratio: float,
) -> Decision:
    """Both rules for one (indicator, unit) under every target that applies to it; the worst
    lagging outcome wins."""
    missing = evaluate_missing(
        last_report_at,
        expected_since=expected_since,
        interval_days=indicator.reporting_interval_days,
        now=now,
    )
    ids = tuple(t.id for t in targets)
    if missing.missing:
        return Decision(LaggingOutcome(None, Reason.SUPPRESSED), missing, ids)
    observation = pick_observation(observations, indicator)
    outcomes = [
        evaluate_lagging(
            t,
            observation,
            today=today,
            previous=previous_lagging,
            hysteresis_ratio=hysteresis_ratio,
        )
        for t in targets
    ]
    return Decision(worst(outcomes), missing, ids)


def worst(outcomes: Iterable[LaggingOutcome]) -> LaggingOutcome:
    ranked = sorted(
        outcomes, key=lambda o: (SEVERITY_RANK[o.severity], o.gap if o.gap is not None else -1e18)
    )
    return ranked[-1] if ranked else LaggingOutcome(None, Reason.NO_VALUE)
