"""alerts_period_values: every period's latest figure per (indicator, unit, granularity), as
the alerts service heard of it — the history behind ``GET /v1/assessments?as_of=…`` (which
units were on track, lagging or missing at a date). ``alerts_observations`` keeps only the
most recent period, which the live alerts follow.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts_period_values",
        sa.Column("indicator", sa.String(64), primary_key=True),
        sa.Column("unit_code", sa.String(5), primary_key=True),
        sa.Column("granularity", sa.String(8), primary_key=True),
        sa.Column("period_start", sa.Date, primary_key=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    # An as-of query reads one indicator at one level, up to a date.
    op.create_index(
        "ix_alerts_period_values_level",
        "alerts_period_values",
        ["indicator", "level", "period_start"],
    )
    # What the service already holds: the most recent period of every series.
    op.execute(
        "INSERT INTO alerts_period_values (indicator, unit_code, granularity, period_start,"
        " level, period, value, version, updated_at)"
        " SELECT indicator, unit_code, granularity, period_start, level, period, value,"
        " version, updated_at FROM alerts_observations"
    )


def downgrade() -> None:
    op.drop_table("alerts_period_values")
