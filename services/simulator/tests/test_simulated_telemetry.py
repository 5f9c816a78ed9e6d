"""The simulator's telemetry is valid, reproducible, and shows what the demo needs: lagging
districts and one district that stops reporting."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from ioc_common.catalogue import load_catalogue
from ioc_common.events import TELEMETRY_ADAPTER
from ioc_common.reference.units import unit_tree
from ioc_simulator.generator import STOCK_REFRESH_EVERY, history, live_tick, monthly_reports
from ioc_simulator.profile import FIGURES, PROVINCE_BTS_SITES, ProvinceProfile

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
    # The province reports its province-wide systems' figures itself, before and after.
    before = {e["unit_code"] for e in monthly_reports(PROFILE, date(2025, 5, 1), seed=1)}
    after = {e["unit_code"] for e in monthly_reports(PROFILE, date(2025, 8, 1), seed=1)}
    assert before == {"08", "070", "071", "072", "073", "074", "075", "076"}
    assert len(after) > 100
    assert all(len(code) == 5 for code in after - {"08"})


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
    assert 20 <= len(one) < 20 + 7  # whole bursts of one unit: 2 dossier counts, 5 channels
    assert {e["event_id"] for e in one}.isdisjoint({e["event_id"] for e in two})
    for sub in one:
        TELEMETRY_ADAPTER.validate_python(envelope(sub))


def indicators_fed(events: list[dict[str, Any]]) -> set[str]:
    """The catalogue indicators a batch of submissions gives figures for (as the metrics
    service derives them: every indicator of an event's family, or an observation's own)."""
    catalogue = load_catalogue()
    fed: set[str] = set()
    for sub in events:
        if sub["family"] == "observation":
            fed.add(sub["indicator"])
        else:
            fed |= {
                i.code for i in catalogue.derived_from(sub["family"]) if not i.source.is_observation
            }
    return fed


def test_every_catalogue_indicator_gets_figures_every_month() -> None:
    catalogue = load_catalogue()
    for month in (date(2025, 5, 1), date(2026, 10, 1)):
        assert indicators_fed(monthly_reports(PROFILE, month, seed=1)) == set(catalogue.codes)


def test_ratio_figures_are_shares_and_stocks_are_plausible() -> None:
    catalogue = load_catalogue()
    events = monthly_reports(PROFILE, date(2026, 10, 1), seed=2)
    province: dict[str, float] = defaultdict(float)
    for sub in events:
        if sub["family"] != "observation":
            continue
        indicator = catalogue.require(sub["indicator"])
        payload = sub["payload"]
        if indicator.is_ratio:
            assert 0 <= payload["numerator"] <= payload["denominator"], sub
            # Nobody is at 0 % or exactly where a sloppy generator would put everyone.
            assert 0.05 < payload["numerator"] / payload["denominator"] <= 1, sub
        else:
            assert payload["value"] > 0, sub
            province[sub["indicator"]] += payload["value"]
    # Sums over the province keep the reports' orders of magnitude.
    assert 1_500 < province["villages_fibre"] < 2_500
    assert 150 < province["postal_service_points"] < 260
    assert 500 < province["services_on_national_portal"] < 2_000


def test_live_ticks_hear_from_every_district_that_reports_and_refresh_stocks() -> None:
    today = date(2026, 11, 22)
    tree = unit_tree()
    heard: set[str] = set()
    refreshed: set[str] = set()
    for tick in range(1, 3 * STOCK_REFRESH_EVERY + 1):
        for sub in live_tick(PROFILE, today, tick=tick, events=5, seed=1):
            heard.add(tree.district_of(sub["unit_code"], today) or sub["unit_code"])
            if sub["family"] in ("bts", "observation"):
                assert sub["observed_at"] == today.isoformat()
                refreshed.add(str(sub.get("indicator", sub["family"])))
    districts = {d.code for d in tree.districts_of_province("08", today)}
    assert heard >= districts - {"076"}
    assert "076" not in heard  # the silent district stays silent
    stocks = {code for code, figure in FIGURES.items() if not figure.flow}
    assert refreshed == {"bts"} | stocks


def test_the_province_keeps_a_few_dozen_villages_without_signal_after_the_reform() -> None:
    # Hà Giang 06/2024: 23 villages without signal; the merged province keeps white spots,
    # spread over its small communes too (a per-unit rounding would lose them all).
    uncovered = {
        e["unit_code"]: e["payload"]["villages_total"] - e["payload"]["villages_covered"]
        for e in monthly_reports(PROFILE, date(2026, 10, 1), seed=3)
        if e["family"] == "bts"
    }
    assert 5 <= sum(uncovered.values()) <= 60
    assert len(uncovered) > 100


def test_live_dossiers_keep_the_lagging_districts_behind() -> None:
    # The running month is judged on the live increments alone: they must keep the rates.
    today = date(2026, 11, 22)
    tree = unit_tree()
    sums: dict[bool, list[int]] = {True: [0, 0], False: [0, 0]}
    for tick in range(1, 60):
        for sub in live_tick(PROFILE, today, tick=tick, events=5, seed=4):
            if sub["family"] == "public_service":
                lagging = tree.district_of(sub["unit_code"], today) in PROFILE.lagging
                sums[lagging][0] += sub["payload"]["dossiers_processed_online"]
                sums[lagging][1] += sub["payload"]["dossiers_total"]
    assert sums[True][0] / sums[True][1] < 0.6
    assert sums[False][0] / sums[False][1] > 0.8
