"""The metrics service's batch handler: one consumed batch, aggregated exactly once.

The loop, the transaction, the offsets, the dead letters and the outbox drain are the shared
batch worker's (``ioc_common.kafka.batch_worker``); this module holds only what is the metrics
service's own. In the batch's ONE transaction it claims the event ids (only new ones count),
folds their facts into the aggregates, writes the resulting changes to ``metrics_outbox`` (one
``MetricUpdates`` record per unit) and updates freshness; the worker adds the partitions' next
offsets (in ``metrics_offsets``) and commits. Poison records are rejected to ``ioc.dlq.v1``. A
crash before the commit redoes the batch from the stored offsets; a crash after it finds the
outbox still full and publishes it on the next drain (downstream sees at-least-once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import chain
from typing import Any

import pydantic
from sqlalchemy.ext.asyncio import AsyncEngine

from ioc_common.catalogue import Catalogue
from ioc_common.db import pg_transaction
from ioc_common.events import DEDUP_WINDOW_DAYS, EventKey, event_key
from ioc_common.kafka.batch_worker import Batch, apply_batch
from ioc_common.kafka.consumer import Partition
from ioc_common.kafka.outbox import Written, drain_outbox, publish_written
from ioc_common.kafka.publisher import Publisher
from ioc_common.kafka.records import ConsumedRecord
from ioc_common.kafka.stored_offsets import PgOffsets
from ioc_common.logs import get_logger
from ioc_common.reference.units import UnitTree
from ioc_common.timeutil import utc_now
from ioc_common.wire import decode_wire
from ioc_metrics.core import Plan, PlanBuilder, apply_claimed, first_of_each
from ioc_metrics.facts import Fact, Poison, facts_of
from ioc_metrics.instruments import Instruments
from ioc_metrics.pg import (
    Node,
    PostgresStore,
    aware,
    keep_dedup_window,
    to_json,
)
from ioc_metrics.updates import OUTBOX, write_updates

log = get_logger("ioc.metrics.processor")

#: Statistics are refreshed after this many aggregated events, then each time that doubled,
#: until it passed ``_LAST_ANALYZE``: from then on the planner scales what it learnt (rows per
#: page, distinct values as a share of rows) by the tables' current size, and autovacuum's own
#: analyses (each 10 % of a table changed) keep the rest up to date. Each refresh reads up to
#: 30,000 rows of each table: later ones only took CPU from the batches.
_FIRST_ANALYZE = 50
_LAST_ANALYZE = 10_000
_GROWING_TABLES = ("metrics_aggregates", "metrics_nodes", "metrics_facts")
#: Bound of the in-process set of known tree nodes (national scale holds ~300,000).
_KNOWN_NODES_MAX = 500_000


@dataclass(frozen=True, slots=True)
class BatchResult:
    records: int
    aggregated: int
    duplicates: int
    dead_lettered: int
    changes: int


#: Where the service's offsets and outbox live.
OFFSETS_TABLE = "metrics_offsets"
#: The consumer's name in dead letters.
CONSUMER = "ioc-metrics"
#: Committed batches whose outbox rows are kept in memory until published; past this many
#: (nobody drains: a tool calling ``process`` alone) the table's drain takes over.
_UNPUBLISHED_MAX = 64
#: Seconds between two drains of the whole table while batches are published from memory: it
#: then holds only what a failed publish or another replica left.
_TABLE_DRAIN_EVERY_S = 5.0


#: Event hashes per generation of ``_RecentEvents`` (≈ 4 MB; many batches of copies' reach).
_RECENT_EVENTS = 65_536


@dataclass(slots=True)
class _Decoded:
    """A batch decoded: its events with their facts, and its poison (record, reason, detail);
    when prepared ahead, also the plan of the events expected new and the freshness rows."""

    good: list[tuple[EventKey, list[Fact]]]
    poison: list[tuple[ConsumedRecord, str, str]]
    #: Each event once, as first seen (``first_of_each``), when prepared ahead.
    first: dict[EventKey, Sequence[Fact]] | None = None
    plan: Plan | None = None
    freshness: str | None = None


class _RecentEvents:
    """Hashes of the events this process counted lately: only a guess of which events of a
    prepared batch are copies, so its plan is built for the others (the claim in the
    transaction decides; a wrong guess only costs rebuilding the plan there). Two generations
    of a bounded set: the older one is forgotten when the newer fills."""

    def __init__(self, size: int = _RECENT_EVENTS) -> None:
        self.size = size
        self.newer: set[int] = set()
        self.older: set[int] = set()

    def add(self, keys: Iterable[EventKey]) -> None:
        self.newer.update(map(hash, keys))
        if len(self.newer) >= self.size:
            self.older, self.newer = self.newer, set()

    def __contains__(self, key: EventKey) -> bool:
        h = hash(key)
        return h in self.newer or h in self.older


#: Records (or events) a step of ``prepare`` takes between two yields to the event loop while
#: a transaction runs (≈ 1 ms): a reply to that transaction waits for the step to end.
_PREPARE_SLICE = 100


def _slices(events_facts: Sequence[Sequence[Fact]]) -> Iterator[list[Fact]]:
    """The facts of ``_PREPARE_SLICE`` events at a time, as one list."""
    for start in range(0, len(events_facts), _PREPARE_SLICE):
        yield list(chain.from_iterable(events_facts[start : start + _PREPARE_SLICE]))


@dataclass(slots=True)
class _Begun:
    """What a batch's ``begin`` did in its transaction, for its ``handle``."""

    decoded: _Decoded
    store: PostgresStore
    #: Each event of the batch once, as first seen, and those of them never counted before.
    first: dict[EventKey, Sequence[Fact]]
    new: set[EventKey]
    #: The events it claimed (new or copies), all counted once it commits: ``first``'s keys.
    counted: Collection[EventKey]
    #: The UTC day this transaction kept the dedup window on (None: it did not).
    window_kept_on: date | None


@dataclass(slots=True)
class _Applied:
    """What one transaction did, for after its commit."""

    store: PostgresStore
    aggregated: int
    duplicates: int
    changes: int
    written: Written
    #: The UTC day this transaction kept the dedup window on (None: it did not).
    window_kept_on: date | None = None
    #: The events it claimed (new or copies): all counted once it commits.
    counted: Collection[EventKey] = ()


def next_analysis(aggregated: int, due_at: int) -> int | None:
    """Whether the statistics are refreshed now, with ``aggregated`` events aggregated and the
    refresh due at ``due_at``: the events at which the next one is due, or None (not now)."""
    if aggregated < due_at or due_at > _LAST_ANALYZE:
        return None
    return 2 * max(due_at, aggregated)


class BatchProcessor:
    def __init__(
        self,
        engine: AsyncEngine,
        publisher: Publisher,
        *,
        group_id: str,
        catalogue: Catalogue,
        tree: UnitTree,
        instruments: Instruments,
        dedup_window_days: int = DEDUP_WINDOW_DAYS,
    ) -> None:
        self.engine = engine
        self.publisher = publisher
        self.group_id = group_id
        self.catalogue = catalogue
        self.tree = tree
        self.instruments = instruments
        self.scales = {i.code: i.scale for i in catalogue.indicators}
        #: Aggregated events after which the planner statistics are refreshed next.
        self._analyze_at = _FIRST_ANALYZE
        self._aggregated = 0
        self._analyzing: asyncio.Task[None] | None = None
        #: Nodes known to be in ``metrics_nodes`` (rows there are never deleted).
        self._known_nodes: set[Node] = set()
        self.offsets = PgOffsets(engine, OFFSETS_TABLE, group_id)
        #: Outbox rows of committed batches, in commit order, not yet published.
        self._unpublished: list[Written] = []
        #: When the whole outbox table was last drained (never: at start-up it may hold rows).
        self._table_drained_at: float | None = None
        self.dedup_window_days = dedup_window_days
        #: The UTC day a committed batch last kept the dedup window (once a day is enough).
        self._window_kept_on: date | None = None
        #: Events counted lately, and those the batch in its transaction claims: a prepared
        #: batch's plan leaves them out (``prepare``).
        self._recent = _RecentEvents()
        self._in_flight: Collection[EventKey] = ()

    async def stored_offsets(self, partitions: set[Partition]) -> dict[Partition, int]:
        """The next offset to read per partition, as last committed with the aggregates."""
        return await self.offsets.load(partitions)

    def decode(self, records: Sequence[ConsumedRecord]) -> _Decoded:
        """The records' events and their facts, and what can never be aggregated."""
        decoded = _Decoded([], [])
        good, catalogue, tree = decoded.good.append, self.catalogue, self.tree
        for record in records:
            try:
                event = decode_wire(record.value)
                good((event_key(event), facts_of(event, catalogue, tree)))
            except pydantic.ValidationError as exc:
                undecodable = any(e["type"] == "json_invalid" for e in exc.errors())
                reason = "undecodable" if undecodable else "schema_invalid"
                decoded.poison.append((record, reason, str(exc)))
            except Poison as exc:
                decoded.poison.append((record, exc.reason, exc.detail))
        return decoded

    async def prepare(self, batch: Batch) -> None:
        """Decode a batch ahead of its transaction (the worker runs it while the previous
        batch commits), with the plan of the events expected new and the freshness rows (they
        need no stored state). Every step goes in slices with a yield between them, so the
        running transaction's replies never wait long behind this work."""
        decoded = _Decoded([], [])
        records = batch.records
        for start in range(0, len(records), _PREPARE_SLICE):
            part = self.decode(records[start : start + _PREPARE_SLICE])
            decoded.good.extend(part.good)
            decoded.poison.extend(part.poison)
            await asyncio.sleep(0)
        # The events the running batch holds will be copies once it commits.
        in_flight, recent = self._in_flight, self._recent
        decoded.first = first_of_each(decoded.good)
        expected = {
            key: facts
            for key, facts in decoded.first.items()
            if key not in in_flight and key not in recent
        }
        builder, latest = PlanBuilder(), Latest()
        for facts in _slices(list(expected.values())):
            builder.add(facts)
            await asyncio.sleep(0)
        good = decoded.good
        for start in range(0, len(good), _PREPARE_SLICE):
            latest.add(facts for _, facts in good[start : start + _PREPARE_SLICE])
            await asyncio.sleep(0)
        decoded.plan = builder.plan(frozenset(expected))
        decoded.freshness = latest.rows()
        batch.prepared = decoded

    async def begin(self, tx: Any, batch: Batch) -> None:
        """The first step of the batch's transaction: claim its events (only new ones count).
        The worker may run it while the batch before commits (``BatchWorker(begin=…)``): it
        only ever waits on that batch's claims of the same events, and then skips them."""
        decoded = batch.prepared
        if not isinstance(decoded, _Decoded):
            decoded = self.decode(batch.records)
        first = decoded.first if decoded.first is not None else first_of_each(decoded.good)
        # The prepare of the batch after this one leaves these out of its plan.
        before, counted = self._in_flight, first.keys()
        self._in_flight = counted
        # Copies of the batch before's events last: a claim of one waits for that batch's
        # commit (it skips it then), so begun early this claims all the others first.
        keys = [k for k in first if k not in before]
        if len(keys) < len(first):
            keys += [k for k in first if k in before]
        today = utc_now().date()
        kept_on = None
        if today != self._window_kept_on:
            kept_on = today
            dropped = await keep_dedup_window(tx, today, self.dedup_window_days)
            if dropped:
                log.info("metrics.dedup_months_dropped", partitions=dropped)
        store = PostgresStore(tx, self.scales, self._known_nodes, processed_on=today)
        new = await store.claim_events(keys) if keys else set()
        batch.begun = _Begun(decoded, store, first, new, counted, kept_on)

    async def handle(self, tx: Any, batch: Batch) -> _Applied:
        """In the batch's transaction, after ``begin``: aggregate, outbox, freshness (the
        worker adds offsets)."""
        if not isinstance(batch.begun, _Begun):
            await self.begin(tx, batch)
        begun = batch.begun
        assert isinstance(begun, _Begun)
        decoded, store = begun.decoded, begun.store
        for record, reason, detail in decoded.poison:
            batch.reject(record, reason, detail)
        changes, aggregated = await apply_claimed(store, begun.first, begun.new, decoded.plan)
        written = await write_updates(tx, changes, self.scales)
        # Prepared ahead with the plan, or (not prepared) now.
        good = decoded.good
        freshness = freshness_rows(good) if decoded.plan is None else decoded.freshness
        if freshness is not None:
            await touch_freshness(tx, freshness)
        duplicates = len(good) - aggregated
        return _Applied(
            store, aggregated, duplicates, len(changes), written, begun.window_kept_on,
            begun.counted,
        )  # fmt: skip

    async def committed(self, batch: Batch, applied: _Applied) -> None:
        new_nodes = applied.store.new_nodes
        if len(self._known_nodes) + len(new_nodes) > _KNOWN_NODES_MAX:
            self._known_nodes.clear()
        self._known_nodes |= new_nodes  # committed: they exist now
        self._recent.add(applied.counted)
        if self._in_flight is applied.counted:  # not yet the next batch's, begun early
            self._in_flight = ()
        if applied.window_kept_on is not None:
            self._window_kept_on = applied.window_kept_on
        if applied.written.ids:
            self._unpublished.append(applied.written)
            if len(self._unpublished) > _UNPUBLISHED_MAX:
                self._unpublished.clear()  # still in the table, which the next drain takes
                self._table_drained_at = None
        dead = batch.rejected
        inst = self.instruments
        inst.commit_seconds.observe(batch.transaction_s)
        inst.batch_size.observe(len(batch.records))
        inst.events.labels("aggregated").inc(applied.aggregated)
        inst.events.labels("duplicate").inc(applied.duplicates)
        inst.events.labels("dead_lettered").inc(len(dead))
        for d in dead:
            inst.dead_letters.labels(d.reason).inc()
        inst.aggregates_changed.inc(applied.changes)
        for part, n in applied.store.superseded.items():
            inst.superseded.labels(part.value).inc(n)
        for path, n in applied.store.stock_paths.items():
            inst.stock_batches.labels(path).inc(n)
        self._maybe_analyze(applied.aggregated)
        log.info(
            "metrics.batch_committed",
            records=len(batch.records),
            new_events=applied.aggregated,
            duplicates=applied.duplicates,
            dead_lettered=len(dead),
            changes=applied.changes,
            commit_ms=round(batch.transaction_s * 1000, 1),
        )

    async def process(self, records: Sequence[ConsumedRecord]) -> BatchResult:
        """One batch through the worker's transaction, without a consumer (tests, tools)."""
        batch = Batch(list(records))
        applied = await apply_batch(
            batch, self.offsets, self, self.publisher, consumer=CONSUMER, begin=self.begin
        )
        await self.committed(batch, applied)
        return BatchResult(
            len(records),
            applied.aggregated,
            applied.duplicates,
            len(batch.rejected),
            applied.changes,
        )

    def _maybe_analyze(self, aggregated: int) -> None:
        """Refresh the planner's statistics of the tables this service grows, each time the
        events it aggregated doubled while they are young (``next_analysis``). Autovacuum
        does it only once a minute at best: on young tables the planner, believing them
        empty, probes the wrong index and a batch's children lookups cost seconds instead of
        milliseconds. In the background: the next batches need not wait for it (one at a
        time)."""
        self._aggregated += aggregated
        if self._analyzing is not None and not self._analyzing.done():
            return
        after = next_analysis(self._aggregated, self._analyze_at)
        if after is None:
            return
        self._analyze_at = after
        self._analyzing = asyncio.create_task(self._analyze())

    async def _analyze(self) -> None:
        started = time.perf_counter()
        try:
            async with pg_transaction(self.engine) as conn:
                await conn.execute(f"ANALYZE {', '.join(_GROWING_TABLES)}")
        except Exception as exc:  # only a plan hint: the batch is committed already
            log.warning("metrics.analyze_failed", error=type(exc).__name__)
            return
        log.info(
            "metrics.tables_analyzed",
            aggregated=self._aggregated,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    async def drain_outbox(self) -> int:
        """Publish pending ``MetricUpdates`` records (``ioc_common.kafka.outbox``): the
        batches committed since the last call from memory, and the whole table at start-up,
        after a failure and every few seconds (what another replica or a crash left). Rows
        leave in commit order: while the table may hold older rows, it is drained first."""
        published = self.instruments.updates_published.inc
        total = 0
        stale = self._table_drained_at is None or (
            time.monotonic() - self._table_drained_at > _TABLE_DRAIN_EVERY_S
        )
        if stale:
            self._table_drained_at = None
            self._unpublished.clear()  # the table holds them: drained with the rest, in order
            total += await drain_outbox(self.engine, self.publisher, OUTBOX, published=published)
            self._table_drained_at = time.monotonic()
        if self._unpublished:
            written, self._unpublished = self._unpublished, []
            try:
                total += await publish_written(
                    self.engine, self.publisher, OUTBOX, written, published=published
                )
            except BaseException:
                self._table_drained_at = None  # still in the table: the next drain takes them
                raise
        return total


def _later(a: Fact, b: Fact) -> bool:
    """Whether ``a`` is fresher than ``b``: observed later, or as late and received later."""
    return a.observed_at > b.observed_at or (
        a.observed_at == b.observed_at and a.received_at > b.received_at
    )


class Latest:
    """Per (indicator, unit), its latest fact (observed, then received): folded event by event
    as they come, then written as ``json_to_recordset`` rows for ``touch_freshness``.

    Folded per event, not per fact: an event's facts share its unit and times, and all events
    of a family yield the family's indicators in one order (each indicator derives from one
    family; an observation yields the one it names). So the latest event per (unit, first
    indicator, number of facts) holds the latest fact of each of its indicators, and ``rows``
    only compares those events' facts."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: dict[tuple[str, str, int], Sequence[Fact]] = {}

    def add(self, events_facts: Iterable[Sequence[Fact]]) -> None:
        latest = self.events
        for facts in events_facts:
            if not facts:
                continue
            first = facts[0]
            key = (first.unit_code, first.indicator, len(facts))
            held = latest.get(key)
            if held is None or _later(first, held[0]):
                latest[key] = facts

    def rows(self) -> str | None:
        """The rows (None: no facts)."""
        per_indicator: dict[tuple[str, str], Fact] = {}
        for facts in self.events.values():
            for f in facts:
                held = per_indicator.get((f.indicator, f.unit_code))
                if held is None or _later(f, held):
                    per_indicator[(f.indicator, f.unit_code)] = f
        if not per_indicator:
            return None
        return to_json(
            {
                "indicator": f.indicator,
                "unit_code": f.unit_code,
                "scope": f.scope,
                "level": f.level,
                "observed_at": f.observed_at,
                "received_at": aware(f.received_at),
            }
            for f in per_indicator.values()
        )


def freshness_rows(good: Sequence[tuple[EventKey, list[Fact]]]) -> str | None:
    """Per (indicator, unit), its latest fact's times, as ``json_to_recordset`` rows (None:
    no facts)."""
    latest = Latest()
    latest.add(facts for _, facts in good)
    return latest.rows()


async def touch_freshness(conn: Any, rows: str) -> None:
    """Move each (indicator, unit)'s latest observed and received times forward."""
    await conn.execute(
        "INSERT INTO metrics_freshness (indicator, unit_code, scope, level, last_observed_at,"
        " last_received_at, last_processed_at)"
        " SELECT *, now() FROM json_to_recordset($1::json) AS x(indicator text,"
        "  unit_code text, scope text, level text, observed_at date, received_at timestamptz)"
        " ON CONFLICT (indicator, unit_code) DO UPDATE SET"
        " last_observed_at = GREATEST(metrics_freshness.last_observed_at,"
        "                             EXCLUDED.last_observed_at),"
        " last_received_at = GREATEST(metrics_freshness.last_received_at,"
        "                             EXCLUDED.last_received_at),"
        " scope = EXCLUDED.scope, level = EXCLUDED.level, last_processed_at = now()",
        rows,
    )
