"""metrics_outbox rows become ``MetricUpdates`` records (``ioc.metrics.updated.v2``).

Until now a row was one ``MetricUpdated`` for ``ioc.metrics.updated.v1``; from now on a row is a
``MetricUpdates`` (``{"updates":[…]}``: one unit's changes from one batch) for
``ioc.metrics.updated.v2``. Rows still pending at the upgrade (the broker was away when the old
service stopped) are wrapped as records of one update each, so the new service publishes them
in the new form rather than as records every consumer would dead-letter. The downgrade unwraps
records of one update; a pending record of several cannot be a v1 row and is refused (let the
new service drain the outbox first).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HEAD = "convert_to('{\"updates\":[', 'UTF8')"
_TAIL = "convert_to(']}', 'UTF8')"


def upgrade() -> None:
    op.execute(
        f"UPDATE metrics_outbox SET value = {_HEAD} || value || {_TAIL}"
        f" WHERE position({_HEAD} IN value) <> 1"
    )


def downgrade() -> None:
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM metrics_outbox"
        " WHERE jsonb_array_length(convert_from(value, 'UTF8')::jsonb -> 'updates') > 1) THEN"
        " RAISE EXCEPTION 'metrics_outbox holds records of several updates: drain it first';"
        " END IF; END $$"
    )
    op.execute(
        f"UPDATE metrics_outbox SET value = substring(value FROM length({_HEAD}) + 1"
        f" FOR length(value) - length({_HEAD}) - length({_TAIL}))"
        f" WHERE position({_HEAD} IN value) = 1"
    )
