"""The administrative-unit reference data, its loader and its generator."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import runpy
import time
from collections import Counter, defaultdict
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from ioc_common.reference.units import (
    REFORM_DATE,
    Level,
    UnitTree,
    UnknownUnitError,
    unit_tree,
)

BEFORE = date(2024, 1, 1)
AFTER = date(2025, 8, 1)
LAST_LEGACY_DAY = date(2025, 6, 30)

DATA_FILES = ("units_legacy.csv", "units_2025.csv", "crosswalk_2025.csv", "admin_units_meta.json")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_admin_units.py"

TUYEN_QUANG_DISTRICTS = {
    "070": "Thành phố Tuyên Quang",
    "071": "Huyện Lâm Bình",
    "072": "Huyện Na Hang",
    "073": "Huyện Chiêm Hóa",
    "074": "Huyện Hàm Yên",
    "075": "Huyện Yên Sơn",
    "076": "Huyện Sơn Dương",
}
HA_GIANG_DISTRICTS = {"024", *(f"{n:03d}" for n in range(26, 36))}


def _data(name: str) -> str:
    return resources.files("ioc_common.reference").joinpath("data", name).read_text("utf-8")


def _csv(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_data(name), newline="")))


@pytest.fixture(scope="module")
def tree() -> UnitTree:
    return unit_tree()


@pytest.fixture(scope="module")
def meta() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_data("admin_units_meta.json"))
    return loaded


# --- Tuyên Quang, the pilot province ---


def test_tuyen_quang_before_reform_has_its_seven_districts(tree: UnitTree) -> None:
    districts = tree.districts_of_province("08", BEFORE)
    assert {d.code: d.name for d in districts} == TUYEN_QUANG_DISTRICTS
    assert all(d.level is Level.DISTRICT and d.parent_code == "08" for d in districts)
    assert tree.require("08", BEFORE).name == "Tỉnh Tuyên Quang"


def test_tuyen_quang_communes_match_the_snapshot(tree: UnitTree, meta: dict[str, Any]) -> None:
    communes = [c for d in TUYEN_QUANG_DISTRICTS for c in tree.children(d, BEFORE)]
    # 138 in a 2022 count; the snapshot has 137 after the 2023-2025 mergers.
    assert len(communes) == 137
    assert all(c.level is Level.COMMUNE for c in communes)
    assert meta["snapshot"]["date"] == "2025-08-23"
    assert "2023-2025" in meta["snapshot"]["description"]
    assert meta["source"]["package"] == "vietnamadminunits"
    assert meta["source"]["version"] == "1.0.4"
    assert meta["source"]["license"] == "MIT"
    assert tree.meta == meta


def test_tuyen_quang_after_reform_aggregates_former_ha_giang(tree: UnitTree) -> None:
    former = {d.code for d in tree.districts_of_province("08", AFTER)}
    assert former == set(TUYEN_QUANG_DISTRICTS) | HA_GIANG_DISTRICTS
    assert tree.require("08", AFTER).name == "Tỉnh Tuyên Quang"
    assert tree.districts_of_province("02", LAST_LEGACY_DAY)
    assert tree.get("02", AFTER) is None  # Hà Giang is gone


# --- both trees ---


def test_province_counts_switch_on_the_reform_date(tree: UnitTree, meta: dict[str, Any]) -> None:
    assert len(tree.provinces(LAST_LEGACY_DAY)) == 63
    assert len(tree.provinces(REFORM_DATE)) == 34
    assert len(tree.provinces(BEFORE)) == 63
    assert len(tree.provinces(AFTER)) == 34
    assert meta["versions"]["legacy"]["valid_to"] == "2025-06-30"
    assert meta["versions"]["2025"]["valid_from"] == REFORM_DATE.isoformat()
    assert meta["versions"]["2025"]["valid_to"] is None
    sentinel = date.fromisoformat(meta["versions"]["legacy"]["valid_from"])
    assert tree.provinces(sentinel)
    assert tree.provinces(date(2008, 7, 31)) == []


@pytest.mark.parametrize(
    ("file", "on", "above"),
    [
        (
            "units_legacy.csv",
            BEFORE,
            {Level.DISTRICT: Level.PROVINCE, Level.COMMUNE: Level.DISTRICT},
        ),
        ("units_2025.csv", AFTER, {Level.COMMUNE: Level.PROVINCE}),
    ],
)
def test_every_parent_exists_one_level_up(
    tree: UnitTree, meta: dict[str, Any], file: str, on: date, above: dict[Level, Level]
) -> None:
    rows = _csv(file)
    codes = Counter(row["code"] for row in rows)
    assert [c for c, n in codes.items() if n > 1] == []  # no duplicate (code, version)
    version = next(v for v in meta["versions"].values() if v["file"] == file)
    assert dict(Counter(row["level"] for row in rows)) == version["counts"]
    for row in rows:
        unit = tree.require(row["code"], on)
        assert (unit.name, unit.level.value) == (row["name"], row["level"])
        if unit.level is Level.PROVINCE:
            assert unit.parent_code is None
            continue
        assert unit.parent_code is not None
        parent = tree.require(unit.parent_code, on)
        assert parent.level is above[unit.level], unit


def test_codes_are_reused_across_versions(tree: UnitTree) -> None:
    assert tree.require("00004", BEFORE).name == "Phường Trúc Bạch"
    assert tree.require("00004", AFTER).name == "Phường Ba Đình"
    assert tree.require("08", BEFORE).valid_to == LAST_LEGACY_DAY
    assert tree.require("08", AFTER).valid_from == REFORM_DATE


# --- crosswalk and former districts ---


def test_crosswalk_covers_every_legacy_commune(tree: UnitTree, meta: dict[str, Any]) -> None:
    legacy = {r["code"] for r in _csv("units_legacy.csv") if r["level"] == "commune"}
    successors: dict[str, list[str]] = defaultdict(list)
    for row in _csv("crosswalk_2025.csv"):
        successors[row["legacy_commune_code"]].append(row["new_commune_code"])
        assert row["is_split"] in {"0", "1"}
    assert set(successors) == legacy
    split = 0
    for old, news in successors.items():
        is_split = len(news) > 1
        split += is_split
        assert tree.successors(old) == [(n, is_split) for n in sorted(news)]
        for new in news:
            assert tree.require(new, REFORM_DATE).level is Level.COMMUNE
    assert split == meta["crosswalk"]["split_legacy_communes"] > 0
    assert tree.successors("00688") == [("00691", True), ("00694", True)]
    assert tree.successors("00004") == [("00004", False)]


def test_island_districts_without_communes_have_a_successor(
    tree: UnitTree, meta: dict[str, Any]
) -> None:
    islands = meta["whole_district_successors"]
    assert islands["318"] == "11948"  # Bạch Long Vĩ
    for district, new in islands.items():
        assert tree.require(district, BEFORE).level is Level.DISTRICT
        assert tree.children(district, BEFORE) == []
        assert tree.successors(district) == [(new, False)]
        assert tree.require(new, AFTER).former_district_code == district


def test_former_district_is_the_majority_of_predecessors(
    tree: UnitTree, meta: dict[str, Any]
) -> None:
    district_of_legacy = {
        r["code"]: r["parent_code"] for r in _csv("units_legacy.csv") if r["level"] == "commune"
    }
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for row in _csv("crosswalk_2025.csv"):
        votes[row["new_commune_code"]][district_of_legacy[row["legacy_commune_code"]]] += 1
    whole = {new: district for district, new in meta["whole_district_successors"].items()}

    communes = [r for r in _csv("units_2025.csv") if r["level"] == "commune"]
    assert len(communes) == meta["versions"]["2025"]["counts"]["commune"]
    ties = 0
    for row in communes:
        code, former = row["code"], row["former_district_code"]
        if code in whole:
            assert code not in votes
            expected = whole[code]
        else:
            best = max(votes[code].values())
            candidates = sorted(d for d, n in votes[code].items() if n == best)
            ties += len(candidates) > 1
            expected = candidates[0]
        assert former == expected, code
        assert tree.require(former, LAST_LEGACY_DAY).level is Level.DISTRICT
        assert tree.require(code, AFTER).former_district_code == former
    assert ties == meta["former_district_ties"]
    for row in _csv("units_2025.csv"):
        if row["level"] == "province":
            assert row["former_district_code"] == ""


# --- roll_up, district_of, contains ---


def test_roll_up_of_a_legacy_commune_and_district(tree: UnitTree) -> None:
    commune = tree.children("071", BEFORE)[0]
    expected = {Level.COMMUNE: commune.code, Level.DISTRICT: "071", Level.PROVINCE: "08"}
    assert tree.roll_up(commune.code, BEFORE) == expected
    assert tree.roll_up("071", BEFORE) == {Level.DISTRICT: "071", Level.PROVINCE: "08"}
    assert tree.roll_up("08", BEFORE) == {Level.PROVINCE: "08"}
    assert tree.district_of(commune.code, BEFORE) == "071"
    assert tree.district_of("071", BEFORE) == "071"
    assert tree.district_of("08", BEFORE) is None


def test_roll_up_of_a_former_ha_giang_commune_now_in_tuyen_quang(tree: UnitTree) -> None:
    # Phường Hà Giang 1 took in communes of Thành phố Hà Giang (024), province 02 until the reform.
    assert tree.require("00694", AFTER).name == "Phường Hà Giang 1"
    assert tree.require("024", LAST_LEGACY_DAY).parent_code == "02"
    path = tree.roll_up("00694", AFTER)
    assert path == {Level.COMMUNE: "00694", Level.DISTRICT: "024", Level.PROVINCE: "08"}
    assert tree.district_of("00694", AFTER) == "024"
    assert tree.roll_up("024", AFTER) == {Level.DISTRICT: "024", Level.PROVINCE: "08"}
    assert tree.get("024", AFTER) is None  # the district itself no longer exists
    assert "00694" in {c.code for c in tree.children("024", AFTER)}
    assert tree.roll_up("08", AFTER) == {Level.PROVINCE: "08"}


def test_contains_follows_the_district_key(tree: UnitTree) -> None:
    own = tree.children("071", BEFORE)[0].code
    foreign = tree.children("070", BEFORE)[0].code
    assert tree.contains("071", own, BEFORE)
    assert not tree.contains("071", foreign, BEFORE)
    assert tree.contains("071", "071", BEFORE)
    assert tree.contains("08", own, BEFORE)
    assert not tree.contains(own, "071", BEFORE)
    # After the reform: by former district, and former Hà Giang districts sit under 08.
    assert tree.contains("024", "00694", AFTER)
    assert not tree.contains("070", "00694", AFTER)
    assert tree.contains("08", "00694", AFTER)
    assert tree.contains("08", "024", AFTER)
    with pytest.raises(UnknownUnitError):
        tree.contains("02", "00694", AFTER)


def test_unknown_codes_name_the_code_and_the_date(tree: UnitTree) -> None:
    with pytest.raises(UnknownUnitError, match=r"'99999' on 2024-01-01") as caught:
        tree.require("99999", BEFORE)
    assert isinstance(caught.value, LookupError)
    assert (caught.value.code, caught.value.on) == ("99999", BEFORE)
    with pytest.raises(UnknownUnitError, match=r"'02' on 2025-08-01"):
        tree.roll_up("02", AFTER)
    with pytest.raises(UnknownUnitError, match="former district"):
        tree.require("071", AFTER)
    with pytest.raises(UnknownUnitError, match="'00694' on 2008-07-31"):
        tree.children("00694", date(2008, 7, 31))
    with pytest.raises(UnknownUnitError, match="'12345'"):
        tree.successors("12345")
    assert tree.get("99999", BEFORE) is None


def test_datetimes_are_refused(tree: UnitTree) -> None:
    with pytest.raises(TypeError, match="date"):
        tree.get("08", datetime(2025, 7, 1, 1, 0))


def test_load_is_fast_and_cached() -> None:
    started = time.perf_counter()
    UnitTree.load()
    assert time.perf_counter() - started < 2.0  # ~0.15 s here; generous for slow CI
    assert unit_tree() is unit_tree()


# --- the generator ---


def test_generator_reproduces_the_committed_files(tmp_path: Path, meta: dict[str, Any]) -> None:
    if importlib.util.find_spec("vietnamadminunits") is None:
        pytest.skip("vietnamadminunits (a dev extra) is not installed")
    build = runpy.run_path(str(SCRIPT))["build"]
    written = build(tmp_path, generated_on=date.fromisoformat(meta["generated_on"]))
    assert written == meta
    for name in DATA_FILES:
        committed = resources.files("ioc_common.reference").joinpath("data", name).read_bytes()
        assert (tmp_path / name).read_bytes() == committed, name


# --- the crosswalk as a feature: unit_history, re-used codes, merged provinces, `ioc units`


def test_a_merged_province_covers_its_predecessors_before_the_reform() -> None:
    from ioc_common.reference.units import within

    before, after = date(2024, 5, 1), date(2025, 8, 1)
    assert within("08", "02", before)  # Hà Giang's own series, for 08 Tuyên Quang
    assert within("08", "024", before)  # …its districts
    assert within("08", "00688", before)  # …and communes
    assert within("08", "02")  # a code of no particular date (an operator's scope check)
    assert within("44", "45", before)  # 44 Quảng Trị absorbed the former 45 Quảng Trị
    assert not within("08", "01", before)
    assert not within("02", "08", before)  # a former province does not reach the new one
    assert not within("02", "070", before)
    assert within("02", "00691", after)  # …but keeps its own area through the new codes


def test_unit_history_names_successors_predecessors_and_re_used_codes() -> None:
    from ioc_common.reference.units import unit_history

    history = unit_history("00691")
    old, new = history.versions
    assert (old.unit.name, new.unit.name) == ("Phường Trần Phú", "Phường Hà Giang 2")
    assert [(s.code, s.is_split) for s in old.successors] == [("00691", False)]
    assert ("00688", True) in [(p.code, p.is_split) for p in new.predecessors]
    assert history.reused
    assert history.warning_vi is not None
    assert "Trần Phú" in history.warning_vi
    # Renamed without merging (Thừa Thiên Huế → Huế) or grown under its name: not re-used.
    assert not unit_history("46").reused
    assert not unit_history("08").reused
    assert unit_history("44").reused  # Quảng Bình's code, now Quảng Trị's
    assert [p.code for p in unit_history("08").versions[1].predecessors] == ["02", "08"]


def test_ioc_units_show(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from ioc_common.cli import main

    assert main(["units", "show", "00688", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    [legacy] = shown["versions"]
    assert [(s["code"], s["is_split"]) for s in legacy["successors"]] == [
        ("00691", True),
        ("00694", True),
    ]
    assert main(["units", "show", "00691"]) == 0
    text = capsys.readouterr().out
    assert "Phường Hà Giang 2" in text
    assert "re-used" in text
    assert main(["units", "show", "99999"]) == 1
    assert "no administrative unit" in capsys.readouterr().err
