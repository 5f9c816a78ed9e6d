"""The gateway's tables (created by migration 0005, token_version by 0006)."""

from __future__ import annotations

import sqlalchemy as sa

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
