"""The evaluation rules as pure functions: lagging by tolerance, the deadline, hysteresis,
missing data and its suppression of lagging, and which units a target covers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ioc_alerts.evaluation import (
    Observation,
    Reason,
    applies,
    decide,
    display_value,
    evaluate_lagging,
    evaluate_missing,
    pick_observation,
)
from ioc_alerts.targets import TargetSpec
from ioc_common.catalogue import load_catalogue
from ioc_common.catalogue.targets import load_targets
from ioc_common.events import AggregationLevel, AlertSeverity
from ioc_common.timeutil import Granularity

TODAY = date(2026, 5, 20)
NOW = datetime(2026, 5, 20, 3, 0, tzinfo=UTC)


def target(**overrides: object) -> TargetSpec:
    data: dict[str, object] = {
        "id": "tq-dossiers-district",
        "indicator": "dossiers_processed_online_rate",
        "scope": {"level": "district", "within": ["08"]},
        "baseline": {"value": 60, "date": "2026-01-01"},
        "goal": 80,
        "deadline": "2026-12-31",
        "trajectory": "linear",
        "tolerance": {"warning": 5, "critical": 10},
    }
    data.update(overrides)
    return TargetSpec.model_validate(data)


def month(value: float | None, start: date = date(2026, 4, 1)) -> Observation:
    return Observation(value, f"{start:%Y-%m}", start, Granularity.MONTH)


def judge(
    spec: TargetSpec, value: float, previous: AlertSeverity | None = None
) -> AlertSeverity | None:
    return evaluate_lagging(
        spec, month(value), today=TODAY, previous=previous, hysteresis_ratio=0.1
    ).severity


def test_lagging_by_more_than_a_tolerance_warns_then_goes_critical() -> None:
    spec = target(goal=60, baseline={"value": 60, "date": "2026-01-01"})  # flat at 60
    assert judge(spec, 56) is None  # 4 points behind: within the warning tolerance
    assert judge(spec, 54) is AlertSeverity.WARNING  # 6 behind
    assert judge(spec, 49) is AlertSeverity.CRITICAL  # 11 behind


def test_expected_value_follows_the_trajectory_at_the_period_end() -> None:
    spec = target()
    outcome = evaluate_lagging(spec, month(60.0), today=TODAY, previous=None, hysteresis_ratio=0.1)
    assert outcome.expected == pytest.approx(spec.expected_at(date(2026, 4, 30)))
    assert outcome.expected is not None
    assert 60 < outcome.expected < 80
    assert outcome.gap == pytest.approx(outcome.expected - 60)


def test_lower_is_better_indicator_lags_when_above_the_trajectory() -> None:
    spec = target(
        id="tq-2g-only",
        indicator="subscribers_2g_only",
        scope={"units": ["071"]},
        baseline={"value": 1000, "date": "2026-01-01"},
        goal=1000,
        tolerance={"warning": 50, "critical": 200},
    )
    assert judge(spec, 1100) is AlertSeverity.WARNING
    assert judge(spec, 900) is None


def test_a_missed_deadline_is_critical_until_the_goal_is_met() -> None:
    spec = target(
        baseline={"value": 60, "date": "2025-01-01"},
        deadline="2026-03-31",
        tolerance={"warning": 5, "critical": 10},
    )
    late = evaluate_lagging(spec, month(79.5), today=TODAY, previous=None, hysteresis_ratio=0.1)
    assert late.severity is AlertSeverity.CRITICAL
    assert late.reason is Reason.DEADLINE_MISSED
    assert judge(spec, 80) is None


def test_hysteresis_keeps_a_value_hovering_at_the_threshold_from_flapping() -> None:
    spec = target(goal=60, baseline={"value": 60, "date": "2026-01-01"})
    # Around the warning threshold (gap 5); the margin is 0.1 × 10 = 1 point.
    values = [54.9, 55.1, 54.8, 55.2, 54.9, 55.9, 56.1]
    severities: list[AlertSeverity | None] = []
    previous: AlertSeverity | None = None
    for value in values:
        previous = judge(spec, value, previous)
        severities.append(previous)
    assert severities == [AlertSeverity.WARNING] * 6 + [None]  # resolves only below 4 behind
    changes = sum(1 for a, b in zip([None, *severities], severities, strict=False) if a != b)
    assert changes == 2  # fired once, resolved once


def test_hysteresis_steps_down_from_critical_only_past_the_margin() -> None:
    spec = target(goal=60, baseline={"value": 60, "date": "2026-01-01"})
    assert judge(spec, 50.5, AlertSeverity.CRITICAL) is AlertSeverity.CRITICAL  # 9.5 behind
    assert judge(spec, 51.5, AlertSeverity.CRITICAL) is AlertSeverity.WARNING  # 8.5 behind
    assert judge(spec, 50.5, None) is AlertSeverity.WARNING  # a new alert needs > 10


def test_missing_data_after_the_reporting_interval() -> None:
    fresh = evaluate_missing(NOW - timedelta(days=2), expected_since=NOW, interval_days=3, now=NOW)
    stale = evaluate_missing(NOW - timedelta(days=4), expected_since=NOW, interval_days=3, now=NOW)
    never = evaluate_missing(None, expected_since=NOW - timedelta(days=5), interval_days=3, now=NOW)
    assert not fresh.missing
    assert stale.missing
    assert never.missing


def test_missing_data_suppresses_lagging_for_the_same_unit_and_indicator() -> None:
    spec = target(goal=60, baseline={"value": 60, "date": "2026-01-01"})
    indicator = load_catalogue().require(spec.indicator)
    common = {
        "indicator": indicator,
        "expected_since": NOW - timedelta(days=100),
        "today": TODAY,
        "now": NOW,
        "previous_lagging": AlertSeverity.CRITICAL,
        "hysteresis_ratio": 0.1,
    }
    observations = {Granularity.MONTH: month(40.0)}
    stale = decide([spec], observations, last_report_at=NOW - timedelta(days=10), **common)  # type: ignore[arg-type]
    assert stale.missing is not None
    assert stale.missing.missing
    assert stale.lagging.severity is None
    assert stale.lagging.reason is Reason.SUPPRESSED
    fresh = decide([spec], observations, last_report_at=NOW - timedelta(hours=1), **common)  # type: ignore[arg-type]
    assert fresh.missing is not None
    assert not fresh.missing.missing
    assert fresh.lagging.severity is AlertSeverity.CRITICAL


def test_ratio_values_are_compared_in_percent() -> None:
    indicator = load_catalogue().require("dossiers_processed_online_rate")
    assert display_value(indicator, 0.62, 62.0, 100.0) == pytest.approx(62.0)
    assert display_value(indicator, None, 5.0, 0.0) is None


def test_the_judged_period_is_no_shorter_than_the_reporting_interval() -> None:
    monthly = load_catalogue().require("dossiers_processed_online_rate")  # every 3 days
    quarterly = load_catalogue().require("households_fixed_broadband")  # every 92 days
    observations = {
        Granularity.DAY: Observation(1.0, "2026-04-30", date(2026, 4, 30), Granularity.DAY),
        Granularity.MONTH: month(2.0),
        Granularity.YEAR: Observation(3.0, "2026", date(2026, 1, 1), Granularity.YEAR),
    }
    picked = pick_observation(observations, monthly)
    assert picked is not None
    assert picked.value == 2.0
    picked = pick_observation(observations, quarterly)  # no quarter: the next coarser
    assert picked is not None
    assert picked.value == 3.0


def test_scope_within_a_former_province_covers_its_units_after_the_reform() -> None:
    thai_binh = {t.id: t for t in load_targets()}[
        "thai-binh-dossiers-processed-online-district-2025"
    ]
    spec = TargetSpec.from_seed(thai_binh)
    # 336 is a Thái Bình district (before the reform) and a former district after it.
    assert applies(spec, "336", AggregationLevel.DISTRICT, date(2024, 5, 1))
    assert applies(spec, "336", AggregationLevel.DISTRICT, date(2025, 9, 1))
    assert not applies(spec, "071", AggregationLevel.DISTRICT, date(2025, 9, 1))  # Tuyên Quang
    assert not applies(spec, "34", AggregationLevel.PROVINCE, date(2024, 5, 1))  # other level


def test_scope_level_within_a_province_and_unit_lists() -> None:
    spec = target()
    assert applies(spec, "071", "district", TODAY)
    assert not applies(spec, "071", "commune", TODAY)
    assert not applies(spec, "001", "district", TODAY)  # a Hà Nội district
    listed = target(scope={"units": ["071", "072"]})
    assert applies(listed, "072", "district", TODAY)
    assert not applies(listed, "073", "district", TODAY)
