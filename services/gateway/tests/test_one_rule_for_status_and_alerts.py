"""The dashboard's status and an alert's severity are one function's answer.

Both services judge a value against a target with ``ioc_common.catalogue.targets.judge`` and
decide which units a target covers with ``applies`` (built on the reform-aware
``ioc_common.reference.units.within``). For generated targets, units and values the gateway's
status and the alerts service's verdict before hysteresis are that function's answer; and no
service module carries a second copy of these rules.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ioc_alerts import evaluation
from ioc_alerts.evaluation import Observation, evaluate_lagging
from ioc_alerts.targets import TargetSpec
from ioc_common.catalogue import Direction, load_catalogue
from ioc_common.catalogue.targets import TargetRule, Verdict, applies, judge
from ioc_common.reference import units
from ioc_common.timeutil import Granularity
from ioc_gateway import scope, status
from ioc_gateway.status import find_target, status_of

ROOT = Path(__file__).resolve().parents[3]
HIGHER = "dossiers_processed_online_rate"  # percent, higher is better
LOWER = "subscribers_2g_only"  # a count, lower is better
STATUS_OF_SEVERITY = {None: "on_track", "warning": "warning", "critical": "critical"}


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    """A target definition as an admin would post it: a valid rule of either direction."""
    indicator = draw(st.sampled_from([HIGHER, LOWER]))
    top = 100.0 if indicator == HIGHER else 5000.0
    a = draw(st.floats(0, top, allow_nan=False))
    b = draw(st.floats(0, top, allow_nan=False))
    baseline, goal = (min(a, b), max(a, b)) if indicator == HIGHER else (max(a, b), min(a, b))
    start = draw(st.dates(date(2023, 1, 1), date(2027, 1, 1)))
    warning = draw(st.floats(0, top / 5, allow_nan=False))
    return {
        "id": "generated",
        "indicator": indicator,
        "scope": draw(
            st.sampled_from(
                [
                    {"level": "district", "within": ["08"]},
                    {"level": "district", "within": ["34"]},  # a former province
                    {"level": "district", "within": ["02", "071"]},
                    {"level": "province"},
                    {"level": "commune", "within": ["071"]},
                    {"units": ["071", "072"]},
                    {"units": ["336", "08"]},
                ]
            )
        ),
        "baseline": {"value": baseline, "date": start.isoformat()},
        "goal": goal,
        "deadline": (start + timedelta(days=draw(st.integers(1, 1500)))).isoformat(),
        "trajectory": draw(st.sampled_from(["linear", "yearly_steps"])),
        "tolerance": {"warning": warning, "critical": warning + draw(st.floats(0.01, top / 5))},
    }


@given(
    definition=rules(),
    month=st.dates(date(2023, 1, 1), date(2029, 12, 1)).map(lambda d: d.replace(day=1)),
    days_later=st.integers(0, 800),
    value=st.none() | st.floats(0, 6000, allow_nan=False),
    hysteresis_ratio=st.floats(0, 0.5),
)
@settings(max_examples=400, deadline=None)
def test_the_dashboard_status_and_the_alert_severity_are_judges_verdict(
    definition: dict[str, Any],
    month: date,
    days_later: int,
    value: float | None,
    hysteresis_ratio: float,
) -> None:
    spec = TargetSpec.model_validate(definition)  # as the alerts service keeps it
    rule = TargetRule.model_validate(definition)  # as the gateway reads it back
    indicator = load_catalogue().require(rule.indicator)
    today = month + timedelta(days=days_later)
    observation = Observation(value, f"{month:%Y-%m}", month, Granularity.MONTH)
    # Judged in the period's own time: on its last day, whatever today is.
    on = observation.period_end
    verdict = judge(rule, value, direction=indicator.direction, on=on, period=observation.period)

    shown = status_of(indicator, rule, value, observation.period, today=today)
    alert = evaluate_lagging(
        spec, observation, today=today, previous=None, hysteresis_ratio=hysteresis_ratio
    )

    # The gateway presents judge's verdict: a missed deadline is coloured critical.
    assert verdict.expected is not None
    assert shown["target"]["expected"] == round(verdict.expected, 4)
    if value is None:
        assert verdict.verdict is Verdict.NO_DATA
        assert shown["status"] == "no_data"
        assert alert.severity is None  # nothing to judge, nothing was open
        return
    assert verdict.gap is not None
    assert shown["target"]["gap"] == round(verdict.gap, 4)
    severity = verdict.severity.value if verdict.severity is not None else None
    assert shown["status"] == STATUS_OF_SEVERITY[severity]
    # With nothing open there is no hysteresis: the alert is judge's verdict itself.
    assert alert.severity == verdict.severity
    assert (alert.expected, alert.gap, alert.tolerance) == (
        verdict.expected,
        verdict.gap,
        verdict.tolerance,
    )
    # So the tile's colour and the leader's alert say the same.
    assert shown["status"] == STATUS_OF_SEVERITY[alert.severity and alert.severity.value]


CODES = ["08", "02", "34", "33", "071", "072", "024", "336", "00691", "02233", "00004", "22705"]


@given(
    definition=rules(),
    code=st.sampled_from(CODES),
    level=st.sampled_from(["province", "district", "commune"]),
    on=st.dates(date(2024, 1, 1), date(2027, 12, 31)),
)
@settings(max_examples=300, deadline=None)
def test_which_units_a_target_covers_is_one_answer(
    definition: dict[str, Any], code: str, level: str, on: date
) -> None:
    spec = TargetSpec.model_validate(definition)
    rule = TargetRule.model_validate(definition)
    expected = applies(rule, code, level, on)
    assert evaluation.applies(spec, code, level, on) is expected
    assert (find_target([rule], rule.indicator, code, level, on) is rule) is expected


def test_reform_aware_within_serves_both_services() -> None:
    after, before = date(2025, 9, 1), date(2024, 5, 1)
    # Alerts: a unit lies in a former province after the reform when its former district did.
    assert units.within("34", "336", after)
    assert units.within("34", "336", before)
    assert not units.within("34", "071", after)
    # Gateway: a code of no particular date is looked up today and on the last legacy day.
    assert units.within("08", "024")  # Hà Giang's district, in today's Tuyên Quang
    assert units.within("02", "024")  # and in Hà Giang before the reform
    assert not units.within("071", "072")
    last_legacy_day = units.LAST_LEGACY_DAY
    assert last_legacy_day == units.REFORM_DATE - timedelta(days=1)
    levels = [units.level_of(c) for c in ("08", "071", "00691")]
    assert levels == ["province", "district", "commune"]


SHARED_RULES = {
    "applies": "ioc_common.catalogue.targets",
    "judge": "ioc_common.catalogue.targets",
    "shortfall": "ioc_common.catalogue.targets",
    "expected_value": "ioc_common.catalogue.targets",
    "within": "ioc_common.reference.units",
    "level_of": "ioc_common.reference.units",
    "unit_name": "ioc_common.reference.units",
    "province_of": "ioc_common.reference.units",
    "district_of": "ioc_common.reference.units",
}


def test_no_service_module_keeps_its_own_copy_of_a_domain_rule() -> None:
    for module in (evaluation, status, scope):
        for name, home in SHARED_RULES.items():
            found = getattr(module, name, None)
            if found is not None:
                assert found.__module__ == home, f"{module.__name__}.{name} is a second copy"
    # Nor under another name, anywhere in the services' sources.
    defines = re.compile(
        r"^\s*(?:async\s+)?def\s+_?(?:applies|judge|within|unit_within|level_of|scope_level_of"
        r"|shortfall|expected_value|unit_name|province_of|district_of)\s*\(",
        re.MULTILINE,
    )
    level_by_length = re.compile(r"len\((?:code|unit|unit_code|scope)\)\s*[=!]=|\{2: \"province\"")
    legacy_day = re.compile(r"REFORM_DATE\s*-\s*timedelta")
    offenders = []
    for path in sorted(ROOT.glob("services/*/src/**/*.py")):
        text = path.read_text(encoding="utf-8")
        for pattern in (defines, level_by_length, legacy_day):
            offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in pattern.finditer(text)]
    assert offenders == [], "use ioc_common.reference.units / ioc_common.catalogue.targets"
    assert Direction.HIGHER_IS_BETTER  # the shared rules' vocabulary comes from ioc_common too
