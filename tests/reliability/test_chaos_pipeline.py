"""The chaos run's short mode (CI): 10,000 events through ingest → Kafka → metrics → alerts →
webhook while each service is SIGKILLed, the broker and PostgreSQL restart and the webhook
receiver goes down. Nothing acknowledged is lost or counted twice; the aggregates equal the
reference; every expected alert is notified. ``IOC_CHAOS_MODE=long`` runs the long mode;
``IOC_CHAOS_SEED`` repeats a run (the seed is printed and written with the figures)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.reliability.chaos import FAULT_KINDS, RESULTS_DIR, run_chaos, write_result

pytestmark = [pytest.mark.chaos, pytest.mark.connected, pytest.mark.slow]


@pytest.mark.timeout(900)
async def test_chaos_run_loses_nothing_and_counts_nothing_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mode = os.environ.get("IOC_CHAOS_MODE", "short")
    seed = int(os.environ.get("IOC_CHAOS_SEED", random.SystemRandom().randrange(10**6)))
    # Its own Kafka and PostgreSQL in a temp dir PostgreSQL's user can enter (not tmp_path).
    result = await run_chaos(mode, seed=seed)
    # CI writes beside the test's temp files; a long run by hand keeps its figures in the repo.
    out = RESULTS_DIR / "chaos-long.json" if mode == "long" else tmp_path / "chaos-short.json"
    write_result(result, out)
    with capsys.disabled():
        print(f"\n{result.table()}")
        for line in result.differences:
            print("  diff:", line)
        if result.logs:
            print(f"  the services' logs: {result.logs}")
    faults = result.fault_counts()
    for kind in FAULT_KINDS:
        assert faults.get(kind, 0) >= 1, kind
    assert result.acknowledged == result.events
    assert (result.lost, result.double_counted, result.rejected) == (0, 0, 0)
    assert result.cells_compared > 0
    assert result.cells_different == 0, result.differences
    assert result.alerts_raised == result.alerts_expected > 0
    assert result.alerts_unexpected == 0
    assert result.alerts_notified == result.alerts_expected
    assert result.webhook_repeats_beyond_key == 0
    assert result.outbox_not_sent == 0
    assert result.ok()
