"""The outbox's MetricUpdated bytes (built without a model per change) are exactly what the
contract model ``ioc_common.events.MetricUpdated`` writes for the same fields."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from ioc_common.events import AggregationLevel, MetricUpdated
from ioc_common.timeutil import Granularity, period_label
from ioc_metrics.updates import UpdateFields, encode_update

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
    fields: UpdateFields = {
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
    expected = MetricUpdated(**fields).model_dump_json().encode()
    assert encode_update(fields) == expected
    assert MetricUpdated.model_validate_json(encode_update(fields)) == MetricUpdated(**fields)


def test_the_fields_are_the_contract_fields_in_order() -> None:
    assert list(UpdateFields.__annotations__) == list(MetricUpdated.model_fields)
