"""ingest_seen_events: partitioned by the month an event was published.

The table held one row per event published, forever (≈ 86 million a day at 1,000 events/s),
and docs/ingest.md asked operators to prune it by hand. Now each row carries the UTC month of
its ``received_at`` (``seen_month``, its first day) and lives in that month's partition
(``ioc_common.db.partitions``); the ingest service keeps the months its dedup window needs and
drops older ones whole (docs/ingest.md, "Dedup window"). The partition key has to be part of
the primary key; the seen lookup finds an id in any kept month (``ioc_ingest.seen``). The
index on ``received_at`` existed only for pruning by hand, and goes.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

from ioc_common.db.partitions import move_into_months, set_aside

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "ingest_seen_events"
_COLUMNS = 'event_id, provider, family, topic, partition, "offset", received_at, content_sha256'
_COLUMN_TYPES = (
    "event_id uuid NOT NULL, provider varchar(64) NOT NULL, family varchar(32) NOT NULL,"
    ' topic varchar(128) NOT NULL, partition integer NOT NULL, "offset" bigint NOT NULL,'
    " received_at timestamptz NOT NULL, content_sha256 bytea"
)


def upgrade() -> None:
    op.drop_index("ix_ingest_seen_events_received_at", table_name=_TABLE)
    move_into_months(
        op,
        _TABLE,
        columns=_COLUMNS,
        column_types=_COLUMN_TYPES,
        key="provider, event_id",
        month="seen_month",
        month_of="received_at",
    )


def downgrade() -> None:
    old = set_aside(op, _TABLE)
    op.execute(f"CREATE TABLE {_TABLE} ({_COLUMN_TYPES}, PRIMARY KEY (provider, event_id))")
    op.execute(
        f"INSERT INTO {_TABLE} ({_COLUMNS}) SELECT DISTINCT ON (provider, event_id) {_COLUMNS}"
        f" FROM {old} ORDER BY provider, event_id, seen_month"
    )
    op.execute(f"DROP TABLE {old}")
    op.create_index("ix_ingest_seen_events_received_at", _TABLE, ["received_at"])
