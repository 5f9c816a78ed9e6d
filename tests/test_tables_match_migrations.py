"""The SQLAlchemy tables every service writes through match the schema the Alembic migrations
build, on a real PostgreSQL: the same columns, types and nullability, and the indexes and
unique constraints a table declares. A table edited without a migration (or a migration
without the table) fails here, not in production."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from ioc_alerts import tables as alerts_tables
from ioc_common import audit
from ioc_gateway import tables as gateway_tables
from ioc_ingest import tables as ingest_tables

pytestmark = pytest.mark.connected

#: Every service's table definitions (metrics writes through SQL of its own and has none).
METADATAS = {
    "ioc_common.audit": audit.audit_log.metadata,
    "ioc_ingest.tables": ingest_tables.metadata,
    "ioc_alerts.tables": alerts_tables.metadata,
    "ioc_gateway.tables": gateway_tables.metadata,
}


def _combined() -> sa.MetaData:
    combined = sa.MetaData()
    for metadata in METADATAS.values():
        for table in metadata.tables.values():
            assert table.name not in combined.tables, f"{table.name} is defined twice"
            table.to_metadata(combined)
    return combined


def _include_for(metadata: sa.MetaData) -> Any:
    """Compare only what the tables declare: tables of other services' own SQL (metrics) and
    ``alembic_version`` are left out, and a table's indexes and unique constraints only when
    it declares some (an index a migration added for a query, not named by the table, is
    not a difference)."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table":
            return not reflected or compare_to is not None
        if type_ in ("index", "unique_constraint") and reflected and compare_to is None:
            table = metadata.tables.get(obj.table.name)
            if table is None:
                return False
            if type_ == "index":
                return bool(table.indexes)
            return any(isinstance(c, sa.UniqueConstraint) for c in table.constraints)
        return True

    return include


def _differences(database_url: str, metadata: sa.MetaData) -> list[Any]:
    def compare(connection: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": _include_for(metadata)},
        )
        return list(compare_metadata(context, metadata))

    async def run() -> list[Any]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_every_table_matches_the_migrated_schema(fresh_database_url: str) -> None:
    metadata = _combined()
    differences = _differences(fresh_database_url, metadata)
    assert differences == [], "\n".join(str(d) for d in differences)
