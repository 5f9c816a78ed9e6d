"""The reads the routes share: one page of a table (with its total), every row of a query, and
one row by id (404 when there is none), with the rows that belong to it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_common.errors import NotFound


async def fetch_all(session: AsyncSession, statement: sa.Executable) -> Sequence[RowMapping]:
    return (await session.execute(statement)).mappings().all()


async def fetch_by_id(
    session: AsyncSession, table: sa.Table, row_id: object, missing: NotFound
) -> RowMapping:
    """The row of ``table`` whose ``id`` is ``row_id``; raises ``missing`` when there is none."""
    row = (await session.execute(sa.select(table).where(table.c.id == row_id))).mappings().first()
    if row is None:
        raise missing
    return row


async def fetch_with_children(
    session: AsyncSession,
    table: sa.Table,
    row_id: object,
    missing: NotFound,
    parent: sa.Column[Any],
    order_by: sa.Column[Any],
) -> tuple[RowMapping, Sequence[RowMapping]]:
    """The row of ``table`` whose ``id`` is ``row_id`` (``missing`` when there is none) and the
    rows of another table whose ``parent`` column names it, by ``order_by``."""
    row = await fetch_by_id(session, table, row_id, missing)
    children = await fetch_all(
        session, sa.select(parent.table).where(parent == row_id).order_by(order_by)
    )
    return row, children


async def page_of(
    session: AsyncSession,
    table: sa.Table,
    *,
    where: Sequence[Any] = (),
    order_by: Sequence[Any],
    limit: int,
    offset: int,
    out: Callable[[RowMapping], dict[str, Any]] = dict,
) -> dict[str, Any]:
    """One page of ``table`` (``Page[...]``): the rows ``out`` shapes, and how many match."""
    total = (
        await session.execute(sa.select(sa.func.count()).select_from(table).where(*where))
    ).scalar_one()
    rows = await fetch_all(
        session, sa.select(table).where(*where).order_by(*order_by).limit(limit).offset(offset)
    )
    return {"items": [out(r) for r in rows], "total": total, "limit": limit, "offset": offset}
