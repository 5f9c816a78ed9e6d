"""What the metrics service reported, as the alerts service remembers it: the latest value per
(indicator, unit, granularity) in ``alerts_observations`` and the last report time per
(indicator, unit) in ``alerts_reports``; written from ``ioc.metrics.updated.v2`` batches,
read back for an evaluation; and every period's latest figure in ``alerts_period_values``, for
as-of assessments (``assessments``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_alerts.evaluation import Observation, display_value
from ioc_common.catalogue import load_catalogue
from ioc_common.logs import get_logger
from ioc_common.timeutil import Granularity
from ioc_common.wire import MetricUpdate

log = get_logger("ioc.alerts.observations")

Key = tuple[str, str, str]  # indicator, unit code, level


async def record_updates(session: AsyncSession, updates: Sequence[MetricUpdate]) -> set[Key]:
    """Keep the latest value per (indicator, unit, granularity) and the last report time per
    (indicator, unit); returns the keys to evaluate.

    The batch is coalesced first (per key only its newest period and version, per unit and
    indicator its last report time), then written set-based: a thousand updates of one key
    cost what one does."""
    catalogue = load_catalogue()
    latest: dict[tuple[str, str, str], MetricUpdate] = {}
    # Every period's newest version too: the history as-of assessments are judged on.
    periods: dict[tuple[str, str, str, date], MetricUpdate] = {}
    reported: dict[tuple[str, str], MetricUpdate] = {}
    keys: set[Key] = set()
    for update in updates:
        if catalogue.get(update.indicator) is None:
            log.warning("alerts.unknown_indicator", indicator=update.indicator)
            continue
        obs_key = (update.indicator, update.unit_code, update.granularity.value)
        held = latest.get(obs_key)
        # A later period replaces; within the same period, only a newer version does.
        if held is None or (update.period_start, update.version) > (
            held.period_start,
            held.version,
        ):
            latest[obs_key] = update
        period_key = (*obs_key, update.period_start)
        kept = periods.get(period_key)
        if kept is None or update.version > kept.version:
            periods[period_key] = update
        rep_key = (update.indicator, update.unit_code)
        last = reported.get(rep_key)
        if last is None or update.updated_at > last.updated_at:
            reported[rep_key] = update
        keys.add((update.indicator, update.unit_code, update.level.value))
    # unnest() of one array per column: one statement and nine parameters however many
    # rows (no per-row SQL to build), written in key order so concurrent writers lock alike.
    await _upsert(session, _UPSERT_OBSERVATIONS, [latest[k] for k in sorted(latest)])
    await _upsert(session, _UPSERT_PERIODS, [periods[k] for k in sorted(periods)])
    reports = [u for _, u in sorted(reported.items(), key=lambda kv: kv[0])]
    if reports:
        await session.execute(
            _UPSERT_REPORTS,
            {
                "indicator": [u.indicator for u in reports],
                "unit_code": [u.unit_code for u in reports],
                "level": [u.level.value for u in reports],
                "at": [u.updated_at for u in reports],
            },
        )
    return keys


async def _upsert(session: AsyncSession, statement: Any, rows: Sequence[MetricUpdate]) -> None:
    if rows:
        catalogue = load_catalogue()
        await session.execute(
            statement,
            {
                "indicator": [u.indicator for u in rows],
                "unit_code": [u.unit_code for u in rows],
                "granularity": [u.granularity.value for u in rows],
                "level": [u.level.value for u in rows],
                "period": [u.period for u in rows],
                "period_start": [u.period_start for u in rows],
                "value": [
                    display_value(
                        catalogue.require(u.indicator), u.value, u.numerator, u.denominator
                    )
                    for u in rows
                ],
                "version": [u.version for u in rows],
                "updated_at": [u.updated_at for u in rows],
            },
        )


_UPSERT_OBSERVATIONS = sa.text(
    "INSERT INTO alerts_observations AS o (indicator, unit_code, granularity, level, period,"
    " period_start, value, version, updated_at)"
    " SELECT * FROM unnest(CAST(:indicator AS text[]), CAST(:unit_code AS text[]),"
    "  CAST(:granularity AS text[]), CAST(:level AS text[]), CAST(:period AS text[]),"
    "  CAST(:period_start AS date[]), CAST(:value AS float8[]), CAST(:version AS int[]),"
    "  CAST(:updated_at AS timestamptz[]))"
    " ON CONFLICT (indicator, unit_code, granularity) DO UPDATE SET level = excluded.level,"
    "  period = excluded.period, period_start = excluded.period_start, value = excluded.value,"
    "  version = excluded.version, updated_at = excluded.updated_at"
    # A later period replaces; within the same period, only a newer version does.
    " WHERE excluded.period_start > o.period_start"
    "  OR (excluded.period_start = o.period_start AND excluded.version > o.version)"
)
_UPSERT_PERIODS = sa.text(
    "INSERT INTO alerts_period_values AS o (indicator, unit_code, granularity, level, period,"
    " period_start, value, version, updated_at)"
    " SELECT * FROM unnest(CAST(:indicator AS text[]), CAST(:unit_code AS text[]),"
    "  CAST(:granularity AS text[]), CAST(:level AS text[]), CAST(:period AS text[]),"
    "  CAST(:period_start AS date[]), CAST(:value AS float8[]), CAST(:version AS int[]),"
    "  CAST(:updated_at AS timestamptz[]))"
    " ON CONFLICT (indicator, unit_code, granularity, period_start) DO UPDATE"
    " SET level = excluded.level, period = excluded.period, value = excluded.value,"
    "  version = excluded.version, updated_at = excluded.updated_at"
    " WHERE excluded.version > o.version"
)
_UPSERT_REPORTS = sa.text(
    "INSERT INTO alerts_reports AS r (indicator, unit_code, level, last_report_at)"
    " SELECT * FROM unnest(CAST(:indicator AS text[]), CAST(:unit_code AS text[]),"
    "  CAST(:level AS text[]), CAST(:at AS timestamptz[]))"
    " ON CONFLICT (indicator, unit_code) DO UPDATE"
    " SET last_report_at = greatest(r.last_report_at, excluded.last_report_at)"
)
_SELECT_OBSERVATIONS = sa.text(
    "SELECT o.indicator, o.unit_code, o.granularity, o.value, o.period, o.period_start"
    " FROM unnest(CAST(:indicator AS text[]), CAST(:unit_code AS text[])) AS k(i, u)"
    " JOIN alerts_observations o ON o.indicator = k.i AND o.unit_code = k.u"
)
_SELECT_REPORTS = sa.text(
    "SELECT r.indicator, r.unit_code, r.last_report_at"
    " FROM unnest(CAST(:indicator AS text[]), CAST(:unit_code AS text[])) AS k(i, u)"
    " JOIN alerts_reports r ON r.indicator = k.i AND r.unit_code = k.u"
)


def _pair_params(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    return {"indicator": [p[0] for p in pairs], "unit_code": [p[1] for p in pairs]}


async def load_observations(
    session: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], dict[Granularity, Observation]]:
    found: dict[tuple[str, str], dict[Granularity, Observation]] = defaultdict(dict)
    if not pairs:
        return found
    for r in (await session.execute(_SELECT_OBSERVATIONS, _pair_params(pairs))).all():
        granularity = Granularity(r.granularity)
        found[(r.indicator, r.unit_code)][granularity] = Observation(
            r.value, r.period, r.period_start, granularity
        )
    return found


async def load_reports(
    session: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], datetime]:
    if not pairs:
        return {}
    rows = (await session.execute(_SELECT_REPORTS, _pair_params(pairs))).all()
    return {(r.indicator, r.unit_code): r.last_report_at for r in rows}
