"""The gateway's tables (created by migration 0005, token_version by 0006, unit geometries by
0010)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

users = sa.Table(
    "gateway_users",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("unit_scope", sa.String(5), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
    # Bumped on logout, password change, disable, role or scope change (migration 0006):
    # a session token carrying an older version is refused.
    sa.Column("token_version", sa.Integer, nullable=False, server_default="0"),
)

#: Unit boundaries for the dashboard's map (migration 0010), versioned like the unit tree:
#: a code's boundary is valid from one date to another, ``valid_to`` NULL while current.
unit_geometries = sa.Table(
    "gateway_unit_geometries",
    metadata,
    sa.Column("unit_code", sa.String(5), primary_key=True),
    sa.Column("valid_from", sa.Date, primary_key=True),
    sa.Column("valid_to", sa.Date, nullable=True),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("geometry", JSONB, nullable=False),
    sa.Column("source_points", sa.Integer, nullable=False),
    sa.Column("points", sa.Integer, nullable=False),
    sa.Column("source", sa.String(256), nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("imported_by", sa.String(128), nullable=False),
)
