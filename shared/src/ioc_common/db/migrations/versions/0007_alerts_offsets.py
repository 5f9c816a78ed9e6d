"""alerts_offsets: the alerts consumer keeps its offsets in the transaction that records and
judges a batch (``ioc_common.kafka.batch_worker``), as the metrics service does in
``metrics_offsets``. Until a partition has a row, the consumer resumes from the consumer
group's committed offset (the worker still commits there too, for lag tools).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts_offsets",
        sa.Column("group_id", sa.String(128), primary_key=True),
        sa.Column("topic", sa.String(255), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
    )


def downgrade() -> None:
    op.drop_table("alerts_offsets")
