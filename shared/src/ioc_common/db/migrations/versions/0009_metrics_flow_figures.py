"""metrics_flow_figures: a flow fact's identity becomes the provider's figure for a series and
period, ``<series>|<observed_at>|<granularity>|<provider>`` (as a stock's, plus the provider),
instead of the event, ``<provider>:<event_id>``: a higher revision replaces the provider's
earlier ones (``docs/metrics.md``, "Corrections").

Rows written before hold one event each. They are merged per new identity: the revision is the
highest of them and the figure their SUM — what the aggregates already count — so a later
correction replaces exactly what was counted (a correction of a pre-migration figure that could
not find its old value would be added on top instead). Downgrade leaves the merged rows: the
code before this revision never reads flow facts back.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: A flow row of the old format: its key is ``<provider>:<its own event_id>``.
_OLD = "part = 'flow' AND right(fact_key, 37) = ':' || event_id::text"


def upgrade() -> None:
    op.execute(
        "INSERT INTO metrics_facts AS f (indicator, unit_code, fact_key, part, scope, series,"
        " observed_at, granularity, gran_order, num, den, revision, received_at, event_id)"
        " SELECT indicator, unit_code,"
        "  series || '|' || observed_at::text || '|' || granularity || '|'"
        "   || left(fact_key, length(fact_key) - 37),"
        "  'flow', (array_agg(scope ORDER BY received_at DESC, event_id DESC))[1], series,"
        "  observed_at, granularity, min(gran_order), sum(num), sum(den), max(revision),"
        "  max(received_at), (array_agg(event_id ORDER BY received_at DESC, event_id DESC))[1]"
        f" FROM metrics_facts WHERE {_OLD}"
        " GROUP BY indicator, unit_code, series, observed_at, granularity,"
        "  left(fact_key, length(fact_key) - 37)"
        " ON CONFLICT (indicator, unit_code, fact_key) DO UPDATE SET"
        "  num = f.num + EXCLUDED.num, den = f.den + EXCLUDED.den,"
        "  revision = greatest(f.revision, EXCLUDED.revision)"
    )
    op.execute(f"DELETE FROM metrics_facts WHERE {_OLD}")


def downgrade() -> None:
    """Nothing to undo: the merged rows are valid (unread) flow facts for the older code."""
