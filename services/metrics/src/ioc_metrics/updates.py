"""The outbox's ``MetricUpdates`` records (``ioc.metrics.updated.v2``), without building a
pydantic model per change.

A batch changes thousands of aggregate cells; validating a ``MetricUpdated`` for each (or
``model_construct``, which is Python-level too) cost more than the rest of the outbox write.
The fields go through a ``TypedDict`` with the same names and types instead, serialised by
pydantic's own core serializer: the same bytes as ``MetricUpdated.model_dump_json()`` (a test
compares them), at the cost of one C call. A unit's updates of the batch are then joined into
one record (``ioc_common.events.join_metric_updates``) — one outbox row and one Kafka record per
unit per batch instead of one per cell, keyed by the unit so its changes stay in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Final

from pydantic import TypeAdapter
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from ioc_common.catalogue import display_value
from ioc_common.events import MAX_METRIC_UPDATES, AggregationLevel, join_metric_updates
from ioc_common.timeutil import Granularity, period_label, utc_now
from ioc_metrics.core import Change
from ioc_metrics.pg import scope_columns


class UpdateFields(TypedDict):
    """The fields of :class:`ioc_common.events.MetricUpdated`, in its order."""

    indicator: str
    unit_code: str
    level: AggregationLevel
    granularity: Granularity
    period: str
    period_start: date
    value: float | None
    previous_value: float | None
    numerator: float | None
    denominator: float | None
    version: int
    updated_at: datetime


_SERIALIZER: Final = TypeAdapter(UpdateFields).serializer


def encode_update(fields: UpdateFields) -> bytes:
    """The JSON of ``MetricUpdated(**fields)`` (the values must already have its types)."""
    return _SERIALIZER.to_json(fields)


_LEVELS = {level.value: level for level in AggregationLevel}
_period_label = lru_cache(maxsize=65_536)(period_label)


async def write_updates(conn: Any, changes: Sequence[Change], scales: dict[str, int]) -> None:
    """The batch's changes into ``metrics_outbox`` (in the caller's transaction; published
    after its commit): a ``MetricUpdates`` row per unit — several above
    ``MAX_METRIC_UPDATES`` — holding that unit's ``MetricUpdated`` items in the order of
    ``changes``; rows in the order each unit first changed."""
    if not changes:
        return
    now = utc_now()
    by_unit: dict[str, list[bytes]] = {}
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
    # Arrays in asyncpg's binary format: the bytes travel as they are (no JSON escaping).
    await conn.execute(
        "INSERT INTO metrics_outbox (key, value) SELECT * FROM unnest($1::text[], $2::bytea[])",
        keys,
        values,
    )
