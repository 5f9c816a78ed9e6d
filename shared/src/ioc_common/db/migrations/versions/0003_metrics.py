"""metrics service tables: facts, aggregates, processed events, offsets, outbox, freshness.

Sized for 34 provinces x 3,321 communes x ~20 indicators x years of daily periods: about
3,400 nodes x 20 indicators x 382 periods a year = ~26 M aggregate rows a year. Every lookup the
service makes goes through a B-tree whose leading columns pin one indicator and granularity:
a node's periods (primary key), a node's children (parent_scope), a level's units for the API.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "metrics_processed_events",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
    )
    op.create_table(
        "metrics_offsets",
        sa.Column("group_id", sa.String(128), primary_key=True),
        sa.Column("topic", sa.String(255), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
    )
    # One row per fact: a flow per event, a stock per (series, period) keeping the best revision.
    op.create_table(
        "metrics_facts",
        sa.Column("indicator", sa.String(64), primary_key=True),
        sa.Column("unit_code", sa.String(5), primary_key=True),
        sa.Column("fact_key", sa.String(300), primary_key=True),
        sa.Column("part", sa.String(5), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("series", sa.String(200), nullable=False),
        sa.Column("observed_at", sa.Date, nullable=False),
        sa.Column("granularity", sa.String(7), nullable=False),
        sa.Column("gran_order", sa.SmallInteger, nullable=False),
        sa.Column("num", sa.Numeric, nullable=False),
        sa.Column("den", sa.Numeric, nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
    )
    # As-of lookups: the latest fact of each series of a unit up to a date.
    op.create_index(
        "ix_metrics_facts_series_asof",
        "metrics_facts",
        ["indicator", "unit_code", "series", "observed_at", "gran_order"],
        postgresql_where=sa.text("part = 'stock'"),
    )
    op.create_table(
        "metrics_aggregates",
        sa.Column("indicator", sa.String(64), primary_key=True),
        sa.Column("granularity", sa.String(7), primary_key=True),
        sa.Column("scope", sa.String(16), primary_key=True),
        sa.Column("period_start", sa.Date, primary_key=True),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("parent_scope", sa.String(16), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("code", sa.String(5), nullable=False),
        sa.Column("own_num", sa.Numeric, nullable=True),
        sa.Column("own_den", sa.Numeric, nullable=True),
        sa.Column("own_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("own_fresh", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("num", sa.Numeric, nullable=True),
        sa.Column("den", sa.Numeric, nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("carried", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
    )
    op.create_index(
        "ix_metrics_aggregates_children",
        "metrics_aggregates",
        ["indicator", "granularity", "parent_scope", "scope", "period_start"],
    )
    op.create_index(
        "ix_metrics_aggregates_node",
        "metrics_aggregates",
        ["indicator", "granularity", "level", "code", "period_start"],
    )
    op.create_index(
        "ix_metrics_aggregates_unit_latest",
        "metrics_aggregates",
        ["code", "granularity", "period_start"],
    )
    # The tree as the aggregates saw it: each parent's child nodes, per indicator and
    # granularity, so a carry-forward lookup is one backward primary-key probe per child.
    op.create_table(
        "metrics_nodes",
        sa.Column("indicator", sa.String(64), primary_key=True),
        sa.Column("granularity", sa.String(7), primary_key=True),
        sa.Column("parent_scope", sa.String(16), primary_key=True),
        sa.Column("scope", sa.String(16), primary_key=True),
    )
    # MetricUpdated events written in the batch's transaction, published after the commit.
    op.create_table(
        "metrics_outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("key", sa.String(16), nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
    )
    op.create_table(
        "metrics_freshness",
        sa.Column("indicator", sa.String(64), primary_key=True),
        sa.Column("unit_code", sa.String(5), primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("last_observed_at", sa.Date, nullable=False),
        sa.Column("last_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_processed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_metrics_freshness_scope", "metrics_freshness", ["scope"])


def downgrade() -> None:
    for table in (
        "metrics_freshness",
        "metrics_outbox",
        "metrics_nodes",
        "metrics_aggregates",
        "metrics_facts",
        "metrics_offsets",
        "metrics_processed_events",
    ):
        op.drop_table(table)
