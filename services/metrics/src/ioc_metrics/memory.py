"""A plain-Python :class:`~ioc_metrics.core.Store`: the engine's logic without a database.

It mirrors ``pg.PostgresStore`` operation for operation, so the property tests exercise the
same incremental engine the service runs; the integration tests check the SQL twin.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from ioc_common.events import EventKey
from ioc_common.timeutil import Granularity, period_end
from ioc_metrics.core import (
    Ahead,
    Around,
    Change,
    ChildValue,
    Figure,
    FlowDelta,
    Held,
    Own,
    Prior,
    Row,
    RowKey,
    era_floor,
    flow_cell,
)
from ioc_metrics.facts import Fact, Part, era, gran_order, outranks, parent_scope


class MemoryStore:
    def __init__(self) -> None:
        self.events: set[EventKey] = set()
        #: Per flow identity: the held revision and its figure.
        self.flow_facts: dict[tuple[str, str, str], Held] = {}
        self.superseded: dict[Part, int] = {}
        self.stock_paths: dict[str, int] = {}
        self.stock_facts: dict[tuple[str, str, str], Fact] = {}
        self.rows: dict[RowKey, Row] = {}
        self._series: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        self._children: dict[tuple[str, Granularity, str], set[str]] = defaultdict(set)

    async def claim_events(self, keys: Sequence[EventKey]) -> set[EventKey]:
        new = set(keys) - self.events
        self.events |= new
        return new

    async def save_flow_figures(self, figures: Sequence[Figure]) -> list[Held | None]:
        before: list[Held | None] = []
        for figure in figures:
            f = figure.fact
            ident = (f.indicator, f.unit_code, f.fact_key)
            held = self.flow_facts.get(ident)
            before.append(held)
            if held is None or figure.revision > held.revision:
                self.flow_facts[ident] = Held(figure.revision, figure.num, figure.den)
            elif figure.revision == held.revision:
                den = None if held.den is None or figure.den is None else held.den + figure.den
                self.flow_facts[ident] = Held(held.revision, held.num + figure.num, den)
        return before

    async def save_stock_facts(self, facts: Sequence[Fact]) -> list[tuple[Fact, Held | None]]:
        winners: list[tuple[Fact, Held | None]] = []
        for f in facts:
            ident = (f.indicator, f.unit_code, f.fact_key)
            held = self.stock_facts.get(ident)
            if held is None or outranks(f, held):
                self.stock_facts[ident] = f
                self._series[(f.indicator, f.unit_code, f.series)].add(f.fact_key)
                replaced = None if held is None else Held(held.revision, held.num, held.den)
                winners.append((f, replaced))
        return winners

    def _series_facts(self, indicator: str, unit: str, series: str) -> list[Fact]:
        keys = self._series.get((indicator, unit, series), set())
        return [self.stock_facts[(indicator, unit, k)] for k in keys]

    async def stock_series(self, facts: Sequence[Fact]) -> list[Around]:
        out = []
        for f in facts:
            nexts: dict[Granularity, date] = {}
            prior: Fact | None = None
            me = (f.observed_at, gran_order(f.granularity))
            for other in self._series_facts(f.indicator, f.unit_code, f.series):
                at = (other.observed_at, gran_order(other.granularity))
                if at > me:
                    held = nexts.get(other.granularity)
                    if held is None or other.observed_at < held:
                        nexts[other.granularity] = other.observed_at
                elif at < me and (
                    prior is None or at > (prior.observed_at, gran_order(prior.granularity))
                ):
                    prior = other
            before = None
            if prior is not None:
                p = prior
                before = Prior(p.observed_at, p.granularity, p.scope, p.num, p.den)
            out.append(Around(nexts, before))
        return out

    async def stock_cells(self, keys: Sequence[RowKey]) -> dict[RowKey, Ahead]:
        out: dict[RowKey, Ahead] = {}
        for key in keys:
            node = [
                r
                for k, r in self.rows.items()
                if (k.indicator, k.granularity, k.scope)
                == (key.indicator, key.granularity, key.scope)
            ]
            later = any(r.key.period_start > key.period_start for r in node)
            row = self.rows.get(key)
            floor = era_floor(key.period_start, key.granularity)
            earlier = [
                r
                for r in node
                if r.key.period_start < key.period_start
                and period_end(r.key.period_start, r.key.granularity) >= floor
            ]
            base = None
            if row is None and earlier:
                base = max(earlier, key=lambda r: r.key.period_start)
            out[key] = Ahead(row, base, later)
        return out

    async def stored_periods(
        self, ranges: Sequence[tuple[str, Granularity, str, date, date | None]]
    ) -> list[list[date]]:
        # A linear scan: the memory store serves tests, whose stores are small.
        return [
            [
                k.period_start
                for k in self.rows
                if (k.indicator, k.granularity, k.scope) == (indicator, g, scope)
                and k.period_start >= start
                and (until is None or k.period_start < until)
            ]
            for indicator, g, scope, start, until in ranges
        ]

    async def load_rows(self, keys: Sequence[RowKey]) -> dict[RowKey, Row]:
        return {k: self.rows[k] for k in keys if k in self.rows}

    async def stock_own(self, keys: Sequence[RowKey]) -> dict[RowKey, Own]:
        out: dict[RowKey, Own] = {}
        for key in keys:
            end = key.period_end
            latest: dict[str, Fact] = {}
            for f in self.stock_facts.values():
                if (
                    f.indicator != key.indicator
                    or f.scope != key.scope
                    or gran_order(f.granularity) > gran_order(key.granularity)
                    or f.observed_at > end
                    or era(f.observed_at) != era(end)
                ):
                    continue
                held = latest.get(f.series)
                if held is None or (f.observed_at, gran_order(f.granularity)) > (
                    held.observed_at,
                    gran_order(held.granularity),
                ):
                    latest[f.series] = f
            if latest:
                chosen = list(latest.values())
                dens = [f.den for f in chosen if f.den is not None]
                out[key] = Own(
                    num=sum((f.num for f in chosen), Decimal(0)),
                    den=sum(dens, Decimal(0)) if dens else None,
                    reports=len(chosen),
                    fresh=any(f.observed_at >= key.period_start for f in chosen),
                )
        return out

    async def children(self, keys: Sequence[RowKey], carry: bool) -> dict[RowKey, list[ChildValue]]:
        out: dict[RowKey, list[ChildValue]] = {}
        for key in keys:
            values = []
            for child in sorted(
                self._children.get((key.indicator, key.granularity, key.scope), ())
            ):
                if not carry:
                    row = self.rows.get(
                        RowKey(key.indicator, key.granularity, child, key.period_start)
                    )
                else:
                    floor = era_floor(key.period_start, key.granularity)
                    candidates = [
                        r
                        for k, r in self.rows.items()
                        if (k.indicator, k.granularity, k.scope)
                        == (key.indicator, key.granularity, child)
                        and k.period_start <= key.period_start
                        and period_end(k.period_start, k.granularity) >= floor
                    ]
                    row = max(candidates, key=lambda r: r.key.period_start, default=None)
                if row is None or row.num is None:
                    continue
                fresh = row.key.period_start == key.period_start and not row.carried
                values.append(ChildValue(row.num, row.den, fresh))
            out[key] = values
        return out

    async def write_rows(self, rows: Sequence[Row]) -> None:
        for row in rows:
            self.rows[row.key] = row
            parent = parent_scope(row.key.scope)
            if parent:
                self._children[(row.key.indicator, row.key.granularity, parent)].add(row.key.scope)

    async def add_flow_deltas(self, deltas: Sequence[FlowDelta]) -> list[Change]:
        changes = []
        for delta in deltas:
            before = self.rows.get(delta.key)
            row = flow_cell(before, delta)
            await self.write_rows([row])
            if before is None or (row.num, row.den) != (before.num, before.den):
                changes.append(Change(row, before))
        return changes

    async def lock_provinces(self, provinces: Sequence[str]) -> None:
        return None  # one store, one writer
