"""The ingest service's tables (created by migration 0002)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

api_keys = sa.Table(
    "ingest_api_keys",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("secret_sha256", sa.LargeBinary(32), nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("families", postgresql.ARRAY(sa.String(32)), nullable=False),
    sa.Column("indicators", postgresql.ARRAY(sa.String(64)), nullable=False),
    sa.Column("units", postgresql.ARRAY(sa.String(5)), nullable=False),
    sa.Column("all_units", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("replaced_by", sa.Uuid, nullable=True),
    # A unique index, as migration 0002 made it (not a unique constraint).
    sa.Index("ux_ingest_api_keys_prefix", "prefix", unique=True),
    sa.Index("ix_ingest_api_keys_provider", "provider"),
)

seen_events = sa.Table(
    "ingest_seen_events",
    metadata,
    # An event's identity is (provider, event_id) (migration 0006).
    sa.Column("provider", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.Uuid, primary_key=True),
    sa.Column("family", sa.String(32), nullable=False),
    sa.Column("topic", sa.String(128), nullable=False),
    sa.Column("partition", sa.Integer, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    #: SHA-256 of what the event says (not when it arrived): a re-send with other content is 409.
    sa.Column("content_sha256", sa.LargeBinary(32), nullable=True),
    #: The UTC month of ``received_at``: the table is partitioned by it (migration 0016).
    sa.Column("seen_month", sa.Date, primary_key=True),
)
