"""One consumed batch → one PostgreSQL transaction, exactly once in effect.

Per batch: poison records go to ``ioc.dlq.v1`` first (acknowledged by the broker); then ONE
transaction claims the event ids (only new ones count), folds their facts into the aggregates,
writes the resulting ``MetricUpdated`` events to an outbox, updates freshness and upserts the
partitions' next offsets. After the commit the outbox is drained to ``ioc.metrics.updated.v1``.
A crash before the commit redoes the batch from the stored offsets; a crash after it finds the
outbox still full and publishes it on the next drain (downstream sees at-least-once).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pydantic
from sqlalchemy.ext.asyncio import AsyncEngine

from ioc_common.catalogue import Catalogue
from ioc_common.events import AggregationLevel, DeadLetter, decode_telemetry, event_key
from ioc_common.kafka.consumer import Partition
from ioc_common.kafka.publisher import Publisher
from ioc_common.kafka.records import ConsumedRecord, OutgoingRecord
from ioc_common.logs import get_logger
from ioc_common.reference.units import UnitTree
from ioc_common.timeutil import period_label, utc_now
from ioc_common.topics import DLQ, METRICS_UPDATED
from ioc_metrics.core import Change, apply_events
from ioc_metrics.db import pg_transaction
from ioc_metrics.facts import Fact, Poison, facts_of
from ioc_metrics.instruments import Instruments
from ioc_metrics.pg import (
    Node,
    PostgresStore,
    aware,
    display_value,
    scope_columns,
    to_json,
)
from ioc_metrics.updates import encode_update

log = get_logger("ioc.metrics.processor")

#: Statistics are refreshed after this many aggregated events, then each time that doubled.
_FIRST_ANALYZE = 50
_GROWING_TABLES = ("metrics_aggregates", "metrics_nodes", "metrics_facts")
#: Bound of the in-process set of known tree nodes (national scale holds ~300,000).
_KNOWN_NODES_MAX = 500_000
_LEVELS = {level.value: level for level in AggregationLevel}
_period_label = lru_cache(maxsize=65_536)(period_label)


@dataclass(frozen=True, slots=True)
class BatchResult:
    records: int
    aggregated: int
    duplicates: int
    dead_lettered: int
    changes: int


def _dead_letter(record: ConsumedRecord, reason: str, detail: str) -> DeadLetter:
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        reason=reason,
        detail=detail[:2000],
        original_b64=base64.b64encode(record.value).decode(),
        consumer="ioc-metrics",
        failed_at=utc_now(),
    )


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
        #: Nodes known to be in ``metrics_nodes`` (rows there are never deleted).
        self._known_nodes: set[Node] = set()

    async def stored_offsets(self, partitions: set[Partition]) -> dict[Partition, int]:
        """The next offset to read per partition, as last committed with the aggregates."""
        async with pg_transaction(self.engine) as conn:
            rows = await conn.fetch(
                "SELECT topic, partition, next_offset FROM metrics_offsets WHERE group_id = $1",
                self.group_id,
            )
        stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
        return {p: o for p, o in stored.items() if p in partitions}

    def decode(
        self, records: Sequence[ConsumedRecord]
    ) -> tuple[list[tuple[Any, list[Fact]]], list[DeadLetter]]:
        good: list[tuple[Any, list[Fact]]] = []
        dead: list[DeadLetter] = []
        for record in records:
            try:
                event = decode_telemetry(record.value)
                good.append((event, facts_of(event, self.catalogue, self.tree)))
            except pydantic.ValidationError as exc:
                undecodable = any(e["type"] == "json_invalid" for e in exc.errors())
                reason = "undecodable" if undecodable else "schema_invalid"
                dead.append(_dead_letter(record, reason, str(exc)))
            except Poison as exc:
                dead.append(_dead_letter(record, exc.reason, exc.detail))
        return good, dead

    async def process(self, records: Sequence[ConsumedRecord]) -> BatchResult:
        good, dead = self.decode(records)
        if dead:
            # Acknowledged by the broker before the offsets move past them.
            await self.publisher.publish_many(
                [OutgoingRecord(DLQ, d.model_dump_json().encode(), key=d.key) for d in dead]
            )
        offsets: dict[Partition, int] = {}
        for r in records:
            offsets[(r.topic, r.partition)] = max(
                offsets.get((r.topic, r.partition), 0), r.offset + 1
            )
        started = time.perf_counter()
        async with pg_transaction(self.engine) as conn:
            store = PostgresStore(conn, self.scales, self._known_nodes)
            changes, aggregated = await apply_events(
                store, [(event_key(e), facts) for e, facts in good]
            )
            await self._write_outbox(conn, changes)
            await self._touch_freshness(conn, [(e, facts) for e, facts in good])
            await conn.execute(
                "INSERT INTO metrics_offsets (group_id, topic, partition, next_offset)"
                " SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[])"
                " ON CONFLICT (group_id, topic, partition) DO UPDATE SET"
                " next_offset = GREATEST(metrics_offsets.next_offset, EXCLUDED.next_offset),"
                " updated_at = now()",
                self.group_id,
                [p[0] for p in offsets],
                [p[1] for p in offsets],
                list(offsets.values()),
            )
        elapsed = time.perf_counter() - started
        if len(self._known_nodes) + len(store.new_nodes) > _KNOWN_NODES_MAX:
            self._known_nodes.clear()
        self._known_nodes |= store.new_nodes  # committed: they exist now
        duplicates = len(good) - aggregated
        result = BatchResult(len(records), aggregated, duplicates, len(dead), len(changes))
        inst = self.instruments
        inst.commit_seconds.observe(elapsed)
        inst.batch_size.observe(len(records))
        inst.events.labels("aggregated").inc(aggregated)
        inst.events.labels("duplicate").inc(duplicates)
        inst.events.labels("dead_lettered").inc(len(dead))
        for d in dead:
            inst.dead_letters.labels(d.reason).inc()
        inst.aggregates_changed.inc(len(changes))
        await self._maybe_analyze(aggregated)
        log.info(
            "metrics.batch_committed",
            records=len(records),
            new_events=aggregated,
            duplicates=duplicates,
            dead_lettered=len(dead),
            changes=len(changes),
            commit_ms=round(elapsed * 1000, 1),
        )
        return result

    async def _maybe_analyze(self, aggregated: int) -> None:
        """Refresh the planner's statistics of the tables this service grows, each time the
        events it aggregated doubled. Autovacuum does it only once a minute at best: on young
        tables the planner, believing them empty, probes the wrong index and a batch's
        children lookups cost seconds instead of milliseconds."""
        self._aggregated += aggregated
        if self._aggregated < self._analyze_at:
            return
        self._analyze_at = max(self._analyze_at * 2, self._aggregated)
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

    async def _write_outbox(self, conn: Any, changes: Sequence[Change]) -> None:
        if not changes:
            return
        now = utc_now()
        scales = self.scales
        rows = []
        for change in changes:
            row, prev = change.row, change.previous
            key = row.key
            scale = scales.get(key.indicator)
            ratio = row.den is not None
            _, level, code = scope_columns(key.scope)
            value = encode_update(
                {
                    "indicator": key.indicator,
                    "unit_code": code,
                    "level": _LEVELS[level],
                    "granularity": key.granularity,
                    "period": _period_label(key.period_start, key.granularity),
                    "period_start": key.period_start,
                    "value": display_value(row.num, row.den, scale),
                    "previous_value": display_value(prev.num, prev.den, scale) if prev else None,
                    "numerator": float(row.num) if ratio and row.num is not None else None,
                    "denominator": float(row.den) if ratio and row.den is not None else None,
                    "version": row.version,
                    "updated_at": now,
                }
            )
            rows.append({"key": code, "value": value.decode()})
        await conn.execute(
            "INSERT INTO metrics_outbox (key, value) SELECT key, convert_to(value, 'UTF8')"
            " FROM json_to_recordset($1::json) AS x(key text, value text)",
            to_json(rows),
        )

    async def _touch_freshness(self, conn: Any, good: Sequence[tuple[Any, list[Fact]]]) -> None:
        latest: dict[tuple[str, str], Fact] = {}
        for _, facts in good:
            for f in facts:
                held = latest.get((f.indicator, f.unit_code))
                if held is None or (f.observed_at, f.received_at) > (
                    held.observed_at,
                    held.received_at,
                ):
                    latest[(f.indicator, f.unit_code)] = f
        if not latest:
            return
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
            to_json(
                {
                    "indicator": f.indicator,
                    "unit_code": f.unit_code,
                    "scope": f.scope,
                    "level": f.level,
                    "observed_at": f.observed_at,
                    "received_at": aware(f.received_at),
                }
                for f in latest.values()
            ),
        )

    async def drain_outbox(self, limit: int = 5000) -> int:
        """Publish pending MetricUpdated events; rows go only once the broker acknowledged."""
        total = 0
        while True:
            async with pg_transaction(self.engine) as conn:
                # Deleted in the transaction that publishes them: if the broker does not
                # acknowledge, the exception rolls the delete back and the rows stay.
                rows = await conn.fetch(
                    "DELETE FROM metrics_outbox WHERE id IN (SELECT id FROM metrics_outbox"
                    " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id, key, value",
                    limit,
                )
                if not rows:
                    return total
                rows.sort(key=lambda r: r["id"])
                await self.publisher.publish_many(
                    [OutgoingRecord(METRICS_UPDATED, bytes(r["value"]), key=r["key"]) for r in rows]
                )
            total += len(rows)
            self.instruments.updates_published.inc(len(rows))
            if len(rows) < limit:
                return total
