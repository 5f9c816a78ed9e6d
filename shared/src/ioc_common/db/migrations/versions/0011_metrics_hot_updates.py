"""metrics_hot_updates: room in each page for HOT updates of the rows metrics rewrites.

An aggregate cell, a stock fact and a freshness row are updated in place many times; with the
default fillfactor (100) every update lands on another page and every index of the table gets
a new entry. With 70 the new version usually fits on the same page and no indexed column
changes, so PostgreSQL updates it heap-only (HOT): no index writes. Existing pages keep their
layout until rewritten (``VACUUM FULL`` in a maintenance window, optional).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("metrics_aggregates", "metrics_facts", "metrics_freshness")


def upgrade() -> None:
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 70)")


def downgrade() -> None:
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
