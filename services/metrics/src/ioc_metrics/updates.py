"""``MetricUpdated`` bytes for the outbox, without building a pydantic model per change.

A batch changes thousands of aggregate cells; validating a ``MetricUpdated`` for each (or
``model_construct``, which is Python-level too) cost more than the rest of the outbox write.
The fields go through a ``TypedDict`` with the same names and types instead, serialised by
pydantic's own core serializer: the same bytes as ``MetricUpdated.model_dump_json()`` (a test
compares them), at the cost of one C call.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Final

from pydantic import TypeAdapter
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from ioc_common.catalogue import display_value
from ioc_common.events import AggregationLevel
from ioc_common.timeutil import Granularity, period_label, utc_now
from ioc_metrics.core import Change
from ioc_metrics.pg import scope_columns, to_json


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
    """A ``MetricUpdated`` per changed cell into ``metrics_outbox`` (in the caller's
    transaction; published after its commit)."""
    if not changes:
        return
    now = utc_now()
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
