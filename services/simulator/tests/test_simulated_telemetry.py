"""The simulator's telemetry is valid, reproducible, and shows what the demo needs: lagging
districts and one district that stops reporting."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from ioc_common.events import TELEMETRY_ADAPTER
from ioc_common.reference.units import unit_tree
from ioc_simulator.generator import history, live_tick, monthly_reports
from ioc_simulator.profile import PROVINCE_BTS_SITES, ProvinceProfile

PROFILE = ProvinceProfile(silent_from=date(2026, 9, 1))
START, END = date(2025, 4, 1), date(2026, 10, 31)


def envelope(sub: dict[str, Any]) -> dict[str, Any]:
    return sub | {"received_at": datetime.now(UTC), "source": "simulator"}


def test_every_event_is_valid_and_inside_the_province_on_its_date() -> None:
    tree = unit_tree()
    events = list(history(PROFILE, START, END, seed=7))
    assert len(events) > 10_000
    for sub in events:
        event = TELEMETRY_ADAPTER.validate_python(envelope(sub))
        assert tree.contains("08", event.unit_code, event.observed_at), sub


def test_history_uses_districts_before_the_reform_and_communes_after() -> None:
    before = {e["unit_code"] for e in monthly_reports(PROFILE, date(2025, 5, 1), seed=1)}
    after = {e["unit_code"] for e in monthly_reports(PROFILE, date(2025, 8, 1), seed=1)}
    assert before == {"070", "071", "072", "073", "074", "075", "076"}
    assert len(after) > 100
    assert all(len(code) == 5 for code in after)


def test_same_seed_same_events_so_a_rerun_is_all_duplicates() -> None:
    first = list(history(PROFILE, START, START, seed=3))
    again = list(history(PROFILE, START, START, seed=3))
    other = list(history(PROFILE, START, START, seed=4))
    assert first == again
    assert {e["event_id"] for e in first}.isdisjoint({e["event_id"] for e in other})


def test_province_bts_sites_start_from_the_reported_1060() -> None:
    may_2022 = monthly_reports(PROFILE, date(2022, 5, 1), seed=1)
    sites = sum(e["payload"]["sites"] for e in may_2022 if e["family"] == "bts")
    assert abs(sites - PROVINCE_BTS_SITES) <= 0.05 * PROVINCE_BTS_SITES


def test_lagging_districts_process_fewer_dossiers_online() -> None:
    # Ratio of sums per district and month, as the metrics service computes it.
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    tree = unit_tree()
    for sub in history(PROFILE, START, END, seed=5):
        if sub["family"] != "public_service":
            continue
        day = TELEMETRY_ADAPTER.validate_python(envelope(sub)).observed_at
        district = tree.district_of(sub["unit_code"], day) or ""
        cell = sums[(district, sub["observed_at"])]
        cell[0] += sub["payload"]["dossiers_processed_online"]
        cell[1] += sub["payload"]["dossiers_total"]
    rate: dict[bool, list[float]] = defaultdict(list)
    for (district, _), (processed, total) in sums.items():
        rate[district in PROFILE.lagging].append(processed / total)
    assert max(rate[True]) < 0.6
    assert min(rate[False]) > 0.8


def test_the_silent_district_stops_reporting() -> None:
    tree = unit_tree()
    silent = [
        e
        for e in history(PROFILE, date(2026, 9, 1), END, seed=1)
        if tree.district_of(e["unit_code"], date(2026, 9, 1)) == "076"
    ]
    earlier = [
        e
        for e in history(PROFILE, date(2026, 8, 1), date(2026, 8, 31), seed=1)
        if tree.district_of(e["unit_code"], date(2026, 8, 1)) == "076"
    ]
    assert silent == []
    assert earlier


def test_live_ticks_are_new_increments_each_time() -> None:
    today = date(2026, 11, 22)
    one = live_tick(PROFILE, today, tick=1, events=20, seed=1)
    two = live_tick(PROFILE, today, tick=2, events=20, seed=1)
    assert len(one) == 20
    assert {e["event_id"] for e in one}.isdisjoint({e["event_id"] for e in two})
    for sub in one:
        TELEMETRY_ADAPTER.validate_python(envelope(sub))
