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
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from ioc_common.db.partitions import create_partition_sql, months_between, next_month

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "ingest_seen_events"
_OLD = "ingest_seen_events_unpartitioned"
_COLUMNS = 'event_id, provider, family, topic, partition, "offset", received_at, content_sha256'
_COLUMN_TYPES = (
    "event_id uuid NOT NULL, provider varchar(64) NOT NULL, family varchar(32) NOT NULL,"
    ' topic varchar(128) NOT NULL, partition integer NOT NULL, "offset" bigint NOT NULL,'
    " received_at timestamptz NOT NULL, content_sha256 bytea"
)


def _set_aside() -> None:
    op.execute(f"ALTER TABLE {_TABLE} RENAME TO {_OLD}")
    op.execute(f"ALTER TABLE {_OLD} RENAME CONSTRAINT {_TABLE}_pkey TO {_OLD}_pkey")


def upgrade() -> None:
    op.drop_index("ix_ingest_seen_events_received_at", table_name=_TABLE)
    _set_aside()
    op.execute(
        f"CREATE TABLE {_TABLE} ({_COLUMN_TYPES}, seen_month date NOT NULL,"
        " PRIMARY KEY (provider, event_id, seen_month)) PARTITION BY RANGE (seen_month)"
    )
    today = datetime.now(UTC).date()
    oldest = (
        op.get_bind()
        .execute(sa.text(f"SELECT min((received_at AT TIME ZONE 'UTC')::date) FROM {_OLD}"))
        .scalar()
    )
    for month in months_between(min(oldest or today, today), next_month(today)):
        op.execute(create_partition_sql(_TABLE, month))
    op.execute(
        f"INSERT INTO {_TABLE} ({_COLUMNS}, seen_month) SELECT {_COLUMNS},"
        f" date_trunc('month', received_at AT TIME ZONE 'UTC')::date FROM {_OLD}"
    )
    op.execute(f"DROP TABLE {_OLD}")


def downgrade() -> None:
    _set_aside()
    op.execute(f"CREATE TABLE {_TABLE} ({_COLUMN_TYPES}, PRIMARY KEY (provider, event_id))")
    op.execute(
        f"INSERT INTO {_TABLE} ({_COLUMNS}) SELECT DISTINCT ON (provider, event_id) {_COLUMNS}"
        f" FROM {_OLD} ORDER BY provider, event_id, seen_month"
    )
    op.execute(f"DROP TABLE {_OLD}")
    op.create_index("ix_ingest_seen_events_received_at", _TABLE, ["received_at"])
