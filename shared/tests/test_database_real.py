"""Migrations and the session helpers on the real PostgreSQL server."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ioc_common.audit import Origin, acting_from, record
from ioc_common.db import (
    create_engine,
    database_ready,
    pg_transaction,
    session_factory,
    transaction,
)
from ioc_common.db.migrate import current_heads, downgrade, upgrade

pytestmark = pytest.mark.connected


async def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            return {r[0] for r in rows}
    finally:
        await engine.dispose()


async def test_migrations_reach_head_and_go_back_down(fresh_database_url: str) -> None:
    assert {"audit_log", "alembic_version"} <= await tables(fresh_database_url)
    engine = create_engine(fresh_database_url)
    async with engine.connect() as conn:
        version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
    await engine.dispose()
    assert (version,) == current_heads()

    await asyncio.to_thread(downgrade, fresh_database_url, "base")
    assert "audit_log" not in await tables(fresh_database_url)
    await asyncio.to_thread(upgrade, fresh_database_url)
    assert "audit_log" in await tables(fresh_database_url)


async def test_transaction_commits_or_rolls_back_whole(fresh_database_url: str) -> None:
    engine = create_engine(fresh_database_url)
    sessions = session_factory(engine)
    assert await database_ready(engine)
    async with transaction(sessions) as session:
        await record(session, service="test", actor="admin", action="key.create", target="k1")
    with pytest.raises(RuntimeError):
        async with transaction(sessions) as session:
            await record(session, service="test", actor="admin", action="key.revoke")
            raise RuntimeError("boom")
    async with sessions() as session:
        actions = (await session.execute(sa.text("SELECT action FROM audit_log"))).scalars().all()
    await engine.dispose()
    assert actions == ["key.create"]


async def test_unreachable_database_is_not_ready() -> None:
    engine = create_engine("postgresql://ioc@127.0.0.1:1/ioc")
    assert not await database_ready(engine)
    await engine.dispose()


async def test_audit_rows_carry_their_origin_cut_to_the_columns(fresh_database_url: str) -> None:
    engine = create_engine(fresh_database_url)
    sessions = session_factory(engine)
    async with transaction(sessions) as session:
        await record(session, service="test", actor="a", action="none")
        with acting_from(Origin("198.51.100.7", "ua/1")):
            await record(session, service="test", actor="a", action="scoped")
            await record(
                session,
                service="test",
                actor="a",
                action="explicit",
                source_address="2001:db8::1",
                user_agent="bad\x1b[2Jagent" + "x" * 500,
            )
    async with sessions() as session:
        rows = (
            await session.execute(
                sa.text("SELECT action, source_address, user_agent FROM audit_log ORDER BY id")
            )
        ).all()
    await engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("none", None, None),
        ("scoped", "198.51.100.7", "ua/1"),
        ("explicit", "2001:db8::1", ("bad?[2Jagent" + "x" * 500)[:256]),
    ]


async def test_numeric_values_travel_exactly(fresh_database_url: str) -> None:
    """``numeric`` goes as text (``numeric_as_text``): every digit both ways, on the raw
    connection of the hot path and through SQLAlchemy."""
    values = [
        Decimal("3.14159265358979323846264338327950288"),
        Decimal("-0.000000000000000000001"),
        Decimal("12345678901234567890123456789.5"),
        Decimal("1.50"),
        Decimal("NaN"),
    ]
    engine = create_engine(fresh_database_url)
    try:
        async with pg_transaction(engine) as conn:
            back = await conn.fetchval("SELECT $1::numeric[]", values)
            summed = await conn.fetchval("SELECT $1::numeric + $2::numeric", values[0], 7)
        async with engine.connect() as sa_conn:
            read = (await sa_conn.execute(sa.text("SELECT 0.1::numeric * 3"))).scalar()
    finally:
        await engine.dispose()
    assert [str(v) for v in back] == [str(v) for v in values]
    assert summed == Decimal("10.14159265358979323846264338327950288")
    assert read == Decimal("0.3")
