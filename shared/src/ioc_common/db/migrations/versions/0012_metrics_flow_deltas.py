"""metrics_flow_deltas: flow cells keep their children's sum, so a batch adds deltas.

A flow cell's value is its own report when it has one, else the sum of its children's values.
With that sum stored beside the own report (``kid_num``/``kid_den``), a batch updates a flow
cell by adding to either part in one set-based upsert and never reads the children back
(``ioc_metrics.core``). Existing flow cells above the communes get their children's sum
computed once here. ``value`` is dropped: nothing read it (readers combine ``num``/``den`` with
``catalogue.display_value``), and keeping it meant computing the display rule on every write.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("metrics_aggregates", sa.Column("kid_num", sa.Numeric, nullable=True))
    op.add_column("metrics_aggregates", sa.Column("kid_den", sa.Numeric, nullable=True))
    op.execute(
        "UPDATE metrics_aggregates p SET kid_num = s.num, kid_den = s.den"
        " FROM (SELECT c.indicator, c.granularity, c.parent_scope, c.period_start,"
        "              sum(c.num) AS num, sum(c.den) AS den"
        "       FROM metrics_aggregates c WHERE c.num IS NOT NULL"
        "       GROUP BY c.indicator, c.granularity, c.parent_scope, c.period_start) s"
        " WHERE p.indicator = s.indicator AND p.granularity = s.granularity"
        "   AND p.scope = s.parent_scope AND p.period_start = s.period_start"
        "   AND p.indicator IN (SELECT DISTINCT indicator FROM metrics_facts WHERE part = 'flow')"
    )
    op.drop_column("metrics_aggregates", "value")


def downgrade() -> None:
    op.add_column("metrics_aggregates", sa.Column("value", sa.Float, nullable=True))
    op.drop_column("metrics_aggregates", "kid_den")
    op.drop_column("metrics_aggregates", "kid_num")
