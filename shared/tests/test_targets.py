"""Provinces' targets: the shipped ones are sound, trajectories are right, bad ones are refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from ioc_common.catalogue import Catalogue, load_catalogue
from ioc_common.catalogue.targets import (
    ScopeLevel,
    Target,
    Trajectory,
    applies,
    load_targets,
    parse_targets,
)

SEED_ARTICLES = {
    "000_96817ab5688cdb4e.txt",
    "001_c3a33e57eb41d4a8.txt",
    "002_043c0eecbb89d818.txt",
    "003_90992e50ed8b6b28.txt",
    "004_3fec733ce960d48e.txt",
}
#: Post-July-2025 codes of the seed provinces' successors.
PROVINCES = {"08": "Tuyên Quang", "33": "Hưng Yên", "44": "Quảng Trị", "46": "Huế"}


@pytest.fixture(scope="module")
def targets() -> list[Target]:
    return load_targets()


def _one(targets: list[Target], target_id: str) -> Target:
    return next(t for t in targets if t.id == target_id)


# --- the shipped targets -----------------------------------------------------------------------


def test_all_targets_load(targets: list[Target]) -> None:
    assert len(targets) >= 6
    assert len({t.id for t in targets}) == len(targets)
    catalogue = load_catalogue()
    for target in targets:
        assert target.indicator in catalogue, target.id
        assert target.province_code in PROVINCES, target.id
        assert target.source.article in SEED_ARTICLES, target.id
        assert target.source.quote_vi.strip(), target.id
        assert target.deadline > target.baseline.date, target.id
        assert 0 <= target.tolerance.warning < target.tolerance.critical, target.id


def test_load_targets_gives_a_fresh_list(targets: list[Target]) -> None:
    again = load_targets()
    assert again == targets
    assert again is not targets


THAI_BINH_DISTRICTS = ("336", "338", "339", "340", "341", "342", "343", "344")


def test_dossiers_processed_online_by_level(targets: list[Target]) -> None:
    by_level = {
        t.scope.level or ScopeLevel.PROVINCE: t.goal
        for t in targets
        if t.indicator == "dossiers_processed_online_rate"
        and (t.scope.within == THAI_BINH_DISTRICTS or t.scope.before_reform == ("34",))
    }
    assert by_level == {ScopeLevel.PROVINCE: 90, ScopeLevel.DISTRICT: 80, ScopeLevel.COMMUNE: 60}
    for target in targets:
        if target.indicator == "dossiers_processed_online_rate":
            assert target.source_province == "Thái Bình"
            assert target.province_code == "33"
            assert "90% tổng số hồ sơ công việc tại cấp tỉnh" in target.source.quote_vi


def test_thai_binh_full_online_services(targets: list[Target]) -> None:
    target = _one(targets, "thai-binh-full-online-services-2025")
    assert target.indicator == "full_online_services_rate"
    assert target.goal == 100
    assert target.deadline == dt.date(2025, 12, 31)


def test_ha_giang_villages_mobile_coverage(targets: list[Target]) -> None:
    target = _one(targets, "ha-giang-villages-mobile-coverage")
    assert target.province_code == "08"
    # Re-expressed on the province that absorbed Hà Giang; Hà Giang itself before the reform.
    assert target.scope.units == ("08",)
    assert target.scope.before_reform == ("02",)
    assert (target.baseline.value, target.goal) == (98.89, 100)
    assert "98,89%" in target.source.quote_vi
    assert target.assumed == ("deadline",)


def test_assumptions_are_explained(targets: list[Target]) -> None:
    # What the article did not say is flagged, so the UI can show it as chosen, not quoted.
    for target in targets:
        if "goal" not in target.assumed:
            continue
        assert "không nêu" in target.note_vi, target.id


def test_scopes_name_units_of_the_new_province_and_its_source_before(
    targets: list[Target],
) -> None:
    """Every shipped target names units that exist after the reform — the new province or its
    former districts — and, for earlier periods, the former province that set it."""
    units = pytest.importorskip("ioc_common.reference.units")
    tree = units.unit_tree()
    after = dt.date(2025, 8, 1)
    for target in targets:
        new_province = tree.get(target.province_code, units.REFORM_DATE)
        assert new_province is not None, target.id
        former = {
            d.code for d in tree.districts_of_province(target.province_code, units.REFORM_DATE)
        }
        for code in target.scope.units or target.scope.within or ():
            assert code == target.province_code or code in former, (target.id, code)
            assert tree.roll_up(code, after), (target.id, code)  # exists (as a former district)
        for code in target.scope.before_reform or ():
            unit = tree.get(code, units.LAST_LEGACY_DAY)
            assert unit is not None, (target.id, code)
            assert unit.level == "province", (target.id, code)
            assert tree.successor_province(code) == target.province_code, (target.id, code)


@pytest.mark.parametrize("on", [dt.date(2024, 12, 31), dt.date(2025, 8, 31)])
def test_the_shipped_targets_judge_each_unit_once(targets: list[Target], on: dt.date) -> None:
    """A default stack judges a unit against at most one shipped target per indicator, on
    either side of the reform: a merged province is not judged by a dead code's target too."""
    units = pytest.importorskip("ioc_common.reference.units")
    tree = units.unit_tree()
    for indicator in {t.indicator for t in targets}:
        rules = [t for t in targets if t.indicator == indicator]
        for province in ("02", "08", "33", "34", "44", "45", "46"):
            candidates = (
                [province] + [d.code for d in tree.districts_of_province(province, on)]
                if tree.get(province, on)
                else []
            )
            for code in candidates:
                level = units.level_of(code).value
                found = [t.id for t in rules if applies(t, code, level, on)]
                assert len(found) <= 1, (indicator, code, on, found)
    # …and the re-expressed target follows the territory across the reform.
    coverage = _one(targets, "ha-giang-villages-mobile-coverage")
    assert applies(coverage, "02", "province", dt.date(2024, 12, 31))
    assert not applies(coverage, "08", "province", dt.date(2024, 12, 31))  # Tuyên Quang alone
    assert applies(coverage, "08", "province", dt.date(2025, 8, 31))


# --- expected_at -------------------------------------------------------------------------------


def _target(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "test-target",
        "indicator": "dossiers_processed_online_rate",
        "province_code": "08",
        "source_province": "Tuyên Quang",
        "source": {"article": "000_96817ab5688cdb4e.txt", "quote_vi": "trích dẫn"},
        "scope": {"level": "district"},
        "baseline": {"value": 60, "date": "2022-12-31"},
        "goal": 90,
        "deadline": "2025-12-31",
        "trajectory": "linear",
        "tolerance": {"warning": 5, "critical": 10},
        "note_vi": "Chỉ tiêu thử.",
    }
    data.update(changes)
    return data


def test_linear_trajectory() -> None:
    # 2022-01-01 → 2024-01-01 is 730 days; 2023-01-01 is exactly half way.
    target = Target.model_validate(
        _target(baseline={"value": 60, "date": "2022-01-01"}, deadline="2024-01-01")
    )
    assert target.expected_at(dt.date(2021, 6, 1)) == 60  # before the baseline
    assert target.expected_at(dt.date(2022, 1, 1)) == 60  # at the baseline
    assert target.expected_at(dt.date(2023, 1, 1)) == pytest.approx(75)  # midpoint
    assert target.expected_at(dt.date(2022, 7, 2)) == pytest.approx(60 + 30 * 182 / 730)
    assert target.expected_at(dt.date(2024, 1, 1)) == 90  # at the deadline
    assert target.expected_at(dt.date(2030, 1, 1)) == 90  # after it
    assert target.expected_at(dt.datetime(2023, 1, 1, 12, 0)) == pytest.approx(75)


def test_linear_trajectory_downwards() -> None:
    target = Target.model_validate(
        _target(
            indicator="subscribers_2g_only",
            baseline={"value": 50_000, "date": "2022-01-01"},
            goal=10_000,
            deadline="2024-01-01",
            tolerance={"warning": 1_000, "critical": 5_000},
        )
    )
    assert target.expected_at(dt.date(2023, 1, 1)) == pytest.approx(30_000)
    assert target.expected_at(dt.date(2025, 1, 1)) == 10_000


def test_yearly_steps_on_baseline_anniversaries() -> None:
    target = Target.model_validate(_target(trajectory="yearly_steps"))
    assert target.trajectory is Trajectory.YEARLY_STEPS
    assert target.step_dates() == [
        dt.date(2023, 12, 31),
        dt.date(2024, 12, 31),
        dt.date(2025, 12, 31),
    ]
    assert target.expected_at(dt.date(2022, 1, 1)) == 60  # before the baseline
    assert target.expected_at(dt.date(2022, 12, 31)) == 60  # at the baseline
    assert target.expected_at(dt.date(2023, 12, 30)) == 60  # the day before the first step
    assert target.expected_at(dt.date(2023, 12, 31)) == pytest.approx(70)  # first step
    assert target.expected_at(dt.date(2024, 7, 1)) == pytest.approx(70)  # midpoint
    assert target.expected_at(dt.date(2024, 12, 31)) == pytest.approx(80)
    assert target.expected_at(dt.date(2025, 12, 30)) == pytest.approx(80)
    assert target.expected_at(dt.date(2025, 12, 31)) == 90  # at the deadline
    assert target.expected_at(dt.date(2027, 1, 1)) == 90  # after it


def test_yearly_steps_with_a_deadline_off_the_anniversary() -> None:
    target = Target.model_validate(
        _target(
            trajectory="yearly_steps",
            baseline={"value": 47.22, "date": "2024-06-28"},
            goal=100,
            deadline="2025-12-31",
        )
    )
    assert target.step_dates() == [dt.date(2025, 6, 28), dt.date(2025, 12, 31)]
    assert target.expected_at(dt.date(2025, 3, 1)) == 47.22
    assert target.expected_at(dt.date(2025, 6, 28)) == pytest.approx(73.61)
    assert target.expected_at(dt.date(2025, 12, 31)) == 100


def test_yearly_steps_within_a_year_is_one_step_at_the_deadline() -> None:
    target = Target.model_validate(
        _target(trajectory="yearly_steps", baseline={"value": 60, "date": "2025-03-01"})
    )
    assert target.step_dates() == [dt.date(2025, 12, 31)]
    assert target.expected_at(dt.date(2025, 12, 30)) == 60
    assert target.expected_at(dt.date(2025, 12, 31)) == 90


def test_yearly_steps_from_29_february() -> None:
    target = Target.model_validate(
        _target(
            trajectory="yearly_steps",
            baseline={"value": 60, "date": "2024-02-29"},
            deadline="2026-02-28",
        )
    )
    assert target.step_dates() == [dt.date(2025, 2, 28), dt.date(2026, 2, 28)]


def test_shipped_trajectories(targets: list[Target]) -> None:
    coverage = _one(targets, "ha-giang-villages-mobile-coverage")
    assert coverage.expected_at(dt.date(2024, 6, 18)) == 98.89
    assert 98.89 < coverage.expected_at(dt.date(2025, 3, 1)) < 100
    assert coverage.expected_at(dt.date(2026, 1, 1)) == 100
    floor = _one(targets, "thai-binh-dossiers-processed-online-district-2025")
    assert {floor.expected_at(dt.date(y, 6, 30)) for y in (2023, 2024, 2025, 2026)} == {80}


# --- invalid targets are refused with a clear message -----------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"deadline": "2021-12-31"},
            ["deadline", "deadline 2021-12-31 must be after the baseline date 2022-12-31"],
            id="deadline before baseline",
        ),
        pytest.param(
            {"deadline": "2022-12-31"},
            ["deadline", "must be after the baseline date"],
            id="deadline on baseline",
        ),
        pytest.param(
            {"tolerance": {"warning": 10, "critical": 10}},
            ["tolerance", "need 0 <= warning < critical, got warning=10, critical=10"],
            id="warning equals critical",
        ),
        pytest.param(
            {"tolerance": {"warning": 12, "critical": 10}},
            ["tolerance", "warning < critical"],
            id="warning above critical",
        ),
        pytest.param(
            {"tolerance": {"warning": -1, "critical": 10}},
            ["tolerance", "0 <= warning"],
            id="negative warning",
        ),
        pytest.param(
            {"indicator": "dossiers_processed_online"},
            [
                "indicator",
                "unknown indicator 'dossiers_processed_online': not in the catalogue; "
                "did you mean 'dossiers_processed_online_rate'",
            ],
            id="unknown indicator",
        ),
        pytest.param({"goal": 120}, ["goal: 120 is not a percentage"], id="goal above 100%"),
        pytest.param(
            {"goal": 50},
            ["goal: 50 is worse than the baseline 60", "higher_is_better"],
            id="goal worse than baseline",
        ),
        pytest.param(
            {"scope": {"level": "district", "units": ["071"]}},
            ["scope", "either level or units"],
            id="level and units",
        ),
        pytest.param(
            {"scope": {"units": ["071"], "within": ["08"]}},
            ["scope.within narrows a level"],
            id="within without level",
        ),
        pytest.param({"scope": {"units": ["0711"]}}, ["scope.units.0"], id="malformed unit code"),
        pytest.param({"scope": {"level": "ward"}}, ["scope.level"], id="unknown level"),
        pytest.param({"trajectory": "exponential"}, ["trajectory"], id="unknown trajectory"),
        pytest.param({"province_code": "8"}, ["province_code"], id="malformed province"),
        pytest.param({"assumed": ["tolerance"]}, ["assumed.0"], id="unknown assumption"),
        pytest.param(
            {"source": {"article": "news.txt", "quote_vi": "x"}},
            ["source.article"],
            id="not a seed article",
        ),
        pytest.param({"colour": "red"}, ["colour", "Extra inputs"], id="extra field"),
    ],
)
def test_invalid_target_is_rejected(changes: dict[str, Any], expected: list[str]) -> None:
    Target.model_validate(_target())  # the unchanged target is valid
    with pytest.raises(ValidationError) as caught:
        Target.model_validate(_target(**changes))
    message = str(caught.value)
    for fragment in expected:
        assert fragment in message


def test_targets_file_with_duplicate_ids_is_rejected() -> None:
    text = """
version: "1"
targets:
  - &one
    id: same
    indicator: villages_mobile_coverage
    province_code: "08"
    source_province: Hà Giang
    source: {article: 002_043c0eecbb89d818.txt, quote_vi: "98,89%"}
    scope: {units: ["02"]}
    baseline: {value: 98.89, date: 2024-06-18}
    goal: 100
    deadline: 2025-12-31
    trajectory: linear
    tolerance: {warning: 0.5, critical: 1}
    note_vi: Thử.
  - *one
"""
    with pytest.raises(ValidationError, match="duplicate id"):
        parse_targets(text)


def test_unquoted_unit_code_is_rejected() -> None:
    # YAML reads 02 as the integer 2: the code must be quoted, and an unquoted one is refused.
    text = """
version: "1"
targets:
  - id: unquoted
    indicator: villages_mobile_coverage
    province_code: "08"
    source_province: Hà Giang
    source: {article: 002_043c0eecbb89d818.txt, quote_vi: "98,89%"}
    scope: {units: [02]}
    baseline: {value: 98.89, date: 2024-06-18}
    goal: 100
    deadline: 2025-12-31
    trajectory: linear
    tolerance: {warning: 0.5, critical: 1}
    note_vi: Thử.
"""
    with pytest.raises(ValidationError, match=r"targets\.0\.scope\.units\.0"):
        parse_targets(text)


def test_targets_are_checked_against_the_given_catalogue() -> None:
    shipped = load_catalogue()
    without_coverage = Catalogue.model_validate(
        {
            "version": "test",
            "indicators": [
                i.model_dump(mode="json")
                for i in shipped.indicators
                if i.code != "villages_mobile_coverage"
            ],
        }
    )
    with pytest.raises(ValidationError, match="unknown indicator 'villages_mobile_coverage'"):
        Target.model_validate(
            _target(indicator="villages_mobile_coverage"),
            context={"catalogue": without_coverage},
        )
