"""Vietnam time (UTC+7, no DST) and the reporting periods the platform aggregates into."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Final

from ioc_common.errors import FieldError, InvalidInput

VIETNAM_TZ: Final = timezone(timedelta(hours=7), "ICT")

#: The years a query may ask about (a period outside is refused, never computed).
QUERY_MIN_YEAR: Final = 1900
QUERY_MAX_YEAR: Final = 2200
#: The most periods one request may span (about 13 years of days).
QUERY_MAX_PERIODS: Final = 5000


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
#: 31/05/2024, 31-05-2024, 31.05.2024: how Excel shows a date in Vietnam.
_DAY_FIRST = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
#: 45443: a date cell exported as Excel's serial day number.
_EXCEL_SERIAL = re.compile(r"^\d{5}(\.\d+)?$")
_FORMS_VI: Final = "2024-05-31 (ngày), 2024-05 (tháng), 2024-Q2 (quý) hoặc 2024 (năm)"
_FORMS_EN: Final = "2024-05-31 (day), 2024-05 (month), 2024-Q2 (quarter) or 2024 (year)"


def _not_a_period(text: str) -> str:
    """Why ``text`` is no period, in Vietnamese and English, with the fix for what spreadsheets
    write instead."""
    if m := _DAY_FIRST.match(text):
        iso = f"{m[3]}-{int(m[2]):02d}-{int(m[1]):02d}"
        return (
            f"{text!r} là ngày kiểu Excel: hãy viết {iso} (năm-tháng-ngày) hoặc {iso[:7]} cho cả "
            f"tháng / {text!r} is a spreadsheet-style date: write {iso} (year-month-day), or "
            f"{iso[:7]} for the whole month"
        )
    if _EXCEL_SERIAL.match(text):
        return (
            f"{text!r} là số ngày của Excel: định dạng ô là Văn bản rồi viết {_FORMS_VI} / "
            f"{text!r} is an Excel serial day number: format the cell as Text and write "
            f"{_FORMS_EN}"
        )
    return (
        f"{text!r} không phải kỳ báo cáo: dùng {_FORMS_VI} / "
        f"{text!r} is not a period: use {_FORMS_EN}"
    )


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
            raise ValueError(
                f"{value.isoformat()} ngoài phạm vi lịch / {value.isoformat()} is out of range"
            ) from None
    if isinstance(value, date):
        return value, Granularity.DAY
    if not isinstance(value, str):
        raise ValueError(
            f"phải là chuỗi ngày tháng: {_FORMS_VI} / must be a date string: {_FORMS_EN}"
        )
    text = value.strip()
    if m := _YEAR.match(text):
        return date(int(m[1]), 1, 1), Granularity.YEAR
    if m := _QUARTER.match(text):
        return date(int(m[1]), 3 * int(m[2]) - 2, 1), Granularity.QUARTER
    if m := _MONTH.match(text):
        month = int(m[2])
        if not 1 <= month <= 12:
            raise ValueError(
                f"{text!r}: tháng {month} không nằm trong 01-12 / "
                f"{text!r}: month {month} is not between 01 and 12"
            )
        return date(int(m[1]), month, 1), Granularity.MONTH
    try:
        if len(text) == 10:
            return date.fromisoformat(text), Granularity.DAY
        return parse_observed(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(_not_a_period(text)) from None


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


def period_count(first: date, last: date, granularity: Granularity) -> int:
    """How many periods of ``granularity`` run from the one holding ``first`` to the one
    holding ``last``, both included (0 when ``last`` is before ``first``); computed, not
    enumerated."""

    def index(day: date) -> int:
        match granularity:
            case Granularity.DAY:
                return day.toordinal()
            case Granularity.MONTH:
                return day.year * 12 + day.month - 1
            case Granularity.QUARTER:
                return day.year * 4 + (day.month - 1) // 3
            case Granularity.YEAR:
                return day.year

    return max(0, index(last) - index(first) + 1)


def _refused(field: str, reason_vi: str, reason_en: str) -> InvalidInput:
    return InvalidInput(
        "Kỳ hoặc khoảng thời gian không hợp lệ",
        "Invalid period or period range",
        [FieldError(field, f"{reason_vi} / {reason_en}")],
    )


def check_query_period(start: date, field: str) -> None:
    """A period a query may ask about: its year between ``QUERY_MIN_YEAR`` and
    ``QUERY_MAX_YEAR``; otherwise 422 naming ``field``."""
    if not QUERY_MIN_YEAR <= start.year <= QUERY_MAX_YEAR:
        raise _refused(
            field,
            f"năm phải từ {QUERY_MIN_YEAR} đến {QUERY_MAX_YEAR}",
            f"the year must be between {QUERY_MIN_YEAR} and {QUERY_MAX_YEAR}",
        )


def check_query_range(
    first: date,
    last: date,
    granularity: Granularity,
    *,
    first_field: str = "from",
    last_field: str = "to",
    max_periods: int = QUERY_MAX_PERIODS,
) -> int:
    """The one rule for a range of periods a query asks for: both ends pass
    :func:`check_query_period`, ``first`` is not after ``last``, and it spans at most
    ``max_periods`` periods of ``granularity``. Returns how many periods it spans; raises
    :class:`~ioc_common.errors.InvalidInput` (422) naming the field at fault."""
    check_query_period(first, first_field)
    check_query_period(last, last_field)
    if last < first:
        raise _refused(last_field, "không được trước kỳ đầu", f"must not be before {first_field}")
    count = period_count(first, last, granularity)
    if count > max_periods:
        raise _refused(
            last_field,
            f"khoảng {count} kỳ ({granularity.value}) vượt quá {max_periods} kỳ cho mỗi yêu cầu",
            f"the range spans {count} {granularity.value} periods; at most {max_periods} "
            "per request",
        )
    return count
