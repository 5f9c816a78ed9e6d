"""gateway tables: the operators who log in to the dashboard and the operator API.

Sessions are signed, expiring tokens (no table); a disabled user is refused on the next
request because every request looks the user up (cached for a few seconds).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_users",
        sa.Column("username", sa.String(64), primary_key=True),
        # argon2id, encoded with its parameters and salt (argon2-cffi's PasswordHasher).
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        # A province (2 digits) or district (3 digits) code: what the user sees and acts on.
        sa.Column("unit_scope", sa.String(5), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('viewer', 'operator', 'admin')", name="ck_gateway_users_role"),
    )


def downgrade() -> None:
    op.drop_table("gateway_users")
