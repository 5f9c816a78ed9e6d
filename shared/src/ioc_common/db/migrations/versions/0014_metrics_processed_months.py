"""metrics_processed_events: partitioned by the month an event was counted.

The table held one row per event counted, forever (≈ 86 million a day at 1,000 events/s), one
random-UUID B-tree growing past the cache. Now each row carries the UTC month it was counted
in (``processed_month``, its first day) and lives in that month's partition
(``ioc_common.db.partitions``); the metrics service keeps the months its dedup window needs and
drops older ones whole (docs/metrics.md, "Dedup window"). Existing rows move to the month of
their ``processed_at``. The partition key has to be part of the primary key, so the key finds
a duplicate counted this month and a lookup the earlier kept months
(``ioc_metrics.pg.PostgresStore.claim_events``).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

from ioc_common.db.partitions import move_into_months, set_aside

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "metrics_processed_events"


def upgrade() -> None:
    move_into_months(
        op,
        _TABLE,
        columns="provider, event_id",
        column_types="provider varchar(64) NOT NULL, event_id uuid NOT NULL",
        key="provider, event_id",
        month="processed_month",
        month_of="processed_at",
    )


def downgrade() -> None:
    old = set_aside(op, _TABLE)
    op.execute(
        f"CREATE TABLE {_TABLE} (provider varchar(64) NOT NULL DEFAULT '', event_id uuid NOT NULL,"
        " processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (provider, event_id))"
    )
    op.execute(
        f"INSERT INTO {_TABLE} (provider, event_id, processed_at)"
        f" SELECT provider, event_id, min(processed_month)::timestamptz FROM {old}"
        " GROUP BY provider, event_id"
    )
    op.execute(f"DROP TABLE {old}")
