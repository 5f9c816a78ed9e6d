"""Freshness rows: per (indicator, unit), the times of its latest fact (observed, then
received), however families' events and observations of one indicator interleave."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from ioc_common.timeutil import Granularity
from ioc_metrics.facts import Fact, Part
from ioc_metrics.processor import Latest

T0 = datetime(2026, 3, 1, tzinfo=UTC)
#: Events as their indicator lists: two families (each indicator derives from one) and
#: observations naming one indicator, some of them a family's.
SHAPES = (("a", "b"), ("c",), ("a",), ("b",), ("d",))


def event(indicators: tuple[str, ...], unit: str, day: int, second: int) -> list[Fact]:
    observed, received = date(2026, 3, day), T0 + timedelta(seconds=second)
    return [
        Fact(
            i,
            Part.FLOW,
            unit,
            f"08/071/{unit}",
            "",
            observed,
            Granularity.DAY,
            Decimal(1),
            None,
            1,
            received,
            uuid.uuid4(),
            "p",
            f"|{observed}|p",
        )
        for i in indicators
    ]


def rank(f: Fact) -> tuple[date, datetime]:
    return f.observed_at, f.received_at


def naive(events: list[list[Fact]]) -> dict[tuple[str, str], tuple[str, str]]:
    best: dict[tuple[str, str], Fact] = {}
    for facts in events:
        for f in facts:
            held = best.get((f.indicator, f.unit_code))
            if held is None or rank(f) > rank(held):
                best[(f.indicator, f.unit_code)] = f
    return {k: (f.observed_at.isoformat(), f.received_at.isoformat()) for k, f in best.items()}


def test_rows_hold_each_indicators_latest_fact() -> None:
    rng = random.Random(7)
    for _ in range(200):
        events = [
            event(
                rng.choice(SHAPES),
                rng.choice(("02200", "02233")),
                rng.randint(1, 3),
                rng.randint(0, 5),
            )
            for _ in range(rng.randint(1, 12))
        ]
        latest = Latest()
        latest.add(events)
        rows = latest.rows()
        assert rows is not None
        got = {
            (r["indicator"], r["unit_code"]): (r["observed_at"], r["received_at"])
            for r in json.loads(rows)
        }
        assert got == naive(events)
