"""``ioc metrics rebuild``: aggregates recomputed from the facts archive equal what the live
service built on the real broker and database (corrections, stocks, duplicates included); a
damaged cell is found and ``--apply`` mends it, telling downstream."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest

from ioc_common.db import create_engine
from ioc_common.events import MetricUpdates
from ioc_common.testing import run_ioc
from ioc_metrics.db import pg_transaction
from ioc_metrics.rebuild import rebuild
from services.metrics.tests.running import publish
from services.metrics.tests.streams import make_stream, records
from services.metrics.tests.test_consumer_exactly_once import consume

pytestmark = [pytest.mark.connected, pytest.mark.slow]

PROVINCE, YEAR = "92", 2041


def _ioc(*args: str) -> subprocess.CompletedProcess[str]:
    return run_ioc(*args, env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout_s=300)


@pytest.mark.timeout(900)
async def test_rebuild_from_the_facts_equals_the_live_aggregates_and_mends_damage(
    kafka_bootstrap: str, fresh_database_url: str
) -> None:
    stream = make_stream(4_000, seed=2041, province=PROVINCE, year=YEAR)
    ends = await publish(kafka_bootstrap, records(stream, YEAR))
    engine = create_engine(fresh_database_url)
    try:
        await consume(kafka_bootstrap, fresh_database_url, engine, "rebuild", ends, 240)

        clean = await rebuild(engine)
        assert clean.facts > 1_000
        assert clean.cells > 1_000
        assert [d.line() for d in clean.differences] == []

        # The live tables damaged behind the service's back: one cell off by one, one gone.
        async with pg_transaction(engine) as conn:
            await conn.execute("DELETE FROM metrics_outbox")
            off = await conn.fetchrow(
                "UPDATE metrics_aggregates SET num = num + 1 WHERE ctid = (SELECT ctid FROM"
                " metrics_aggregates WHERE num IS NOT NULL AND scope = $1 ORDER BY indicator,"
                " granularity, period_start LIMIT 1) RETURNING indicator, scope, period_start",
                PROVINCE,
            )
            gone = await conn.fetchrow(
                "DELETE FROM metrics_aggregates WHERE ctid = (SELECT ctid FROM"
                " metrics_aggregates WHERE num IS NOT NULL AND length(code) = 5 ORDER BY"
                " indicator, granularity, period_start LIMIT 1)"
                " RETURNING indicator, scope, period_start"
            )
        damaged = await rebuild(engine)
        found = {(d.key.indicator, d.key.scope, d.key.period_start) for d in damaged.differences}
        assert found == {tuple(off), tuple(gone)}

        # The CLI says so (exit 1), then --apply mends it and a second check is clean.
        checked = await asyncio.to_thread(
            _ioc, "metrics", "rebuild", "--database-url", fresh_database_url
        )
        assert checked.returncode == 1, checked.stdout + checked.stderr
        assert "differences: 2" in checked.stdout
        applied = await asyncio.to_thread(
            _ioc, "metrics", "rebuild", "--apply", "--database-url", fresh_database_url
        )
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert [d.line() for d in (await rebuild(engine)).differences] == []
        async with pg_transaction(engine) as conn:
            told = await conn.fetch("SELECT key, value FROM metrics_outbox ORDER BY id")
        # A MetricUpdated for each mended cell, in a MetricUpdates record per unit (its key).
        told_records = [(r["key"], MetricUpdates.model_validate_json(r["value"])) for r in told]
        updates = [(key, u) for key, m in told_records for u in m.updates]
        assert all(u.unit_code == key for key, u in updates)
        mended = sorted((c["indicator"], c["scope"].rpartition("/")[2]) for c in (off, gone))
        assert sorted((u.indicator, u.unit_code) for _, u in updates) == mended
    finally:
        await engine.dispose()
