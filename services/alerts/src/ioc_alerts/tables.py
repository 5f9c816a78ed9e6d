"""The service's tables (created by migrations 0004 and 0008), as SQLAlchemy Core objects."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)

targets = sa.Table(
    "alerts_targets",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("indicator", sa.String(64), nullable=False),
    # The whole target as the API shows it (scope, baseline, goal, tolerances, ...).
    sa.Column("definition", postgresql.JSONB, nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),  # seed | api
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

observations = sa.Table(
    "alerts_observations",
    metadata,
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

#: Every period's latest figure (migration 0008): what an as-of assessment is judged on.
period_values = sa.Table(
    "alerts_period_values",
    metadata,
    sa.Column("indicator", sa.String(64), primary_key=True),
    sa.Column("unit_code", sa.String(5), primary_key=True),
    sa.Column("granularity", sa.String(8), primary_key=True),
    sa.Column("period_start", sa.Date, primary_key=True),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("period", sa.String(16), nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

reports = sa.Table(
    "alerts_reports",
    metadata,
    sa.Column("indicator", sa.String(64), primary_key=True),
    sa.Column("unit_code", sa.String(5), primary_key=True),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("last_report_at", TS, nullable=False),
)

alerts = sa.Table(
    "alerts_alerts",
    metadata,
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
    sa.Column("detail", postgresql.JSONB, nullable=False),
    sa.Column("opened_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("acknowledged_by", sa.String(128), nullable=True),
    sa.Column("acknowledged_at", TS, nullable=True),
    sa.Column("acknowledged_note", sa.Text, nullable=True),
    sa.Column("resolved_at", TS, nullable=True),
    sa.Column("resolved_by", sa.String(128), nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
)

history = sa.Table(
    "alerts_history",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("alert_id", sa.Uuid, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("at", TS, nullable=False),
    sa.Column("change", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(128), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("detail", postgresql.JSONB, nullable=False),
)

silences = sa.Table(
    "alerts_silences",
    metadata,
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

recipients = sa.Table(
    "alerts_recipients",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("units", postgresql.ARRAY(sa.String(5)), nullable=False),
    sa.Column("pillars", postgresql.ARRAY(sa.String(32)), nullable=False),
    sa.Column("min_severity", sa.String(16), nullable=False),
    sa.Column("channels", postgresql.JSONB, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

notifications = sa.Table(
    "alerts_notifications",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("dedupe_key", sa.String(300), nullable=False, unique=True),
    sa.Column("recipient_id", sa.Uuid, nullable=False),
    sa.Column("alert_id", sa.Uuid, nullable=False),
    sa.Column("alert_version", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # firing | changed | resolved | repeat
    sa.Column("created_at", TS, nullable=False),
    sa.Column("grouped_at", TS, nullable=True),
    sa.Column("digest_key", sa.String(100), nullable=True),
)

outbox = sa.Table(
    "alerts_outbox",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("recipient_id", sa.Uuid, nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("payload", postgresql.JSONB, nullable=False),
    sa.Column("alert_ids", postgresql.ARRAY(sa.Uuid), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sent | dead
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", TS, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("sent_at", TS, nullable=True),
)

delivery_attempts = sa.Table(
    "alerts_delivery_attempts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("outbox_id", sa.Uuid, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", TS, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # sent | retry | dead
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=False),
)

event_outbox = sa.Table(
    "alerts_event_outbox",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("key", sa.String(16), nullable=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("published_at", TS, nullable=True),
)

zalo_tokens = sa.Table(
    "alerts_zalo_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("access_token", sa.Text, nullable=True),
    sa.Column("refresh_token", sa.Text, nullable=True),
    sa.Column("expires_at", TS, nullable=True),
    sa.Column("updated_at", TS, nullable=False),
)
