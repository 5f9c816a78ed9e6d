"""Raw asyncpg connections from the shared SQLAlchemy engine (``ioc_common.db.pg_transaction``)."""

from __future__ import annotations

from ioc_common.db import pg_transaction

__all__ = ["pg_transaction"]
