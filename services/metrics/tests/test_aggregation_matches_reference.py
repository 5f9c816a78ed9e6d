"""Property: whatever the order, duplication, lateness or revision of events, the engine's
aggregates equal the naive reference at every level, granularity and period."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ioc_common.catalogue import load_catalogue
from ioc_common.events import EventKey, decode_telemetry, event_key
from ioc_common.reference.units import UnknownUnitError, unit_tree
from ioc_common.timeutil import Granularity
from ioc_metrics.core import (
    Row,
    RowKey,
    apply_events,
    first_of_each,
    plan_facts,
    sum_paths,
    value_at,
)
from ioc_metrics.facts import Part, facts_of, part_of
from ioc_metrics.memory import MemoryStore
from services.metrics.tests.naive_reference import period_of, resolve, value

# Tuyên Quang communes, districts and the province, plus Hà Giang's district 024, whose
# communes roll up into province 02 before the 2025 reform and into 08 after it.
UNITS = ["08", "071", "072", "02233", "02242", "02266", "02221", "024", "00691", "00688", "02"]
DAYS = [
    date(2024, 12, 31),
    date(2025, 1, 1),
    date(2025, 2, 14),
    date(2025, 3, 31),
    date(2025, 6, 30),
    date(2025, 7, 1),
    date(2025, 7, 2),
    date(2025, 9, 30),
    date(2025, 10, 1),
]
INDICATORS = ["dossiers_online", "e_documents_signed_rate", "open_datasets",
              "households_fixed_broadband"]  # fmt: skip
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def observed(day: date, gran: str) -> str:
    start, _ = period_of(day, gran)
    return {
        "day": start.isoformat(),
        "month": f"{start:%Y-%m}",
        "quarter": f"{start.year}-Q{(start.month - 1) // 3 + 1}",
        "year": f"{start.year}",
    }[gran]


def valid(unit: str, day: date) -> bool:
    try:
        unit_tree().roll_up(unit, day)
    except UnknownUnitError:
        return False
    return True


@st.composite
def events(draw: st.DrawFn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    n = draw(st.integers(1, 30))
    for _ in range(n):
        day = draw(st.sampled_from(DAYS))
        gran = draw(st.sampled_from(["day", "day", "month", "quarter", "year"]))
        start, _ = period_of(day, gran)
        units = [u for u in UNITS if valid(u, start)]
        unit = draw(st.sampled_from(units))
        family = draw(st.sampled_from(["observation", "observation", "bts"]))
        event: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=draw(st.integers(0, 2**64)))),
            "unit_code": unit,
            "observed_at": observed(day, gran),
            "received_at": (BASE_TIME + timedelta(minutes=draw(st.integers(0, 5)))).isoformat(),
            # Two providers: their flows for one unit and period add up, each its own figure.
            "source": draw(st.sampled_from(["dept-a", "dept-a", "dept-b"])),
            "revision": draw(st.integers(1, 3)),
            "family": family,
        }
        if family == "bts":
            total = draw(st.integers(0, 50))
            event["payload"] = {
                "operator": draw(st.sampled_from(["Viettel", "VNPT"])),
                "technology": "4G",
                "sites": draw(st.integers(0, 40)),
                "villages_total": total,
                "villages_covered": draw(st.integers(0, total)),
            }
        else:
            code = draw(st.sampled_from(INDICATORS))
            event["indicator"] = code
            if load_catalogue().require(code).is_ratio:
                den = draw(st.sampled_from([1, 3, 10, 7.5, 0.1]))
                event["payload"] = {"numerator": draw(st.sampled_from([0, 1, 2.5, 0.1, 7])),
                                    "denominator": den}  # fmt: skip
            else:
                event["payload"] = {"value": draw(st.sampled_from([0, 1, 2, 0.1, 0.2, 1e6]))}
        out.append(event)
    # Re-sent duplicates (same event_id) and corrections (same figure, another revision — a
    # higher one replaces, a lower or equal one may arrive late: the permutation below).
    for _ in range(draw(st.integers(0, 6))):
        out.append(dict(draw(st.sampled_from(out))))
    for _ in range(draw(st.integers(0, 6))):
        base = draw(st.sampled_from(out))
        fixed = {**base, "event_id": str(uuid.uuid4()), "revision": draw(st.integers(1, 4))}
        if base["family"] == "observation" and "value" in base["payload"]:
            fixed["payload"] = {"value": draw(st.sampled_from([0, 3, 4.5]))}
        elif base["family"] == "observation":
            fixed["payload"] = {"numerator": draw(st.sampled_from([0, 2, 5.5])),
                                "denominator": draw(st.sampled_from([2, 6, 0.5]))}  # fmt: skip
        out.append(fixed)
    # The same event_id from another provider is another event.
    for _ in range(draw(st.integers(0, 2))):
        base = draw(st.sampled_from(out))
        out.append({**base, "source": "dept-c"})
    return draw(st.permutations(out))


async def run_engine(
    stream: list[dict[str, Any]], cuts: list[int], *, planned: bool = False
) -> MemoryStore:
    """The stream through the engine in batches cut after ``cuts``. ``planned``: each batch
    with a plan built ahead, as the processor does, guessing that none of its events is a copy
    (a wrong guess where the stream re-sends one: the engine must build the plan anew)."""
    store = MemoryStore()
    catalogue, tree = load_catalogue(), unit_tree()
    batch: list[tuple[EventKey, list[Any]]] = []

    async def apply() -> None:
        first = first_of_each(batch)
        facts = [f for fs in first.values() for f in fs]
        plan = plan_facts(facts, frozenset(first)) if planned else None
        await apply_events(store, batch, plan)

    for i, raw in enumerate(stream):
        event = decode_telemetry(json.dumps(raw))
        batch.append((event_key(event), facts_of(event, catalogue, tree)))
        if i in cuts:
            await apply()
            batch = []
    await apply()
    return store


def periods_to_check(gran: str) -> list[date]:
    if gran == "day":
        return sorted({d + timedelta(days=k) for d in DAYS for k in (0, 1)})
    starts: set[date] = set()
    day = date(2024, 12, 1)
    while day <= date(2025, 12, 31):
        starts.add(period_of(day, gran)[0])
        day += timedelta(days=27)
    return sorted(starts)


def compare(stream: list[dict[str, Any]], stored: dict[RowKey, Row]) -> int:
    facts = resolve(stream)
    nodes = {(lvl, code) for f in facts for lvl, code in f.path.items()}
    checked = 0
    for indicator in {f.indicator for f in facts}:
        part = part_of(load_catalogue().require(indicator))
        for gran in ("day", "month", "quarter", "year"):
            for level, code in nodes:
                rows = sorted(
                    (r for k, r in stored.items()
                     if (k.indicator, k.granularity, k.level.value, k.code)
                     == (indicator, Granularity(gran), level, code)),
                    key=lambda r: r.key.period_start,
                )  # fmt: skip
                merged = sum_paths(rows)
                for start in periods_to_check(gran):
                    expected = value(facts, indicator, gran, start, level, code)
                    got = value_at(merged, start, Granularity(gran), part)
                    actual = None if got is None else (got.num, got.den, got.carried)
                    where = f"{indicator} {gran} {start} {level} {code}"
                    assert actual == expected, where
                    checked += 1
    return checked


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=events(), data=st.data())
def test_engine_equals_naive_reference(stream: list[dict[str, Any]], data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=5))
    if data.draw(st.booleans()):
        # One event per batch: every correction then meets its earlier revision in the store.
        cuts = list(range(len(stream)))
    store = asyncio.run(run_engine(stream, cuts, planned=data.draw(st.booleans())))
    compare(stream, store.rows)


def test_flow_and_stock_parts_of_the_catalogue() -> None:
    # The engine supports ratios whose parts are both flows or both stocks: every catalogue one.
    kinds = {part_of(i) for i in load_catalogue().indicators}
    assert kinds == {Part.FLOW, Part.STOCK}
