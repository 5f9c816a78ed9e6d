"""The outbox's bytes (built without a model per change) hold exactly what the contract models
hold for the same fields: each ``MetricUpdated`` item, and the ``MetricUpdates`` record that
``write_updates`` makes of a batch's changes — one per unit (split above the maximum), its
updates in the order they were made. (msgspec may spell a number differently from pydantic,
``4.9e17`` for ``4.9e+17``: the JSON values, and what both decoders read, are the same.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from ioc_common.events import (
    MAX_METRIC_UPDATES,
    AggregationLevel,
    MetricUpdated,
    MetricUpdates,
    encode_metric_updates,
    join_metric_updates,
)
from ioc_common.timeutil import Granularity, period_label
from ioc_common.topics import METRICS_UPDATED
from ioc_common.wire import (
    MetricUpdate,
    decode_metric_updates_fast,
    encode_metric_update,
    metric_update_of,
)
from ioc_metrics.core import Change, Row, RowKey
from ioc_metrics.updates import write_updates

numbers = st.none() | st.floats(min_value=0, max_value=1e18, allow_nan=False)
zones = st.sampled_from([UTC, timezone(timedelta(hours=7))])


@given(
    indicator=st.sampled_from(["dossiers_online", "villages_mobile_coverage", "bts_sites"]),
    unit=st.sampled_from(["08", "071", "02233"]),
    level=st.sampled_from(list(AggregationLevel)),
    granularity=st.sampled_from(list(Granularity)),
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    value=numbers,
    previous=numbers,
    numerator=numbers,
    denominator=numbers,
    version=st.integers(1, 2**31 - 1),
    moment=st.datetimes(min_value=datetime(2000, 1, 1), timezones=zones),
)
def test_encoded_update_equals_the_contract_model(
    indicator: str,
    unit: str,
    level: AggregationLevel,
    granularity: Granularity,
    start: date,
    value: float | None,
    previous: float | None,
    numerator: float | None,
    denominator: float | None,
    version: int,
    moment: datetime,
) -> None:
    fields: dict[str, Any] = {
        "indicator": indicator,
        "unit_code": unit,
        "level": level,
        "granularity": granularity,
        "period": period_label(start, granularity),
        "period_start": start,
        "value": value,
        "previous_value": previous,
        "numerator": numerator,
        "denominator": denominator,
        "version": version,
        "updated_at": moment,
    }
    model = MetricUpdated(**fields)
    encoded = encode_metric_update(MetricUpdate(**fields))
    assert orjson.loads(encoded) == orjson.loads(model.model_dump_json())
    assert MetricUpdated.model_validate_json(encoded) == model
    assert decode_metric_updates_fast(join_metric_updates([encoded])) == [MetricUpdate(**fields)]


def test_the_fields_are_the_contract_fields_in_order() -> None:
    assert list(MetricUpdate.__struct_fields__) == list(MetricUpdated.model_fields)


@given(
    st.lists(
        st.builds(
            MetricUpdated,
            indicator=st.sampled_from(["dossiers_online", "bts_sites"]),
            unit_code=st.just("071"),
            level=st.just(AggregationLevel.DISTRICT),
            granularity=st.just(Granularity.MONTH),
            period=st.just("2024-05"),
            period_start=st.just(date(2024, 5, 1)),
            value=numbers,
            previous_value=numbers,
            numerator=numbers,
            denominator=numbers,
            version=st.integers(1, 2**31 - 1),
            updated_at=st.datetimes(min_value=datetime(2000, 1, 1), timezones=zones),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_joined_items_are_the_records_model_json(updates: list[MetricUpdated]) -> None:
    record = MetricUpdates(updates=updates)
    expected = record.model_dump_json().encode()
    items = [encode_metric_update(MetricUpdate(**u.model_dump())) for u in updates]
    assert MetricUpdates.model_validate_json(join_metric_updates(items)) == record
    assert encode_metric_updates(updates) == expected
    assert MetricUpdates.model_validate_json(expected) == record


class _Outbox:
    """Stands in for the transaction's connection: keeps what ``write_updates`` inserts."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, bytes]] = []

    async def fetch(self, sql: str, keys: list[str], values: list[bytes]) -> list[dict[str, int]]:
        assert "metrics_outbox" in sql
        first = len(self.rows) + 1
        self.rows += zip(keys, values, strict=True)
        return [{"id": first + i} for i in range(len(keys))]


#: A period of each granularity: its first day and its label, written out.
_PERIODS = {
    Granularity.DAY: (date(2024, 5, 17), "2024-05-17"),
    Granularity.MONTH: (date(2024, 5, 1), "2024-05"),
    Granularity.QUARTER: (date(2024, 4, 1), "2024-Q2"),
    Granularity.YEAR: (date(2024, 1, 1), "2024"),
}
_GRANULARITIES = list(_PERIODS)
_LEVELS = {1: "province", 2: "district", 3: "commune"}


def _change(scope: str, indicator: str, version: int, ratio: bool) -> Change:
    granularity = _GRANULARITIES[version % len(_GRANULARITIES)]
    key = RowKey(indicator, granularity, scope, _PERIODS[granularity][0])
    den = Decimal(1000) if ratio else None
    row = Row(key, None, Decimal(600 + version), den, False, version)
    before = Row(key, None, Decimal(600), den, False, version - 1) if version > 1 else None
    return Change(row, before)


def _expected_item(change: Change) -> dict[str, Any]:
    """What the contract item of a ``_change`` holds, worked out by hand (the ratio's scale is
    100: 601 / 1000 is 60.1), but for ``updated_at``."""
    key, version = change.row.key, change.row.version
    ratio = change.row.den is not None
    start, label = _PERIODS[key.granularity]
    return {
        "indicator": key.indicator,
        "unit_code": key.scope.rpartition("/")[2],
        "level": _LEVELS[key.scope.count("/") + 1],
        "granularity": key.granularity,
        "period": label,
        "period_start": start,
        "value": (600 + version) / 10 if ratio else float(600 + version),
        "previous_value": None if version == 1 else 60.0 if ratio else 600.0,
        "numerator": float(600 + version) if ratio else None,
        "denominator": 1000.0 if ratio else None,
        "version": version,
    }


def test_write_updates_makes_a_record_per_unit_with_its_changes_in_order() -> None:
    scopes = ["08", "08/071", "08/071/02233", "08/072"]
    # Interleaved units, more than a record holds for 071: a batch's changes as they come.
    changes = [
        _change(
            scopes[i % 4],
            ("dossiers_processed_online_rate", "bts_sites")[i % 2],
            i + 1,
            ratio=i % 2 == 0,
        )
        for i in range(4 * MAX_METRIC_UPDATES + 10)
    ]
    outbox = _Outbox()
    started = datetime.now(UTC)
    written = asyncio.run(write_updates(outbox, changes, {"dossiers_processed_online_rate": 100}))
    finished = datetime.now(UTC)
    # What is published from memory once committed is what the rows hold, id for id.
    assert written.ids == list(range(1, len(outbox.rows) + 1))
    assert [(r.topic, r.key, r.value) for r in written.records] == [
        (METRICS_UPDATED, key, value) for key, value in outbox.rows
    ]

    records = [(key, MetricUpdates.model_validate_json(value)) for key, value in outbox.rows]
    for key, record in records:
        assert {u.unit_code for u in record.updates} == {key}
    # The same JSON as the model writes, record by record.
    for (_, value), (_, record) in zip(outbox.rows, records, strict=True):
        assert orjson.loads(value) == orjson.loads(record.model_dump_json())
    # One record per unit, split at the maximum; units in the order they first changed.
    assert [(k, len(r.updates)) for k, r in records] == [
        ("08", MAX_METRIC_UPDATES),
        ("08", 3),
        ("071", MAX_METRIC_UPDATES),
        ("071", 3),
        ("02233", MAX_METRIC_UPDATES),
        ("02233", 2),
        ("072", MAX_METRIC_UPDATES),
        ("072", 2),
    ]
    # Every change once, each unit's in the order they were made.
    by_unit: dict[str, list[int]] = {}
    for key, record in records:
        by_unit.setdefault(key, []).extend(u.version for u in record.updates)
    for scope in scopes:
        code = scope.rpartition("/")[2]
        assert by_unit[code] == [c.row.version for c in changes if c.row.key.scope == scope]
    # Every field of every item, as the contract reads it and as the fast decoder does.
    items = [u for _, record in records for u in record.updates]
    # The records' order: units as they first changed, each unit's changes as made (stable).
    units = list(dict.fromkeys(c.row.key.scope for c in changes))
    made = sorted(changes, key=lambda c: units.index(c.row.key.scope))
    assert [u.model_dump(exclude={"updated_at"}) for u in items] == [
        _expected_item(c) for c in made
    ]
    assert {u.updated_at for u in items} == {items[0].updated_at}
    assert started <= items[0].updated_at <= finished
    fast = [u for _, value in outbox.rows for u in decode_metric_updates_fast(value) or []]
    assert fast == [metric_update_of(u) for u in items]


def test_no_changes_no_record() -> None:
    outbox: Any = _Outbox()
    written = asyncio.run(write_updates(outbox, [], {}))
    assert outbox.rows == []
    assert (written.ids, written.records) == ([], [])
