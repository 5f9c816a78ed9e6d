from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from ioc_common.errors import InvalidInput
from ioc_common.timeutil import (
    Granularity,
    check_query_range,
    parse_observed,
    period_count,
    period_end,
    period_label,
    period_start,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-31", (date(2024, 5, 31), Granularity.DAY)),
        ("2024-05", (date(2024, 5, 1), Granularity.MONTH)),
        ("2024-Q4", (date(2024, 10, 1), Granularity.QUARTER)),
        ("2024", (date(2024, 1, 1), Granularity.YEAR)),
        # 18:30 UTC on 31 May is already 1 June in Vietnam (UTC+7).
        ("2024-05-31T18:30:00Z", (date(2024, 6, 1), Granularity.DAY)),
        ("2024-05-31T18:30:00", (date(2024, 5, 31), Granularity.DAY)),
    ],
)
def test_parse_observed(text: str, expected: tuple[date, Granularity]) -> None:
    assert parse_observed(text) == expected


def test_aware_datetime_uses_vietnam_day() -> None:
    moment = datetime(2024, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert parse_observed(moment) == (date(2025, 1, 1), Granularity.DAY)


@pytest.mark.parametrize(
    "text", ["2024-13", "2024-Q5", "yesterday", "31/05/2024", "9999-12-31T23:59:59-12:00"]
)
def test_parse_observed_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=text[:4]):
        parse_observed(text)


@pytest.mark.parametrize(
    ("day", "granularity", "start", "end", "label"),
    [
        (date(2024, 2, 17), Granularity.MONTH, date(2024, 2, 1), date(2024, 2, 29), "2024-02"),
        (date(2024, 11, 5), Granularity.QUARTER, date(2024, 10, 1), date(2024, 12, 31), "2024-Q4"),
        (date(2023, 12, 31), Granularity.MONTH, date(2023, 12, 1), date(2023, 12, 31), "2023-12"),
        (date(2024, 7, 9), Granularity.YEAR, date(2024, 1, 1), date(2024, 12, 31), "2024"),
        (date(2024, 7, 9), Granularity.DAY, date(2024, 7, 9), date(2024, 7, 9), "2024-07-09"),
    ],
)
def test_periods(day: date, granularity: Granularity, start: date, end: date, label: str) -> None:
    assert period_start(day, granularity) == start
    assert period_end(start, granularity) == end
    assert period_label(start, granularity) == label
    assert parse_observed(label) == (start, granularity)


@pytest.mark.parametrize(
    ("first", "last", "granularity", "count"),
    [
        (date(2024, 1, 1), date(2024, 12, 31), Granularity.DAY, 366),
        (date(2024, 11, 1), date(2025, 2, 1), Granularity.MONTH, 4),
        (date(2024, 10, 1), date(2025, 4, 1), Granularity.QUARTER, 3),
        (date(1900, 1, 1), date(2200, 1, 1), Granularity.YEAR, 301),
        (date(2024, 5, 1), date(2024, 4, 1), Granularity.MONTH, 0),
    ],
)
def test_period_count_matches_enumeration(
    first: date, last: date, granularity: Granularity, count: int
) -> None:
    assert period_count(first, last, granularity) == count


def test_a_query_range_is_bounded_in_years_order_and_length() -> None:
    assert check_query_range(date(2024, 1, 1), date(2024, 3, 1), Granularity.MONTH) == 3
    for first, last, field in (
        (date(1, 1, 1), date(9999, 12, 31), "from"),
        (date(2024, 1, 1), date(9999, 12, 31), "to"),
        (date(2024, 2, 1), date(2024, 1, 1), "to"),
    ):
        with pytest.raises(InvalidInput) as caught:
            check_query_range(first, last, Granularity.DAY)
        assert [d.field for d in caught.value.details] == [field]
    with pytest.raises(InvalidInput, match="period"):
        check_query_range(date(1900, 1, 1), date(1913, 12, 31), Granularity.DAY)
