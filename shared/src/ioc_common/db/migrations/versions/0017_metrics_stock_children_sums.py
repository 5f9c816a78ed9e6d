"""metrics_stock_children_sums: stock cells keep their children's sum too.

Flow cells have kept their children's sum beside their own report since ``0012``; stock cells
now do as well, so a batch of stock facts that are the latest of their series moves each cell
by a delta (``ioc_metrics.core``, "the stock path as deltas") instead of reading every child
back. Existing stock cells above the communes get the sum once here, as the exact path
computes it: each child's row of the period, or its latest earlier one carried (never from
before the 1 July 2025 reform into a period ending after it).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The reform date as of this revision (``ioc_common.reference.units.REFORM_DATE``).
_REFORM = "DATE '2025-07-01'"


def upgrade() -> None:
    op.execute(
        "UPDATE metrics_aggregates p SET kid_num = s.num, kid_den = s.den"
        " FROM (SELECT a.indicator, a.granularity, a.scope, a.period_start,"
        "              sum(c.num) AS num, sum(c.den) AS den"
        "       FROM metrics_aggregates a"
        "       JOIN metrics_nodes n ON n.indicator = a.indicator"
        "        AND n.granularity = a.granularity AND n.parent_scope = a.scope"
        "       CROSS JOIN LATERAL (SELECT c.num, c.den, c.period_end FROM metrics_aggregates c"
        "         WHERE c.indicator = a.indicator AND c.granularity = a.granularity"
        "           AND c.scope = n.scope AND c.period_start <= a.period_start"
        "         ORDER BY c.period_start DESC LIMIT 1) c"
        "       WHERE a.indicator IN (SELECT DISTINCT indicator FROM metrics_facts"
        "                             WHERE part = 'stock')"
        "         AND c.num IS NOT NULL"
        f"        AND c.period_end >= CASE WHEN a.period_end >= {_REFORM} THEN {_REFORM}"
        "                                  ELSE DATE '-infinity' END"
        "       GROUP BY a.indicator, a.granularity, a.scope, a.period_start) s"
        " WHERE p.indicator = s.indicator AND p.granularity = s.granularity"
        "   AND p.scope = s.scope AND p.period_start = s.period_start"
    )


def downgrade() -> None:
    # The sums are bookkeeping the older code neither reads nor writes for stock cells.
    pass
