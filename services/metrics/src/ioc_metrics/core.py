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

Every cell keeps its own report and its children's sum apart, so the common cases move cells
by deltas instead of recomputing them: every flow batch (additions commute), and a stock batch
whose facts are the latest of their series (``_apply_stock_deltas``). The exact recomputation
above (``_apply_stocks_exactly``) serves the other stock batches and is what the property
tests hold both to, beside the naive reference.

The engine talks to a :class:`Store`; ``memory.MemoryStore`` is a plain-Python one (used by the
property tests) and ``pg.PostgresStore`` runs the same operations as set-based SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
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
    outranks,
    parent_scope,
    scope_code,
    scope_depth,
    scope_level,
    scopes_of,
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


class Own(NamedTuple):
    """A node's own report for a period: sums over its series, and how many there were.
    (Tuples, not dataclasses: a batch builds tens of thousands of these.)"""

    num: Decimal
    den: Decimal | None
    reports: int  #: series (stocks) or identities (flows) in it
    fresh: bool  # some of it was observed inside the period (not carried)


class ChildValue(NamedTuple):
    num: Decimal
    den: Decimal | None
    fresh: bool


class Row(NamedTuple):
    key: RowKey
    own: Own | None
    num: Decimal | None
    den: Decimal | None
    carried: bool
    version: int
    #: A flow cell's sum of its children's values (its value when it has no own report).
    kid_num: Decimal | None = None
    kid_den: Decimal | None = None


class Held(NamedTuple):
    """What the fact store held for a flow identity before a batch's figure."""

    revision: int
    num: Decimal
    den: Decimal | None


class Prior(NamedTuple):
    """A stock series' latest fact before another one (``Store.stock_series``)."""

    observed_at: date
    granularity: Granularity
    scope: str
    num: Decimal
    den: Decimal | None


class Around(NamedTuple):
    """What a winning stock fact's series holds around it."""

    #: The first later fact of the series, per granularity.
    later: dict[Granularity, date]
    #: The series' latest fact before it (observed time, then granularity), if any.
    prior: Prior | None


class Ahead(NamedTuple):
    """A stock cell as the delta path finds it (``Store.stock_cells``)."""

    row: Row | None
    #: With no row: the node's latest earlier row within the same tree (what readers see
    #: carried into the period), if any.
    base: Row | None
    #: Whether the node has a stored period after this one.
    later: bool


class Figure(NamedTuple):
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


class Change(NamedTuple):
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

    #: Stock batches by the path they took ("delta", "exact"); the caller reads it after the
    #: commit.
    stock_paths: dict[str, int]

    async def save_stock_facts(self, facts: Sequence[Fact]) -> list[tuple[Fact, Held | None]]:
        """Keep each identity's highest-ranked fact; return the facts that now win, each with
        the fact of its identity it replaced (None: the identity is new)."""
        ...

    async def stock_series(self, facts: Sequence[Fact]) -> list[Around]:
        """For each fact, what its series holds around it: the first later fact per
        granularity, and the latest earlier one."""
        ...

    async def stock_cells(self, keys: Sequence[RowKey]) -> dict[RowKey, Ahead]:
        """Each stock cell's row, or its base when it has none, and whether a later period of
        its node is stored."""
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

    async def add_flow_deltas(self, deltas: Sequence[FlowDelta]) -> list[Change]:
        """Apply :func:`flow_cell` to each delta's cell (creating it); return the cells that
        are new or whose value changed, each with its value before."""
        ...

    async def lock_provinces(self, provinces: Sequence[str]) -> None:
        """Hold each province (sorted: no deadlock) until the transaction ends, before anything
        a province's cells are made of is read: replicas share those cells, and one that read
        the children before another committed would overwrite the other's change."""
        ...


class Delta(NamedTuple):
    """A change of a node's own flow report: value (or numerator), denominator, and how many
    identities it adds (0 when it corrects one already counted)."""

    num: Decimal
    den: Decimal | None
    identities: int


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


def children_sum(children: Sequence[ChildValue]) -> tuple[Decimal | None, Decimal | None, bool]:
    """The children's values summed (None: no child has one), and whether one is fresh."""
    if not children:
        return None, None, False
    num = sum((c.num for c in children), Decimal(0))
    dens = [c.den for c in children if c.den is not None]
    den = sum(dens, Decimal(0)) if dens else None
    return num, den, any(c.fresh for c in children)


def combine(
    own: Own | None, kid_num: Decimal | None, kid_den: Decimal | None, kid_fresh: bool
) -> tuple[Decimal | None, Decimal | None, bool]:
    """A node's value and carried flag: its own report when it has one, else the sum of its
    children's (carried unless a child is fresh)."""
    if own is not None and own.reports > 0:
        return own.num, own.den, not own.fresh
    if kid_num is None:
        return None, None, True
    return kid_num, kid_den, not kid_fresh


@dataclass(frozen=True, slots=True)
class Plan:
    """What folding a set of events' facts takes that needs no stored state: one figure per
    flow identity, one fact per stock identity. Built ahead of the batch's transaction (the
    processor does it while the previous batch commits) for the events expected to be new;
    :func:`apply_events` uses it only when the claim finds exactly those events new."""

    #: The events whose facts these are.
    events: frozenset[EventKey]
    figures: list[Figure]
    #: Flow facts a higher revision of their identity in the same facts superseded.
    superseded: int
    #: The highest-ranked fact of each stock identity, and how many stock facts there were.
    stocks: list[Fact]
    stock_facts: int


#: ``Figure`` without its generated ``__new__`` (a Python function): ``PlanBuilder.add``
#: builds one per flow fact.
_new_figure = tuple.__new__


class PlanBuilder:
    """Folds facts into a :class:`Plan` as they come, in one pass: the processor folds a
    batch slice by slice between its yields to the event loop.

    Flows: one figure per identity, the sum of its facts at their highest revision (distinct
    reports of one revision add up, the best-ranked speaks for them; lower ones are
    superseded). Stocks: one fact per identity, the highest-ranked (revision, then latest
    received_at, then event_id)."""

    __slots__ = ("figures", "stock_facts", "stocks", "superseded")

    def __init__(self) -> None:
        self.figures: dict[tuple[str, str, str], Figure] = {}
        self.stocks: dict[tuple[str, str, str], Fact] = {}
        self.stock_facts = 0
        self.superseded = 0

    def add(self, facts: Iterable[Fact]) -> None:
        figures, stocks = self.figures, self.stocks
        stock_facts = superseded = 0
        for fact in facts:
            ident = (fact.indicator, fact.unit_code, fact.fact_key)
            if fact.part is _STOCK:
                stock_facts += 1
                best = stocks.get(ident)
                if best is None or outranks(fact, best):
                    stocks[ident] = fact
                continue
            held = figures.get(ident)
            if held is None:
                figures[ident] = _new_figure(Figure, (fact, fact.num, fact.den, 1))
                continue
            top = held.fact
            if fact.revision > top.revision:
                superseded += held.facts
                figures[ident] = _new_figure(Figure, (fact, fact.num, fact.den, 1))
            elif fact.revision < top.revision:
                superseded += 1
            else:
                if outranks(fact, top):
                    top = fact
                figures[ident] = _new_figure(
                    Figure, (top, held.num + fact.num, add_den(held.den, fact.den), held.facts + 1)
                )
        self.stock_facts += stock_facts
        self.superseded += superseded

    def plan(self, events: frozenset[EventKey]) -> Plan:
        """The plan of the facts added, which are these events' facts."""
        return Plan(
            events,
            list(self.figures.values()),
            self.superseded,
            list(self.stocks.values()),
            self.stock_facts,
        )


def plan_facts(facts: Iterable[Fact], events: frozenset[EventKey] = frozenset()) -> Plan:
    """The :class:`Plan` of these facts, of these events."""
    builder = PlanBuilder()
    builder.add(facts)
    return builder.plan(events)


async def apply_facts(store: Store, facts: Sequence[Fact]) -> list[Change]:
    """Fold new facts (of events not seen before) into the stored rows; return the changes."""
    return await apply_plan(store, plan_facts(facts))


def cell_deltas(deltas: Iterable[tuple[Fact, Delta]]) -> dict[RowKey, Delta]:
    """Per cell of the facts' own nodes, the sum of the deltas of the facts that count toward
    it: one per period a fact counts toward (day → month → quarter → year). Summed per node
    and period first, then spread over the periods once per node: a node's identities and
    series share its cells."""
    by_node: dict[tuple[str, str, date, Granularity], Delta] = {}
    for f, delta in deltas:
        node = (f.indicator, f.scope, f.observed_at, f.granularity)
        added = by_node.get(node)
        by_node[node] = delta if added is None else add_deltas(added, delta)
    cells: dict[RowKey, Delta] = {}
    for (indicator, scope, observed_at, granularity), delta in by_node.items():
        for g, start in periods_of(observed_at, granularity):
            cell = RowKey(indicator, g, scope, start)
            added = cells.get(cell)
            cells[cell] = delta if added is None else add_deltas(added, delta)
    return cells


async def apply_plan(store: Store, plan: Plan) -> list[Change]:
    """Fold a plan of new facts into the stored rows; return the changes."""
    figures, superseded = plan.figures, plan.superseded
    held = await store.save_flow_figures(figures) if figures else []

    deltas: list[tuple[Fact, Delta]] = []
    for figure, before in zip(figures, held, strict=True):
        delta = flow_delta(figure, before)
        if delta is None:
            superseded += figure.facts
        else:
            deltas.append((figure.fact, delta))
    flow_add = cell_deltas(deltas)
    if figures:
        store.superseded[_FLOW] = store.superseded.get(_FLOW, 0) + superseded
    # Flows first: they take only row locks, in one global order (communes, districts, the
    # province; sorted within), and never wait for a province lock while holding rows.
    changes = await _apply_flow_deltas(store, flow_add) if flow_add else []
    if plan.stocks:
        changes += await _apply_stocks(store, plan)
    return changes


async def _apply_flow_deltas(store: Store, flow_add: dict[RowKey, Delta]) -> list[Change]:
    """Add the batch's deltas level by level: each cell's own-report delta, and the change of
    its children's values (known from the level below) to its children's sum. No read-back:
    additions commute, so replicas sharing a cell need no lock beyond the row's own."""
    own_by_depth: dict[int, dict[RowKey, Delta]] = {3: {}, 2: {}, 1: {}}
    for key, delta in flow_add.items():
        own_by_depth[scope_depth(key.scope)][key] = delta
    changes: list[Change] = []
    kids: dict[RowKey, Delta] = {}
    for depth in (3, 2, 1):
        own = own_by_depth[depth]
        # Sorted: concurrent consumers then lock shared rows in the same order.
        keys = sorted(own.keys() | kids.keys())
        if not keys:
            continue
        changed = await store.add_flow_deltas([FlowDelta(k, own.get(k), kids.get(k)) for k in keys])
        changes += changed
        kids = {}
        for change in changed:
            key = change.row.key
            parent = parent_scope(key.scope)
            if parent:
                up = RowKey(key.indicator, key.granularity, parent, key.period_start)
                step = value_change(change)
                held = kids.get(up)
                kids[up] = step if held is None else add_deltas(held, step)
    return changes


async def _apply_stocks(store: Store, plan: Plan) -> list[Change]:
    """Save the plan's stock facts and change the cells the winners touch, under the
    provinces' locks (every stock write of a province holds it: what a transaction reads of
    them stays true until it commits). A batch whose winners are all the latest of their
    series, in periods that are the latest stored, takes the delta path; any other, the
    exact one."""
    await store.lock_provinces(sorted({f.scopes[0] for f in plan.stocks}))
    wins = await store.save_stock_facts(plan.stocks)
    store.superseded[_STOCK] = store.superseded.get(_STOCK, 0) + plan.stock_facts - len(wins)
    if not wins:
        return []
    winners = [f for f, _ in wins]
    around = await store.stock_series(winners)
    changes = await _apply_stock_deltas(store, wins, around)
    path = "exact" if changes is None else "delta"
    store.stock_paths[path] = store.stock_paths.get(path, 0) + 1
    if changes is None:
        changes = await _apply_stocks_exactly(store, winners, [a.later for a in around])
    return changes


def stock_delta(fact: Fact, replaced: Held | None, around: Around) -> Delta | None:
    """How a winning stock fact moves its node's own report in every cell it counts toward,
    when that is all it changes; None when the exact path must decide. It is all when the
    fact is the latest of its series (no later fact) after the reform, and its series'
    contribution before it is one value for each of those cells: the fact it replaced, or the
    series' latest earlier fact if that counts toward all of them (same tree, and no coarser
    granularity than this fact's), or nothing."""
    if around.later or fact.observed_at < REFORM_DATE:
        return None
    if replaced is not None:
        old_num, old_den = replaced.num, replaced.den
    else:
        prior = around.prior
        if prior is None or prior.observed_at < REFORM_DATE:
            return Delta(fact.num, fact.den, 1)
        if gran_order(prior.granularity) > gran_order(fact.granularity):
            return None
        if prior.scope != fact.scope:
            return None
        old_num, old_den = prior.num, prior.den
    den = None if fact.den is None else fact.den - (old_den or Decimal(0))
    return Delta(fact.num - old_num, den, 0)


class KidsDelta(NamedTuple):
    """What a stock cell's children's sum moves by, and whether a child of it is now fresh."""

    delta: Delta
    fresh: bool


def stock_cell(
    key: RowKey, ahead: Ahead, own: Delta | None, kids: KidsDelta | None
) -> tuple[Row, Row]:
    """The stock rule for a cell the delta path changes, once: (the row after, the row it
    starts from). With no row in the period it starts as its base carried into it (no own
    series observed in the period, no child fresh in it) or empty; the own report takes the
    own delta (fresh: the fact was observed in the period), the children's sum the kids'.
    The value is the own report when the unit has one, else the children's sum; the version
    moves when the value or its carried flag does."""
    before = ahead.row
    if before is not None:
        start = before
    elif ahead.base is not None:
        base = ahead.base
        carried_own = None if base.own is None else base.own._replace(fresh=False)
        start = Row(key, carried_own, base.num, base.den, True, 0, base.kid_num, base.kid_den)
    else:
        start = Row(key, None, None, None, True, 0)
    held = start.own
    if own is None:
        new_own = held
    elif held is None:
        new_own = Own(own.num, own.den, own.identities, True)
    else:
        new_own = Own(
            held.num + own.num, add_den(held.den, own.den), held.reports + own.identities, True
        )
    kid_num: Decimal | None = start.kid_num
    kid_den = start.kid_den
    if kids is not None:
        d = kids.delta
        kid_num = d.num if kid_num is None else kid_num + d.num
        kid_den = add_den(kid_den, d.den)
    num: Decimal | None
    if new_own is not None and new_own.reports > 0:
        num, den, carried = new_own.num, new_own.den, not new_own.fresh
    else:
        num, den = kid_num, kid_den
        carried = False if kids is not None and kids.fresh else start.carried
    if before is None:
        version = 1
    else:
        version = before.version + ((num, den, carried) != (before.num, before.den, before.carried))
    return Row(key, new_own, num, den, carried, version, kid_num, kid_den), start


async def _apply_stock_deltas(
    store: Store, wins: Sequence[tuple[Fact, Held | None]], around: Sequence[Around]
) -> list[Change] | None:
    """The stock path as deltas: each winner's own delta into the cells of its node, each
    cell's change into its parent's children's sum, bottom-up, written in one statement.
    None (nothing written) when a winner or a cell needs the exact path: a node with a
    stored period after the batch's, or with two periods of one granularity in the batch."""
    deltas: list[tuple[Fact, Delta]] = []
    for (fact, replaced), where in zip(wins, around, strict=True):
        delta = stock_delta(fact, replaced, where)
        if delta is None:
            return None
        deltas.append((fact, delta))
    own_add = cell_deltas(deltas)
    path = {
        RowKey(k.indicator, k.granularity, node, k.period_start)
        for k in own_add
        for node in scopes_of(k.scope)
    }
    # Sorted: concurrent consumers then lock shared rows in the same order.
    keys = sorted(path)
    if len({k[:3] for k in keys}) < len(keys):
        # Two periods of one node: the earlier one's change carries into the later, whose
        # base this batch also writes. The exact path orders that.
        return None
    ahead = await store.stock_cells(keys)
    if any(a.later for a in ahead.values()):
        return None  # later periods carry these cells' values: the exact path recomputes them
    by_depth: dict[int, list[RowKey]] = {3: [], 2: [], 1: []}
    for key in keys:
        by_depth[scope_depth(key.scope)].append(key)
    written: list[Row] = []
    changes: list[Change] = []
    kids: dict[RowKey, KidsDelta] = {}
    for depth in (3, 2, 1):
        for key in by_depth[depth]:
            cell = ahead[key]
            row, start = stock_cell(key, cell, own_add.get(key), kids.get(key))
            written.append(row)
            if cell.row is None or (row.num, row.den) != (cell.row.num, cell.row.den):
                changes.append(Change(row, cell.row))
            parent = parent_scope(key.scope)
            if parent:
                up = RowKey(key.indicator, key.granularity, parent, key.period_start)
                step = value_change(Change(row, start))
                fresh = not row.carried
                held = kids.get(up)
                kids[up] = (
                    KidsDelta(step, fresh)
                    if held is None
                    else KidsDelta(add_deltas(held.delta, step), held.fresh or fresh)
                )
    await store.write_rows(written)
    return changes


async def _apply_stocks_exactly(
    store: Store, winners: Sequence[Fact], later: Sequence[dict[Granularity, date]]
) -> list[Change]:
    """Recompute the stock cells the winning facts touch, exactly (carry-forward, own report
    as of each period's end), bottom-up. The reference the delta path is held to, and the
    path of late, back-filled and pre-reform facts."""
    # The series of one node mostly share the period and the span ahead: each such group
    # (node, period, next dates) is expanded into cells once.
    spans = dict.fromkeys(
        (f.indicator, f.scope, f.observed_at, f.granularity, tuple(nexts.items()))
        for f, nexts in zip(winners, later, strict=True)
    )
    dirty: dict[tuple[str, Granularity, str], set[date]] = defaultdict(set)
    ranges: dict[tuple[str, Granularity, str, date, date | None], None] = {}
    for indicator, scope, observed_at, granularity, nexts in spans:
        fact_era = era(observed_at)
        scopes = scopes_of(scope)
        for g, start in periods_of(observed_at, granularity):
            if era(period_end_of(start, g)) != fact_era:
                continue  # a pre-reform stock does not count toward a period ending after it
            rank = gran_order(g)
            bounds = [d for fg, d in nexts if gran_order(fg) <= rank]
            if fact_era == 0:
                bounds.append(REFORM_DATE)
            until = min(bounds) if bounds else None
            carries = until is None or until > start + timedelta(days=1)
            for node in scopes:
                dirty[(indicator, g, node)].add(start)
                if carries:
                    ranges[(indicator, g, node, start, until)] = None
    if ranges:
        # Facts of one node and period ask for the same span: each is looked up once.
        unique = list(ranges)
        for (indicator, g, scope, _, _), starts in zip(
            unique, await store.stored_periods(unique), strict=True
        ):
            dirty[(indicator, g, scope)].update(starts)

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
        owns = await store.stock_own(keys)
        kids = await store.children(keys, carry=True) if depth < 3 else {}
        written: list[Row] = []
        for key in keys:
            previous = old.get(key)
            own = owns.get(key)
            # The children's sum is kept beside the own report, as flows keep it: the delta
            # path moves it by a child's change.
            kid_num, kid_den, kid_fresh = children_sum(kids.get(key, ()))
            num, den, carried = combine(own, kid_num, kid_den, kid_fresh)
            if previous is not None:
                same = num == previous.num and den == previous.den
                if same and carried == previous.carried:
                    if own != previous.own or (kid_num, kid_den) != (
                        previous.kid_num,
                        previous.kid_den,
                    ):
                        # bookkeeping only: no new version
                        written.append(
                            Row(key, own, num, den, carried, previous.version, kid_num, kid_den)
                        )
                    continue
                row = Row(key, own, num, den, carried, previous.version + 1, kid_num, kid_den)
            else:
                same = False
                row = Row(key, own, num, den, carried, 1, kid_num, kid_den)
            written.append(row)
            if not same:
                changes.append(Change(row, previous))
        if written:
            await store.write_rows(written)
    return changes


def add_den(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    """Denominators add; a missing one adds nothing (and two missing stay missing)."""
    if a is None:
        return b
    return a if b is None else a + b


def add_deltas(a: Delta, b: Delta) -> Delta:
    """Two deltas of one cell as one."""
    return Delta(a.num + b.num, add_den(a.den, b.den), a.identities + b.identities)


class FlowDelta(NamedTuple):
    """What a batch adds to one flow cell: to its own report (facts of its own unit) and to
    the sum of its children's values (their changes, one level down)."""

    key: RowKey
    own: Delta | None
    kids: Delta | None


def flow_cell(before: Row | None, delta: FlowDelta) -> Row:
    """The flow rule, once: both parts grow by their deltas; the value is the own report when
    the unit has one, else the children's sum; the version moves when the value does.
    (``pg.PostgresStore.add_flow_deltas`` is the same rule as one upsert; the property tests
    hold the memory and SQL stores equal to a naive reference.)"""
    own = before.own if before is not None else None
    if delta.own is not None:
        d = delta.own
        own = (
            Own(d.num, d.den, d.identities, True)
            if own is None
            else Own(own.num + d.num, add_den(own.den, d.den), own.reports + d.identities, True)
        )
    kid_num, kid_den = (before.kid_num, before.kid_den) if before is not None else (None, None)
    if delta.kids is not None:
        kid_num = delta.kids.num if kid_num is None else kid_num + delta.kids.num
        kid_den = add_den(kid_den, delta.kids.den)
    num, den = (own.num, own.den) if own is not None and own.reports > 0 else (kid_num, kid_den)
    moved = before is None or (num, den) != (before.num, before.den)
    version = 1 if before is None else before.version + moved
    return Row(delta.key, own, num, den, False, version, kid_num, kid_den)


def value_change(change: Change) -> Delta:
    """How a flow cell's value moved: what its parent's children's sum moves by."""
    row, before = change.row, change.previous
    zero = Decimal(0)
    old_num = before.num if before is not None and before.num is not None else zero
    old_den = before.den if before is not None else None
    num = (row.num if row.num is not None else zero) - old_num
    if row.den is None and old_den is None:
        return Delta(num, None, 0)
    return Delta(num, (row.den or zero) - (old_den or zero), 0)


def first_of_each(
    batch: Sequence[tuple[EventKey, Sequence[Fact]]],
) -> dict[EventKey, Sequence[Fact]]:
    """Each event of a batch once, as first seen (a copy later in the batch is a duplicate)."""
    first: dict[EventKey, Sequence[Fact]] = {}
    for key, facts in batch:
        first.setdefault(key, facts)
    return first


async def apply_events(
    store: Store, batch: Sequence[tuple[EventKey, Sequence[Fact]]], plan: Plan | None = None
) -> tuple[list[Change], int]:
    """Claim the batch's events — (provider, event_id), never the id alone, so one provider
    cannot silence another — and fold in the facts of those never processed before. ``plan``:
    one built ahead for the events expected new, used when the claim agrees.

    Returns the changed rows and how many events were new."""
    first = first_of_each(batch)
    new = await store.claim_events(list(first)) if first else set()
    return await apply_claimed(store, first, new, plan)


async def apply_claimed(
    store: Store,
    first: dict[EventKey, Sequence[Fact]],
    new: set[EventKey],
    plan: Plan | None = None,
) -> tuple[list[Change], int]:
    """The second half of :func:`apply_events`, for a batch whose events (``first_of_each``)
    were claimed already, ``new`` those never processed before."""
    if not new:
        return [], 0
    if plan is None or plan.events != new:
        claimed = [f for key, facts in first.items() if key in new for f in facts]
        plan = plan_facts(claimed, frozenset(new))
    return await apply_plan(store, plan), len(new)


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
