"""The aggregation engine: exact, incremental, and independent of where rows are stored.

Rows (``metrics_aggregates``) exist for every node of the roll-up tree (commune, district,
province, identified by its *scope* ``province/district/commune``) and every period in which a
fact under that node was observed. For a batch of new facts the engine

1. finds the rows the facts change: for a flow the period containing it at each granularity;
   for a stock also every later stored period until that series' next eligible fact (the span
   its value is carried over), never across the 1 July 2025 reform;
2. recomputes them bottom-up (communes, then districts, then the province), each from its own
   report when it has one (own report wins), else from its children's rows at that period —
   for stocks a child without a row there contributes its latest earlier row (carry-forward).

The engine talks to a :class:`Store`; ``memory.MemoryStore`` is a plain-Python one (used by the
property tests) and ``pg.PostgresStore`` runs the same operations as set-based SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple, Protocol

from ioc_common.events import EventKey
from ioc_common.reference.units import REFORM_DATE, Level
from ioc_common.timeutil import Granularity, coarser_or_equal, period_end, period_start
from ioc_metrics.facts import (
    Fact,
    Part,
    era,
    gran_order,
    scope_code,
    scope_depth,
    scope_level,
)

#: Enum members read through the class are descriptor look-ups: hot loops use these.
_FLOW, _STOCK = Part.FLOW, Part.STOCK
#: Rows of a stock count toward a period only when they lie in the same tree as its end.
_ERA_FLOOR = {0: date.min, 1: REFORM_DATE}


@lru_cache(maxsize=65_536)
def period_end_of(start: date, granularity: Granularity) -> date:
    """``period_end``, cached: every row of a batch asks, and a batch has few periods."""
    return period_end(start, granularity)


@lru_cache(maxsize=65_536)
def periods_of(day: date, granularity: Granularity) -> tuple[tuple[Granularity, date], ...]:
    """(granularity, period start) of every period a figure of ``granularity`` on ``day``
    counts toward, finest first."""
    return tuple((g, period_start(day, g)) for g in coarser_or_equal(granularity))


def era_floor(start: date, granularity: Granularity) -> date:
    """The earliest period end a stock row may have to carry into the period ``start``."""
    return _ERA_FLOOR[era(period_end_of(start, granularity))]


class RowKey(NamedTuple):
    """One aggregate cell; a tuple, so building, hashing and sorting them stays cheap."""

    indicator: str
    granularity: Granularity
    scope: str
    period_start: date

    @property
    def period_end(self) -> date:
        return period_end_of(self.period_start, self.granularity)

    @property
    def level(self) -> Level:
        return scope_level(self.scope)

    @property
    def code(self) -> str:
        return scope_code(self.scope)


@dataclass(frozen=True, slots=True)
class Own:
    """A node's own report for a period: sums over its series, and how many there were."""

    num: Decimal
    den: Decimal | None
    count: int
    fresh: bool  # some of it was observed inside the period (not carried)


@dataclass(frozen=True, slots=True)
class ChildValue:
    num: Decimal
    den: Decimal | None
    fresh: bool


@dataclass(frozen=True, slots=True)
class Row:
    key: RowKey
    own: Own | None
    num: Decimal | None
    den: Decimal | None
    carried: bool
    version: int

    def same_value(self, other: Row | None) -> bool:
        return other is not None and (self.num, self.den) == (other.num, other.den)


class Held(NamedTuple):
    """What the fact store held for a flow identity before a batch's figure."""

    revision: int
    num: Decimal
    den: Decimal | None


@dataclass(frozen=True, slots=True)
class Figure:
    """A provider's flow figure for one identity (provider, indicator, unit, series, period,
    granularity) in a batch: its facts at the batch's highest revision of it, summed (distinct
    reports of one revision add up; lower ones are superseded)."""

    #: The best-ranked of those facts: the identity, scope and time stamps.
    fact: Fact
    num: Decimal
    den: Decimal | None
    facts: int

    @property
    def revision(self) -> int:
        return self.fact.revision


@dataclass(frozen=True, slots=True)
class Change:
    """A row whose value changed (or appeared) in this batch."""

    row: Row
    previous: Row | None


class Store(Protocol):
    """What the engine needs from storage; every call takes a whole batch of work."""

    async def claim_events(self, keys: Sequence[EventKey]) -> set[EventKey]:
        """Record the events (provider, event_id) as processed; return those that were not
        already."""
        ...

    #: Facts ignored because a higher revision (a better rank, for stocks) of their identity
    #: holds, by part; the engine adds to it, the caller reads it after the commit.
    superseded: dict[Part, int]

    async def save_flow_figures(self, figures: Sequence[Figure]) -> list[Held | None]:
        """Store each figure (one per identity): a higher revision than the held one replaces
        it, the same revision adds to it, a lower one changes nothing. Return, per figure, what
        was held before (None: nothing)."""
        ...

    async def save_stock_facts(self, facts: Sequence[Fact]) -> list[Fact]:
        """Keep each identity's highest-ranked fact; return the facts that now win."""
        ...

    async def later_stock_dates(self, facts: Sequence[Fact]) -> list[dict[Granularity, date]]:
        """For each fact, the first later fact of its series, per granularity."""
        ...

    async def stored_periods(
        self, ranges: Sequence[tuple[str, Granularity, str, date, date | None]]
    ) -> list[list[date]]:
        """Per (indicator, granularity, scope, from, until): stored period starts in
        ``[from, until)`` (``until`` None: no bound)."""
        ...

    async def load_rows(self, keys: Sequence[RowKey]) -> dict[RowKey, Row]: ...

    async def stock_own(self, keys: Sequence[RowKey]) -> dict[RowKey, Own]:
        """The node's own stock report as of each period's end (latest fact per series)."""
        ...

    async def children(self, keys: Sequence[RowKey], carry: bool) -> dict[RowKey, list[ChildValue]]:
        """The rows of each key's children at its period (or, with ``carry``, their latest
        row at or before it within the same tree)."""
        ...

    async def write_rows(self, rows: Sequence[Row]) -> None: ...

    async def lock_provinces(self, provinces: Sequence[str]) -> None:
        """Hold each province (sorted: no deadlock) until the transaction ends, before anything
        a province's cells are made of is read: replicas share those cells, and one that read
        the children before another committed would overwrite the other's change."""
        ...


def resolve_stock(facts: Sequence[Fact]) -> list[Fact]:
    """One fact per identity: the highest revision, then latest received_at, then event_id."""
    best: dict[tuple[str, str, str], Fact] = {}
    for fact in facts:
        ident = (fact.indicator, fact.unit_code, fact.fact_key)
        held = best.get(ident)
        if held is None or fact.rank > held.rank:
            best[ident] = fact
    return list(best.values())


class Delta(NamedTuple):
    """A change of a node's own flow report: value (or numerator), denominator, and how many
    identities it adds (0 when it corrects one already counted)."""

    num: Decimal
    den: Decimal | None
    identities: int


def flow_figures(facts: Sequence[Fact]) -> tuple[list[Figure], int]:
    """One figure per flow identity: the sum of its facts at their highest revision; also how
    many facts a higher revision in the same batch superseded."""
    groups: dict[tuple[str, str, str], list[Fact]] = defaultdict(list)
    for fact in facts:
        groups[(fact.indicator, fact.unit_code, fact.fact_key)].append(fact)
    figures: list[Figure] = []
    superseded = 0
    for group in groups.values():
        top = max(f.revision for f in group)
        kept = [f for f in group if f.revision == top]
        superseded += len(group) - len(kept)
        dens = [f.den for f in kept if f.den is not None]
        figures.append(
            Figure(
                max(kept, key=lambda f: f.rank),
                sum((f.num for f in kept), Decimal(0)),
                sum(dens, Decimal(0)) if dens else None,
                len(kept),
            )
        )
    return figures, superseded


def flow_delta(figure: Figure, held: Held | None) -> Delta | None:
    """How a figure changes its identity's contribution: all of it when new, added to a held
    figure of the same revision, (new − old) when it replaces a lower revision, nothing (None)
    when a higher revision is held."""
    if held is None:
        return Delta(figure.num, figure.den, 1)
    if figure.revision < held.revision:
        return None
    if figure.revision == held.revision:
        return Delta(figure.num, figure.den, 0)
    den = None if figure.den is None else figure.den - (held.den or Decimal(0))
    return Delta(figure.num - held.num, den, 0)


def combine(
    key: RowKey, own: Own | None, children: Sequence[ChildValue]
) -> tuple[Decimal | None, Decimal | None, bool]:
    """A node's value: its own report when it has one, else the sum of its children's."""
    if own is not None and own.count > 0:
        return own.num, own.den, not own.fresh
    if not children:
        return None, None, True
    num = sum((c.num for c in children), Decimal(0))
    dens = [c.den for c in children if c.den is not None]
    den = sum(dens, Decimal(0)) if dens else None
    return num, den, not any(c.fresh for c in children)


async def apply_facts(store: Store, facts: Sequence[Fact]) -> list[Change]:
    """Fold new facts (of events not seen before) into the stored rows; return the changes."""
    flows = [f for f in facts if f.part is _FLOW]
    all_stocks = [f for f in facts if f.part is _STOCK]
    stocks = resolve_stock(all_stocks)
    figures, superseded = flow_figures(flows)
    held = await store.save_flow_figures(figures) if figures else []
    winners = await store.save_stock_facts(stocks) if stocks else []
    if all_stocks:
        store.superseded[_STOCK] = store.superseded.get(_STOCK, 0) + len(all_stocks) - len(winners)

    dirty: dict[tuple[str, Granularity, str], set[date]] = defaultdict(set)
    flow_add: dict[RowKey, list[Delta]] = defaultdict(list)
    for figure, before in zip(figures, held, strict=True):
        delta = flow_delta(figure, before)
        if delta is None:
            superseded += figure.facts
            continue
        f = figure.fact
        indicator, scopes = f.indicator, f.scopes
        # One identity, one delta per period it counts toward (day → month → quarter → year).
        for g, start in periods_of(f.observed_at, f.granularity):
            for scope in scopes:
                dirty[(indicator, g, scope)].add(start)
            flow_add[RowKey(indicator, g, f.scope, start)].append(delta)
    if flows:
        store.superseded[_FLOW] = store.superseded.get(_FLOW, 0) + superseded

    touched = {f.scopes[0] for f in winners} | {fig.fact.scopes[0] for fig in figures}
    if touched:
        await store.lock_provinces(sorted(touched))
    ranges: list[tuple[str, Granularity, str, date, date | None]] = []
    later = await store.later_stock_dates(winners) if winners else []
    for f, nexts in zip(winners, later, strict=True):
        for g, start in periods_of(f.observed_at, f.granularity):
            if era(period_end_of(start, g)) != era(f.observed_at):
                continue  # a pre-reform stock does not count toward a period ending after it
            bounds = [d for fg, d in nexts.items() if gran_order(fg) <= gran_order(g)]
            if era(f.observed_at) == 0:
                bounds.append(REFORM_DATE)
            until = min(bounds) if bounds else None
            for scope in f.scopes:
                dirty[(f.indicator, g, scope)].add(start)
                if until is None or until > start + timedelta(days=1):
                    ranges.append((f.indicator, g, scope, start, until))
    if ranges:
        # Facts of one node and period ask for the same span: look each up once.
        unique = list(dict.fromkeys(ranges))
        for (indicator, g, scope, _, _), starts in zip(
            unique, await store.stored_periods(unique), strict=True
        ):
            dirty[(indicator, g, scope)].update(starts)

    parts = {f.indicator: f.part for f in (*flows, *stocks)}
    by_depth: dict[int, list[RowKey]] = {3: [], 2: [], 1: []}
    for (indicator, g, scope), periods in dirty.items():
        depth_keys = by_depth[scope_depth(scope)]
        for start in periods:
            depth_keys.append(RowKey(indicator, g, scope, start))
    changes: list[Change] = []
    for depth in (3, 2, 1):
        # Sorted: concurrent consumers then lock shared rows in the same order.
        keys = sorted(by_depth[depth])
        if not keys:
            continue
        old = await store.load_rows(keys)
        stock_keys = [k for k in keys if parts[k.indicator] is _STOCK]
        flow_keys = [k for k in keys if parts[k.indicator] is _FLOW]
        owns: dict[RowKey, Own] = await store.stock_own(stock_keys) if stock_keys else {}
        kids: dict[RowKey, list[ChildValue]] = {}
        if depth < 3:
            if stock_keys:
                kids.update(await store.children(stock_keys, carry=True))
            if flow_keys:
                kids.update(await store.children(flow_keys, carry=False))
        written: list[Row] = []
        for key in keys:
            previous = old.get(key)
            own = (
                owns.get(key)
                if parts[key.indicator] is _STOCK
                else _flow_own(previous, flow_add.get(key, ()))
            )
            num, den, carried = combine(key, own, kids.get(key, ()))
            if previous is not None:
                same = num == previous.num and den == previous.den
                if same and carried == previous.carried:
                    if own != previous.own:
                        # bookkeeping only: no new version
                        written.append(Row(key, own, num, den, carried, previous.version))
                    continue
                row = Row(key, own, num, den, carried, previous.version + 1)
            else:
                same = False
                row = Row(key, own, num, den, carried, 1)
            written.append(row)
            if not same:
                changes.append(Change(row, previous))
        if written:
            await store.write_rows(written)
    return changes


def _flow_own(previous: Row | None, added: Sequence[Delta]) -> Own | None:
    base = previous.own if previous is not None else None
    if not added:
        return base
    num = sum((d.num for d in added), base.num if base else Decimal(0))
    dens = [d.den for d in added if d.den is not None]
    den = base.den if base is not None else None
    if dens:
        den = sum(dens, den if den is not None else Decimal(0))
    return Own(num, den, (base.count if base else 0) + sum(d.identities for d in added), True)


async def apply_events(
    store: Store, batch: Sequence[tuple[EventKey, Sequence[Fact]]]
) -> tuple[list[Change], int]:
    """Claim the batch's events — (provider, event_id), never the id alone, so one provider
    cannot silence another — and fold in the facts of those never processed before.

    Returns the changed rows and how many events were new."""
    first: dict[EventKey, Sequence[Fact]] = {}
    for key, facts in batch:
        first.setdefault(key, facts)
    if not first:
        return [], 0
    new = await store.claim_events(list(first))
    facts = [f for eid, facts in first.items() if eid in new for f in facts]
    return await apply_facts(store, facts), len(new)


@dataclass(frozen=True, slots=True)
class PeriodValue:
    period_start: date
    num: Decimal | None
    den: Decimal | None
    carried: bool


def value_at(
    rows: Sequence[PeriodValue], start: date, granularity: Granularity, part: Part
) -> PeriodValue | None:
    """A node's value for one period from its stored rows (summed over paths, sorted by start):
    the row of that period, or for a stock the latest earlier one in the same tree, carried."""
    best: PeriodValue | None = None
    for row in rows:
        if row.period_start == start:
            return row
        if row.period_start < start:
            best = row
    if part is Part.FLOW or best is None:
        return None
    if period_end(best.period_start, granularity) < era_floor(start, granularity):
        return None
    return PeriodValue(start, best.num, best.den, True)


def sum_paths(rows: Sequence[Row]) -> list[PeriodValue]:
    """Rows of one node (several only when a year straddles the reform), merged per period."""
    by_start: dict[date, list[Row]] = defaultdict(list)
    for row in rows:
        by_start[row.key.period_start].append(row)
    out = []
    for start in sorted(by_start):
        group = [r for r in by_start[start] if r.num is not None]
        if not group:
            continue
        dens = [r.den for r in group if r.den is not None]
        out.append(
            PeriodValue(
                start,
                sum((r.num for r in group if r.num is not None), Decimal(0)),
                sum(dens, Decimal(0)) if dens else None,
                all(r.carried for r in group),
            )
        )
    return out
