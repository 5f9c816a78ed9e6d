"""Deciding what alert a unit should have: pure functions, no database, no clock.

* **lagging** — :func:`ioc_common.catalogue.targets.judge` says whether the value is behind
  its target (the gateway colours the dashboard with the same verdict); this module adds
  hysteresis: an open alert steps down or resolves only once the gap is below the lower
  threshold by a margin (``hysteresis_ratio`` × the critical tolerance), so a value hovering at
  a threshold does not flap.
* **missing data** — nothing reported for longer than the indicator's reporting interval. It
  is its own alert and suppresses lagging for the same unit and indicator: stale data is not
  evidence of lagging.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from ioc_alerts.targets import TargetSpec
from ioc_common.catalogue import Indicator
from ioc_common.catalogue import display_value as shown_value
from ioc_common.catalogue.targets import Verdict, judge, judging_day
from ioc_common.catalogue.targets import applies as applies  # re-exported for the tests
from ioc_common.events import AlertSeverity
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
    #: Set under ``ioc dev``'s demo reporting interval: how many seconds a day lasted.
    demo_day_s: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    lagging: LaggingOutcome
    missing: MissingOutcome | None
    targets: tuple[str, ...] = field(default=())
    #: The judged period is history (:func:`is_backfill`): its changes go to the alert's
    #: history, nobody is notified of them.
    backfill: bool = False


def is_backfill(observation: Observation, indicator: Indicator, today: date) -> bool:
    """Whether a period is back-filled history rather than the present: it ended more than
    the indicator's reporting interval before ``today``. (``MetricUpdated`` carries no
    back-fill flag, so this is the rule: a period a unit should already have been followed by
    another one is the past.) Online dossiers, reported every 3 days and judged by month: on
    20 May 2026 the running May is current, April (ended 30 April, 20 days before) is history;
    on 2 May, April was still current."""
    return observation.period_end < today - timedelta(days=indicator.reporting_interval_days)


def display_value(
    indicator: Indicator, value: float | None, numerator: float | None, denominator: float | None
) -> float | None:
    """The value in the units targets use: a ratio from its parts × its scale (percent)."""
    if indicator.is_ratio and numerator is not None and denominator is not None:
        return shown_value(numerator, denominator, indicator.scale) if denominator > 0 else None
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


def evaluate_lagging(
    target: TargetSpec,
    observation: Observation | None,
    *,
    today: date | None = None,
    previous: AlertSeverity | None,
    hysteresis_ratio: float,
) -> LaggingOutcome:
    """The severity the lagging alert of one target should have (None: no alert): the shared
    verdict on the observation's period, judged on that period's last day (``today`` plays no
    part; kept for the callers' symmetry), held at ``previous`` until the gap is a margin
    below its threshold."""
    if observation is None or observation.value is None:
        # Nothing to judge: keep what is open (missing data handles the silence).
        return LaggingOutcome(previous, Reason.NO_VALUE, target.id)
    actual = observation.value
    # Judged in the period's own time (its last day), never by today's clock.
    as_of = judging_day(observation.period_start, observation.granularity)
    found = judge(
        target,
        actual,
        direction=target.indicator_def.direction,
        on=as_of,
        period=observation.period,
    )
    severity, reason, tolerance = found.severity, _REASONS[found.verdict], found.tolerance
    if not found.past_deadline and previous is not None:
        assert found.gap is not None  # a value was judged
        severity = _held(found.gap, target, previous, severity, hysteresis_ratio)
        reason = Reason.BEHIND if severity is not None else Reason.ON_TRACK
        critical = severity is AlertSeverity.CRITICAL
        tolerance = target.tolerance.critical if critical else target.tolerance.warning
    return LaggingOutcome(
        severity,
        reason,
        target.id,
        actual,
        expected=found.expected,
        gap=found.gap,
        tolerance=tolerance,
        period=observation.period,
        as_of=as_of,
    )


_REASONS: Mapping[Verdict, Reason] = {
    Verdict.ON_TRACK: Reason.ON_TRACK,
    Verdict.WARNING: Reason.BEHIND,
    Verdict.CRITICAL: Reason.BEHIND,
    Verdict.DEADLINE_MISSED: Reason.DEADLINE_MISSED,
}


def _held(
    gap: float,
    target: TargetSpec,
    previous: AlertSeverity,
    judged: AlertSeverity | None,
    hysteresis_ratio: float,
) -> AlertSeverity | None:
    """Hysteresis: an open alert keeps its severity (or steps down to warning) while the gap
    is within ``hysteresis_ratio`` × the critical tolerance below the threshold it crossed."""
    margin = hysteresis_ratio * target.tolerance.critical
    if previous is AlertSeverity.CRITICAL and gap > target.tolerance.critical - margin:
        return AlertSeverity.CRITICAL
    if judged is None and gap > target.tolerance.warning - margin:
        return AlertSeverity.WARNING
    return judged


def evaluate_missing(
    last_report_at: datetime | None,
    *,
    expected_since: datetime,
    interval_days: int,
    now: datetime,
    demo_day_s: float | None = None,
) -> MissingOutcome:
    """Missing when nothing arrived for longer than the reporting interval (counted from
    ``expected_since`` — when the target began to apply — if nothing ever arrived). Under
    ``ioc dev``'s demo reporting interval a day lasts ``demo_day_s`` seconds."""
    since = last_report_at if last_report_at is not None else expected_since
    silent = now - since
    day_s = demo_day_s if demo_day_s is not None else 86400.0
    return MissingOutcome(
        missing=silent > timedelta(seconds=interval_days * day_s),
        last_report_at=last_report_at,
        silent_for_days=silent.total_seconds() / day_s,
        interval_days=interval_days,
        demo_day_s=demo_day_s,
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
    demo_day_s: float | None = None,
) -> Decision:
    """Both rules for one (indicator, unit) under every target that applies to it; the worst
    lagging outcome wins."""
    missing = evaluate_missing(
        last_report_at,
        expected_since=expected_since,
        interval_days=indicator.reporting_interval_days,
        now=now,
        demo_day_s=demo_day_s,
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
    backfill = observation is not None and is_backfill(observation, indicator, today)
    return Decision(worst(outcomes), missing, ids, backfill)


def worst(outcomes: Iterable[LaggingOutcome]) -> LaggingOutcome:
    ranked = sorted(
        outcomes, key=lambda o: (SEVERITY_RANK[o.severity], o.gap if o.gap is not None else -1e18)
    )
    return ranked[-1] if ranked else LaggingOutcome(None, Reason.NO_VALUE)
