"""trust boundaries: an event's identity is (provider, event_id); sessions can be revoked; the
audit log says where an action came from.

- ``ingest_seen_events`` and ``metrics_processed_events`` are keyed by (provider, event_id), so
  one department can never claim another's id. ``ingest_seen_events.content_sha256`` lets a
  re-send of the same id with different content be refused (409) instead of swallowed. Rows
  written before this revision keep their provider (ingest) or get ``''`` (metrics: the provider
  was not stored); their offsets are committed, so they are never read again.
- ``gateway_users.token_version``: bumped on logout, password change, disable, role or scope
  change; a session token carries the version it was issued with.
- ``audit_log.source_address`` / ``user_agent``: where a write or operator action came from.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ingest_seen_events", sa.Column("content_sha256", sa.LargeBinary(32), nullable=True)
    )
    op.drop_constraint("ingest_seen_events_pkey", "ingest_seen_events", type_="primary")
    op.create_primary_key("ingest_seen_events_pkey", "ingest_seen_events", ["provider", "event_id"])

    op.add_column(
        "metrics_processed_events",
        sa.Column("provider", sa.String(64), nullable=False, server_default=""),
    )
    op.drop_constraint("metrics_processed_events_pkey", "metrics_processed_events", type_="primary")
    op.create_primary_key(
        "metrics_processed_events_pkey", "metrics_processed_events", ["provider", "event_id"]
    )

    op.add_column(
        "gateway_users",
        sa.Column("token_version", sa.Integer, nullable=False, server_default="0"),
    )

    op.add_column("audit_log", sa.Column("source_address", sa.String(64), nullable=True))
    op.add_column("audit_log", sa.Column("user_agent", sa.String(256), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_log", "user_agent")
    op.drop_column("audit_log", "source_address")
    op.drop_column("gateway_users", "token_version")
    op.drop_constraint("metrics_processed_events_pkey", "metrics_processed_events", type_="primary")
    op.drop_column("metrics_processed_events", "provider")
    op.create_primary_key("metrics_processed_events_pkey", "metrics_processed_events", ["event_id"])
    op.drop_constraint("ingest_seen_events_pkey", "ingest_seen_events", type_="primary")
    op.drop_column("ingest_seen_events", "content_sha256")
    op.create_primary_key("ingest_seen_events_pkey", "ingest_seen_events", ["event_id"])
