"""gateway_geo: unit boundaries for the dashboard's map, imported by ``ioc geo import``.

One row per (unit code, version): codes are reused across the 2025 reform, so a boundary is
valid from a date to a date like the unit tree itself (``valid_to`` NULL while current). The
geometry is stored already simplified for the browser (GeoJSON, lon/lat, trimmed precision);
``source_points`` / ``points`` say how much the import simplified it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_unit_geometries",
        sa.Column("unit_code", sa.String(5), primary_key=True),
        sa.Column("valid_from", sa.Date, primary_key=True),
        sa.Column("valid_to", sa.Date, nullable=True),
        sa.Column("level", sa.String(16), nullable=False),
        # A GeoJSON Polygon or MultiPolygon, simplified (what /v1/geo serves).
        sa.Column("geometry", postgresql.JSONB, nullable=False),
        sa.Column("source_points", sa.Integer, nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("source", sa.String(256), nullable=False),
        sa.Column(
            "imported_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("imported_by", sa.String(128), nullable=False),
        sa.CheckConstraint(
            "level IN ('province', 'district', 'commune')", name="ck_gateway_geo_level"
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name="ck_gateway_geo_validity"
        ),
    )


def downgrade() -> None:
    op.drop_table("gateway_unit_geometries")
