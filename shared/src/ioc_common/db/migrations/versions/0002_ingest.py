"""ingest service tables: API keys and the event ids already handed to Kafka.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ingest_api_keys",
        sa.Column("id", sa.Uuid, primary_key=True),
        # The public part of the key, used to find the row; the secret is stored only hashed.
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_sha256", sa.LargeBinary(32), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False, server_default=""),
        sa.Column("families", postgresql.ARRAY(sa.String(32)), nullable=False),
        sa.Column(
            "indicators", postgresql.ARRAY(sa.String(64)), nullable=False, server_default="{}"
        ),
        sa.Column("units", postgresql.ARRAY(sa.String(5)), nullable=False, server_default="{}"),
        sa.Column("all_units", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaced_by", sa.Uuid, nullable=True),
    )
    op.create_index("ux_ingest_api_keys_prefix", "ingest_api_keys", ["prefix"], unique=True)
    op.create_index("ix_ingest_api_keys_provider", "ingest_api_keys", ["provider"])
    op.create_table(
        "ingest_seen_events",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("topic", sa.String(128), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    # For pruning old ids by age.
    op.create_index("ix_ingest_seen_events_received_at", "ingest_seen_events", ["received_at"])


def downgrade() -> None:
    op.drop_table("ingest_seen_events")
    op.drop_table("ingest_api_keys")
