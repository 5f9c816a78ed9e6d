"""metrics_aggregates: drop the (indicator, granularity, parent_scope, scope, period_start) index.

No statement reads aggregate rows by their parent any more: the children of a node are found in
``metrics_nodes`` and each child's row by the primary key, and flow cells keep their children's
sum themselves (``0012``). The index only cost every inserted cell one more B-tree entry. The
two left serve the query API: a level's units (``ix_metrics_aggregates_node``) and a unit's
latest periods (``ix_metrics_aggregates_unit_latest``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_metrics_aggregates_children", table_name="metrics_aggregates")


def downgrade() -> None:
    op.create_index(
        "ix_metrics_aggregates_children",
        "metrics_aggregates",
        ["indicator", "granularity", "parent_scope", "scope", "period_start"],
    )
