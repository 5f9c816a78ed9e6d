"""The stock path as deltas: a batch of stock facts that are the latest of their series moves
each cell by a delta (``core._apply_stock_deltas``) and ends exactly where the exact path and
the naive reference end; any other batch takes the exact path."""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ioc_common.catalogue import load_catalogue
from ioc_common.db import create_engine
from ioc_common.db.migrate import downgrade, upgrade
from ioc_common.events import Family, decode_telemetry, event_key
from ioc_common.kafka.admin import ensure_topics
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.reference.units import REFORM_DATE, unit_tree
from ioc_common.timeutil import Granularity
from ioc_common.topics import telemetry_topic
from ioc_metrics.app import create_app
from ioc_metrics.config import MetricsSettings
from ioc_metrics.core import Around, Held, Prior, apply_events, stock_delta
from ioc_metrics.db import pg_transaction
from ioc_metrics.facts import Fact, Part, facts_of
from ioc_metrics.pg import PostgresStore
from services.metrics.tests.checks import compared_with_reference
from services.metrics.tests.running import publish, wait_consumed
from services.metrics.tests.streams import PROVINCE, units
from services.metrics.tests.test_aggregation_matches_reference import (
    UNITS,
    compare,
    observed,
    run_engine,
    valid,
)
from services.metrics.tests.test_postgres_store_matches_reference import _run_on_postgres

#: Days after the reform, in the periods the reference compares (``compare``).
LIVE_DAYS = [date(2025, 7, 1), date(2025, 7, 2), date(2025, 8, 15), date(2025, 9, 30),
             date(2025, 10, 1), date(2025, 11, 30), date(2025, 12, 31)]  # fmt: skip
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def stocks_in_time_order(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Stock reports as they arrive live: each newer than the last, some re-sent, some
    corrected at once by a higher revision, with a flow now and then beside them."""
    out: list[dict[str, Any]] = []
    days = sorted(draw(st.lists(st.sampled_from(LIVE_DAYS), min_size=1, max_size=25)))
    for i, day in enumerate(days):
        gran = draw(st.sampled_from(["day", "day", "month", "month", "quarter"]))
        units = [u for u in UNITS if valid(u, day)]
        event: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "unit_code": draw(st.sampled_from(units)),
            "observed_at": observed(day, gran),
            "received_at": (BASE_TIME + timedelta(minutes=i)).isoformat(),
            "source": "dept-a",
            "revision": 1,
        }
        kind = draw(st.sampled_from(["bts", "open_datasets", "households", "flow"]))
        if kind == "bts":
            total = draw(st.integers(0, 50))
            event |= {"family": "bts", "payload": {
                "operator": draw(st.sampled_from(["Viettel", "VNPT"])), "technology": "4G",
                "sites": draw(st.integers(0, 40)), "villages_total": total,
                "villages_covered": draw(st.integers(0, total))}}  # fmt: skip
        elif kind == "open_datasets":
            event |= {"family": "observation", "indicator": "open_datasets",
                      "payload": {"value": draw(st.sampled_from([0, 3, 4.5, 12]))}}  # fmt: skip
        elif kind == "households":
            event |= {"family": "observation", "indicator": "households_fixed_broadband",
                      "payload": {"numerator": draw(st.sampled_from([0, 2, 5.5])),
                                  "denominator": draw(st.sampled_from([2, 6, 10]))}}  # fmt: skip
        else:
            event |= {"family": "observation", "indicator": "dossiers_online",
                      "payload": {"value": draw(st.sampled_from([1, 2.5]))}}  # fmt: skip
        out.append(event)
        if draw(st.integers(0, 4)) == 0:
            out.append(dict(event))  # re-sent
        if draw(st.integers(0, 4)) == 0:  # corrected: same figure, a higher revision
            fixed = {**event, "event_id": str(uuid.uuid4()), "revision": 2}
            if "value" in event["payload"]:
                fixed["payload"] = {"value": 7}
            out.append(fixed)
    return out


def _cuts(data: st.DataObject, stream: list[dict[str, Any]]) -> list[int]:
    if data.draw(st.booleans()):
        return list(range(len(stream)))
    return sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=stocks_in_time_order(), data=st.data())
def test_stocks_in_time_order_take_the_delta_path_and_equal_the_reference(
    stream: list[dict[str, Any]], data: st.DataObject
) -> None:
    cuts = _cuts(data, stream)
    store = asyncio.run(run_engine(stream, cuts))
    compare(stream, store.rows)
    if cuts == list(range(len(stream))) and any(
        e.get("indicator") != "dossiers_online" for e in stream
    ):
        # One event a batch: the first stock report at least is the latest of everything.
        assert store.stock_paths.get("delta", 0) > 0, store.stock_paths


def test_the_live_stream_takes_the_delta_path_for_every_batch() -> None:
    """The common case, counted: monthly reports of this month from several communes and
    operators, re-reported (corrected) later in the month, batches never spanning months. A
    batch holds two operators' series of one commune: their deltas add up in its cells."""
    events = []
    for month in range(7, 13):
        day = date(2025, month, 1)
        units = [u for u in UNITS if valid(u, day) and len(u) == 5]
        for i in range(6):
            events.append({
                "event_id": str(uuid.uuid4()), "unit_code": units[i // 2], "family": "bts",
                "observed_at": observed(day, "month"), "source": "dept-a", "revision": 1,
                "received_at": (BASE_TIME + timedelta(days=month, minutes=i)).isoformat(),
                "payload": {"operator": ("Viettel", "VNPT")[i % 2], "technology": "4G",
                            "sites": month + i, "villages_total": 10,
                            "villages_covered": i}})  # fmt: skip
    cuts = list(range(2, len(events), 3))  # three reports a batch
    store = asyncio.run(run_engine(events, cuts))
    compare(events, store.rows)
    assert store.stock_paths == {"delta": len(events) // 3}


def _fact(day: date, gran: Granularity = Granularity.MONTH) -> Fact:
    return Fact("bts_sites", Part.STOCK, "02233", "08/071/02233", "Viettel|4G", day, gran,
                Decimal(5), None, 1, BASE_TIME, uuid.uuid4(), "", f"k|{day}|{gran}")  # fmt: skip


def test_a_fact_with_a_later_one_in_its_series_needs_the_exact_path() -> None:
    later = Around({Granularity.MONTH: date(2025, 9, 1)}, None)
    assert stock_delta(_fact(date(2025, 8, 1)), None, later) is None


def test_a_fact_before_the_reform_needs_the_exact_path() -> None:
    assert stock_delta(_fact(date(2025, 6, 1)), None, Around({}, None)) is None


def test_an_earlier_coarser_report_of_the_series_needs_the_exact_path() -> None:
    prior = Prior(date(2025, 7, 1), Granularity.QUARTER, "08/071/02233", Decimal(9), None)
    assert stock_delta(_fact(date(2025, 8, 1)), None, Around({}, prior)) is None


def test_a_fact_moves_its_node_by_what_it_replaces() -> None:
    fact = _fact(date(2025, 8, 1))
    prior = Prior(date(2025, 7, 1), Granularity.MONTH, "08/071/02233", Decimal(3), None)
    # The series' earlier report stays counted until this one: the delta is the difference.
    assert stock_delta(fact, None, Around({}, prior)) == (Decimal(2), None, 0)
    # The same identity at a lower revision: replaced, the same difference.
    assert stock_delta(fact, Held(1, Decimal(4), None), Around({}, None)) == (Decimal(1), None, 0)
    # A new series: all of it, and one more report.
    assert stock_delta(fact, None, Around({}, None)) == (Decimal(5), None, 1)
    # Only pre-reform reports before it: they do not count after the reform.
    old = prior._replace(observed_at=REFORM_DATE - timedelta(days=1))
    assert stock_delta(fact, None, Around({}, old)) == (Decimal(5), None, 1)


@pytest.mark.connected
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(stream=stocks_in_time_order(), data=st.data())
def test_postgres_takes_the_delta_path_and_equals_the_reference(
    fresh_database_url: str, stream: list[dict[str, Any]], data: st.DataObject
) -> None:
    paths: dict[str, int] = {}
    cuts = _cuts(data, stream)
    rows = asyncio.run(_run_on_postgres(fresh_database_url, stream, cuts, paths))
    compare(stream, rows)
    if cuts == list(range(len(stream))) and any(
        e.get("indicator") != "dossiers_online" for e in stream
    ):
        assert paths.get("delta", 0) > 0, paths


@pytest.mark.connected
async def test_migration_0017_gives_existing_stock_cells_their_children_sums(
    fresh_database_url: str,
) -> None:
    """Stock cells written before the change keep no children's sum; the migration computes
    it as the exact path does (carried children included), so deltas can follow."""
    events = [
        {"event_id": str(uuid.uuid4()), "unit_code": unit, "family": "bts", "source": "dept-a",
         "observed_at": observed(day, "month"), "revision": 1,
         "received_at": BASE_TIME.isoformat(),
         "payload": {"operator": "VNPT", "technology": "4G", "sites": n,
                     "villages_total": 9, "villages_covered": 3}}
        for n, (unit, day) in enumerate(
            [("02266", date(2025, 7, 2)), ("02269", date(2025, 8, 15)),
             ("02296", date(2025, 8, 15)), ("02266", date(2025, 10, 1))])
    ]  # fmt: skip
    query = (
        "SELECT scope, granularity, period_start, kid_num, kid_den FROM metrics_aggregates"
        " WHERE indicator = 'bts_sites' AND kid_num IS NOT NULL ORDER BY 1, 2, 3"
    )
    engine = create_engine(fresh_database_url)
    try:
        async with pg_transaction(engine) as conn:
            batch = []
            for raw in events:
                event = decode_telemetry(json.dumps(raw))
                batch.append((event_key(event), facts_of(event, load_catalogue(), unit_tree())))
            await apply_events(PostgresStore(conn), batch)
            kept = [tuple(r) for r in await conn.fetch(query)]
            await conn.execute("UPDATE metrics_aggregates SET kid_num = NULL, kid_den = NULL")
        await asyncio.to_thread(downgrade, fresh_database_url, "0016")
        await asyncio.to_thread(upgrade, fresh_database_url)
        async with pg_transaction(engine) as conn:
            after = [tuple(r) for r in await conn.fetch(query)]
    finally:
        await engine.dispose()
    # Carried: district 071's October month holds the other communes' August reports.
    assert ("08/071", "month", date(2025, 10, 1), Decimal(3 + 1 + 2), None) in kept
    assert len(kept) > 10
    assert after == kept


KAFKA_YEAR = 2042  # a year no other test of this database uses


def _monthly_reports(seed: int) -> list[dict[str, Any]]:
    """Six months of monthly stock reports from every reporter of the test province, in the
    order a live month brings them: each month's after the last's, some corrected later in
    the month (a higher revision), some re-sent."""
    rng = random.Random(seed)
    districts, communes = units(PROVINCE, KAFKA_YEAR)
    out: list[dict[str, Any]] = []
    for month in range(1, 7):
        at = datetime(KAFKA_YEAR, month, 1, tzinfo=UTC)
        for i, unit in enumerate(communes + districts + [PROVINCE]):
            common = {"unit_code": unit, "observed_at": f"{KAFKA_YEAR}-{month:02d}",
                      "source": "dept-a", "revision": 1}  # fmt: skip
            reports: list[dict[str, Any]] = [
                {**common, "family": "bts", "payload": {
                    "operator": operator, "technology": technology,
                    "sites": rng.randrange(60), "villages_total": 20,
                    "villages_covered": rng.randrange(21)}}
                for operator in ("Viettel", "VNPT") for technology in ("4G", "5G")
            ] + [
                {**common, "family": "observation", "indicator": "open_datasets",
                 "payload": {"value": rng.randrange(30)}},
                {**common, "family": "observation", "indicator": "households_fixed_broadband",
                 "payload": {"numerator": rng.randrange(50), "denominator": 50}},
            ]  # fmt: skip
            for event in reports:
                event |= {"event_id": str(uuid.uuid4()),
                          "received_at": (at + timedelta(minutes=i)).isoformat()}  # fmt: skip
                out.append(event)
                if rng.random() < 0.2:
                    fixed = {
                        **event,
                        "event_id": str(uuid.uuid4()),
                        "revision": 2,
                        "received_at": (at + timedelta(days=3, minutes=i)).isoformat(),
                    }
                    if "value" in event["payload"]:
                        fixed["payload"] = {"value": rng.randrange(30)}
                    out.append(fixed)
                if rng.random() < 0.05:
                    out.append(dict(event))
    return out


@pytest.mark.connected
async def test_monthly_reports_through_kafka_take_the_delta_path_and_equal_the_reference(
    kafka_bootstrap: str, fresh_database_url: str
) -> None:
    stream = _monthly_reports(seed=42)
    run = uuid.uuid4().hex[:8]
    topic_of = {f: f"test.stockdeltas.{run}.{telemetry_topic(Family(f))}" for f in
                ("bts", "observation")}  # fmt: skip
    await ensure_topics(kafka_bootstrap, list(topic_of.values()), partitions=1)
    records = [
        OutgoingRecord(topic_of[e["family"]], json.dumps(e).encode(), key=e["unit_code"])
        for e in stream
    ]
    group = f"metrics-stockdeltas-{run}"
    settings = MetricsSettings(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=fresh_database_url,
        group_id=group, poll_timeout_ms=100, batch_size=20, topics=tuple(topic_of.values()),
    )  # fmt: skip
    app = create_app(settings)
    engine = create_engine(fresh_database_url)
    try:
        async with app.router.lifespan_context(app):
            await wait_consumed(engine, group, await publish(kafka_bootstrap, records), 120)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://m") as client:
                exposition = (await client.get("/metrics")).text
        cells, differences = await compared_with_reference(engine, stream, PROVINCE, KAFKA_YEAR)
    finally:
        await engine.dispose()
    assert cells > 500
    assert differences == []
    paths = dict(re.findall(r'ioc_metrics_stock_batches_total\{path="(\w+)"\} (\S+)', exposition))
    # Batches within a month take the delta path; those spanning two, the exact one.
    assert float(paths["delta"]) >= 5, paths
