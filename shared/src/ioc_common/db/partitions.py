"""Tables partitioned by calendar month on a date column, for rows kept only for a window of
time: a month's rows live in ``<table>_pYYYYMM`` (from its first day to the next month's), so
forgetting old rows is ``DROP TABLE`` of whole months — no ``DELETE``, no vacuum, and the
partition being written stays small.

The DDL is built here once, for the migrations that convert a table and for the services that
keep their partitions (this month's and the next are made ahead; months wholly older than the
window are dropped).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,40}")
_MONTH_SUFFIX = re.compile(r"_p(\d{4})(\d{2})")


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    first = month_start(day)
    return (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )


def partition_name(table: str, month: date) -> str:
    return f"{_checked(table)}_p{month:%Y%m}"


def create_partition_sql(table: str, month: date) -> str:
    """The partition holding ``month`` (any day of it), if it is not there yet."""
    first = month_start(month)
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(table, first)} PARTITION OF {table}"
        f" FOR VALUES FROM ('{first.isoformat()}') TO ('{next_month(first).isoformat()}')"
    )


def months_between(first: date, last: date) -> list[date]:
    """The first day of every month from ``first``'s to ``last``'s, both included."""
    months, month = [], month_start(first)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


async def keep_months(conn: Any, table: str, today: date, *, forget_before: date) -> list[str]:
    """On an asyncpg connection (in the caller's transaction): make this month's and the next
    month's partitions, and drop every partition whose days all lie before ``forget_before``.
    Returns the names dropped (partitions not named by this module are left alone)."""
    for month in (month_start(today), next_month(today)):
        await conn.execute(create_partition_sql(table, month))
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = $1::regclass ORDER BY 1",
        _checked(table),
    )
    dropped = []
    for r in rows:
        name: str = r["relname"]
        found = _MONTH_SUFFIX.fullmatch(name.removeprefix(table))
        if found is None:
            continue
        month = date(int(found[1]), int(found[2]), 1)
        if next_month(month) <= forget_before:
            await conn.execute(f"DROP TABLE {name}")
            dropped.append(name)
    return dropped


async def keep_window(conn: Any, table: str, today: date, window_days: int) -> list[str]:
    """``keep_months`` for rows remembered ``window_days``: a month is dropped once all its
    days lie more than ``window_days`` before ``today``."""
    return await keep_months(conn, table, today, forget_before=today - timedelta(days=window_days))


# --- for migrations (``op``: Alembic's operations) ----------------------------------------------


def set_aside(op: Any, table: str) -> str:
    """Rename ``table`` (and its primary key) out of the way; returns the new name."""
    old = f"{_checked(table)}_unpartitioned"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {table}_pkey TO {old}_pkey")
    return old


def move_into_months(
    op: Any, table: str, *, columns: str, column_types: str, key: str, month: str, month_of: str
) -> None:
    """Make ``table`` one partitioned by ``month`` (a new ``date`` column: the first day of the
    UTC month of the old rows' time stamp ``month_of``), keyed by ``key`` plus the month, with
    a partition for every month from its oldest row's to the next one, its rows moved in."""
    old = set_aside(op, table)
    op.execute(
        f"CREATE TABLE {table} ({column_types}, {month} date NOT NULL,"
        f" PRIMARY KEY ({key}, {month})) PARTITION BY RANGE ({month})"
    )
    today = datetime.now(UTC).date()
    oldest = (
        op.get_bind()
        .execute(sa.text(f"SELECT min(({month_of} AT TIME ZONE 'UTC')::date) FROM {old}"))
        .scalar()
    )
    for first in months_between(min(oldest or today, today), next_month(today)):
        op.execute(create_partition_sql(table, first))
    op.execute(
        f"INSERT INTO {table} ({columns}, {month}) SELECT {columns},"
        f" date_trunc('month', {month_of} AT TIME ZONE 'UTC')::date FROM {old}"
    )
    op.execute(f"DROP TABLE {old}")


def _checked(table: str) -> str:
    """Table names go into DDL text: only plain lower-case identifiers are accepted."""
    if not _IDENTIFIER.fullmatch(table):
        raise ValueError(f"not a plain table name: {table!r}")
    return table
