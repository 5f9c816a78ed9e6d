"""alerts service tables: targets, observed values, alerts and their history, silences,
recipients, the notification and event outboxes, delivery attempts, Zalo tokens.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts_targets",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("indicator", sa.String(64), nullable=False),
        sa.Column("definition", postgresql.JSONB, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_index("ix_alerts_targets_indicator", "alerts_targets", ["indicator"])
    op.create_table(
        "alerts_observations",
        sa.Column("indicator", sa.String(64), primary_key=True),
        sa.Column("unit_code", sa.String(5), primary_key=True),
        sa.Column("granularity", sa.String(8), primary_key=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "alerts_reports",
        sa.Column("indicator", sa.String(64), primary_key=True),
        sa.Column("unit_code", sa.String(5), primary_key=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("last_report_at", TS, nullable=False),
    )
    op.create_table(
        "alerts_alerts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(100), nullable=True),
        sa.Column("indicator", sa.String(64), nullable=False),
        sa.Column("unit_code", sa.String(5), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("pillar", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("summary_vi", sa.Text, nullable=False),
        sa.Column("summary_en", sa.Text, nullable=False),
        sa.Column("detail", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("acknowledged_note", sa.Text, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("resolved_by", sa.String(128), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    # One open alert per fingerprint (rule, indicator, unit).
    op.create_index(
        "ux_alerts_alerts_open_fingerprint",
        "alerts_alerts",
        ["fingerprint"],
        unique=True,
        postgresql_where=sa.text("state <> 'resolved'"),
    )
    op.create_index("ix_alerts_alerts_state_opened", "alerts_alerts", ["state", "opened_at"])
    op.create_index("ix_alerts_alerts_unit", "alerts_alerts", ["unit_code"])
    op.create_table(
        "alerts_history",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("alert_id", sa.Uuid, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("change", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("detail", postgresql.JSONB, nullable=False, server_default="{}"),
    )
    op.create_index("ix_alerts_history_alert", "alerts_history", ["alert_id", "version"])
    op.create_table(
        "alerts_silences",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("indicator", sa.String(64), nullable=True),
        sa.Column("unit_code", sa.String(5), nullable=True),
        sa.Column("pillar", sa.String(32), nullable=True),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "alerts_recipients",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("units", postgresql.ARRAY(sa.String(5)), nullable=False),
        sa.Column("pillars", postgresql.ARRAY(sa.String(32)), nullable=False),
        sa.Column("min_severity", sa.String(16), nullable=False),
        sa.Column("channels", postgresql.JSONB, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "alerts_notifications",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("dedupe_key", sa.String(300), nullable=False, unique=True),
        sa.Column("recipient_id", sa.Uuid, nullable=False),
        sa.Column("alert_id", sa.Uuid, nullable=False),
        sa.Column("alert_version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("grouped_at", TS, nullable=True),
        sa.Column("digest_key", sa.String(100), nullable=True),
    )
    op.create_index(
        "ix_alerts_notifications_ungrouped",
        "alerts_notifications",
        ["recipient_id", "created_at"],
        postgresql_where=sa.text("grouped_at IS NULL"),
    )
    op.create_table(
        "alerts_outbox",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("recipient_id", sa.Uuid, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        sa.Column("alert_ids", postgresql.ARRAY(sa.Uuid), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
    )
    op.create_index(
        "ix_alerts_outbox_due",
        "alerts_outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "alerts_delivery_attempts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("outbox_id", sa.Uuid, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=False),
    )
    op.create_index("ix_alerts_delivery_attempts_outbox", "alerts_delivery_attempts", ["outbox_id"])
    op.create_table(
        "alerts_event_outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("key", sa.String(16), nullable=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("published_at", TS, nullable=True),
    )
    op.create_index(
        "ix_alerts_event_outbox_unpublished",
        "alerts_event_outbox",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "alerts_zalo_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("access_token", sa.Text, nullable=True),
        sa.Column("refresh_token", sa.Text, nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "alerts_zalo_tokens",
        "alerts_event_outbox",
        "alerts_delivery_attempts",
        "alerts_outbox",
        "alerts_notifications",
        "alerts_recipients",
        "alerts_silences",
        "alerts_history",
        "alerts_alerts",
        "alerts_reports",
        "alerts_observations",
        "alerts_targets",
    ):
        op.drop_table(name)
