"""The outbox's ``MetricUpdates`` records (``ioc.metrics.updated.v2``), without building a
pydantic model per change.

A batch changes thousands of aggregate cells; validating a ``MetricUpdated`` for each (or even
pydantic's serializer alone, ≈ 6 µs an item) cost more than the rest of the outbox write. Each
change becomes an ``ioc_common.wire.MetricUpdate`` struct instead — the contract's fields, names
and types — written by msgspec (a test holds the bytes to the contract model's values). A unit's
updates of the batch are then joined into one record (``ioc_common.events.join_metric_updates``)
— one outbox row and one Kafka record per unit per batch instead of one per cell, keyed by the
unit so its changes stay in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from ioc_common.catalogue import display_value
from ioc_common.events import MAX_METRIC_UPDATES, AggregationLevel, join_metric_updates
from ioc_common.kafka.outbox import Outbox, Written
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.timeutil import period_label, utc_now
from ioc_common.topics import METRICS_UPDATED
from ioc_common.wire import MetricUpdate, encode_metric_update
from ioc_metrics.core import Change
from ioc_metrics.pg import scope_columns

#: The service's outbox. A row is one unit's ``MetricUpdates`` of a batch (≈ 6 kB): 500 per
#: publish bounds a drain's memory to a few MB.
OUTBOX = Outbox("metrics_outbox", METRICS_UPDATED, chunk=500)

_LEVELS = {level.value: level for level in AggregationLevel}
_period_label = lru_cache(maxsize=65_536)(period_label)


async def write_updates(conn: Any, changes: Sequence[Change], scales: dict[str, int]) -> Written:
    """The batch's changes into ``metrics_outbox`` (in the caller's transaction; published
    after its commit): a ``MetricUpdates`` row per unit — several above
    ``MAX_METRIC_UPDATES`` — holding that unit's ``MetricUpdated`` items in the order of
    ``changes``; rows in the order each unit first changed. Returns the rows' ids and records
    (``ioc_common.kafka.outbox.publish_written`` publishes them once committed)."""
    if not changes:
        return Written([], [])
    now = utc_now()
    by_unit: dict[str, list[bytes]] = {}
    for change in changes:
        row, prev = change.row, change.previous
        key = row.key
        scale = scales.get(key.indicator)
        ratio = row.den is not None
        _, level, code = scope_columns(key.scope)
        value = encode_metric_update(
            MetricUpdate(
                indicator=key.indicator,
                unit_code=code,
                level=_LEVELS[level],
                granularity=key.granularity,
                period=_period_label(key.period_start, key.granularity),
                period_start=key.period_start,
                value=display_value(row.num, row.den, scale),
                previous_value=display_value(prev.num, prev.den, scale) if prev else None,
                numerator=float(row.num) if ratio and row.num is not None else None,
                denominator=float(row.den) if ratio and row.den is not None else None,
                version=row.version,
                updated_at=now,
            )
        )
        parts = by_unit.get(code)
        if parts is None:
            by_unit[code] = [value]
        else:
            parts.append(value)
    keys: list[str] = []
    values: list[bytes] = []
    for code, parts in by_unit.items():
        for i in range(0, len(parts), MAX_METRIC_UPDATES):
            keys.append(code)
            values.append(join_metric_updates(parts[i : i + MAX_METRIC_UPDATES]))
    # Arrays in asyncpg's binary format: the bytes travel as they are (no JSON escaping). The
    # identity is drawn row by row in the ORDER BY's order: the ids, sorted, are the rows'.
    rows = await conn.fetch(
        "INSERT INTO metrics_outbox (key, value) SELECT k, v"
        " FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS u(k, v, n) ORDER BY n"
        " RETURNING id",
        keys,
        values,
    )
    ids = sorted(r["id"] for r in rows)
    records = [OutgoingRecord(OUTBOX.topic, v, key=k) for k, v in zip(keys, values, strict=True)]
    return Written(ids, records)
