"""Vietnam time (UTC+7, no DST) and the reporting periods the platform aggregates into."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Final

VIETNAM_TZ: Final = timezone(timedelta(hours=7), "ICT")


class Granularity(StrEnum):
    """How fine a reported figure is: a monthly figure is never split into days."""

    DAY = "day"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


GRANULARITY_ORDER: Final = (
    Granularity.DAY,
    Granularity.MONTH,
    Granularity.QUARTER,
    Granularity.YEAR,
)

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


def utc_now() -> datetime:
    return datetime.now(UTC)


def vietnam_today() -> date:
    return datetime.now(VIETNAM_TZ).date()


def parse_observed(value: object) -> tuple[date, Granularity]:
    """Read an ``observed_at`` as senders write it.

    Accepted: ``2024-05-31`` (a day), ``2024-05`` (a month), ``2024-Q2`` (a quarter), ``2024``
    (a year), or an ISO date-time (its Vietnam-time day; a naive one is taken as Vietnam time).
    Returns the first day of the period and its granularity.
    """
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=VIETNAM_TZ)
        try:
            return moment.astimezone(VIETNAM_TZ).date(), Granularity.DAY
        except OverflowError:  # e.g. 9999-12-31T23:59-12:00 is past year 9999 in Vietnam
            raise ValueError(f"{value.isoformat()} is out of range") from None
    if isinstance(value, date):
        return value, Granularity.DAY
    if not isinstance(value, str):
        raise ValueError("must be a date string such as 2024-05-31, 2024-05, 2024-Q2 or 2024")
    text = value.strip()
    if m := _YEAR.match(text):
        return date(int(m[1]), 1, 1), Granularity.YEAR
    if m := _QUARTER.match(text):
        return date(int(m[1]), 3 * int(m[2]) - 2, 1), Granularity.QUARTER
    if m := _MONTH.match(text):
        month = int(m[2])
        if not 1 <= month <= 12:
            raise ValueError(f"{text!r}: month {month} is not between 01 and 12")
        return date(int(m[1]), month, 1), Granularity.MONTH
    try:
        if len(text) == 10:
            return date.fromisoformat(text), Granularity.DAY
        return parse_observed(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date: use 2024-05-31, 2024-05, 2024-Q2, 2024 or an ISO date-time"
        ) from None


def period_start(day: date, granularity: Granularity) -> date:
    """The first day of the period of that granularity containing ``day``."""
    match granularity:
        case Granularity.DAY:
            return day
        case Granularity.MONTH:
            return day.replace(day=1)
        case Granularity.QUARTER:
            return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        case Granularity.YEAR:
            return date(day.year, 1, 1)


def period_end(start: date, granularity: Granularity) -> date:
    """The last day of the period that starts on ``start``."""
    match granularity:
        case Granularity.DAY:
            return start
        case Granularity.MONTH:
            nxt = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        case Granularity.QUARTER:
            month = start.month + 3
            nxt = date(start.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
        case Granularity.YEAR:
            nxt = date(start.year + 1, 1, 1)
    return nxt - timedelta(days=1)


def period_label(start: date, granularity: Granularity) -> str:
    """``2024-05-31``, ``2024-05``, ``2024-Q2``, ``2024`` — the same forms senders use."""
    match granularity:
        case Granularity.DAY:
            return start.isoformat()
        case Granularity.MONTH:
            return f"{start.year:04d}-{start.month:02d}"
        case Granularity.QUARTER:
            return f"{start.year:04d}-Q{(start.month - 1) // 3 + 1}"
        case Granularity.YEAR:
            return f"{start.year:04d}"


def coarser_or_equal(granularity: Granularity) -> tuple[Granularity, ...]:
    """The periods a figure of this granularity can be aggregated into."""
    return GRANULARITY_ORDER[GRANULARITY_ORDER.index(granularity) :]
