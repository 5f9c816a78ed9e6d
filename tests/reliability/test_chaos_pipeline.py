"""The chaos run's short mode (CI): 10,000 events of the four families from five providers
through ingest → Kafka → metrics → alerts → webhook while each service is SIGKILLed, the broker
and PostgreSQL restart (some faults together) and the webhook receiver goes down. Nothing
acknowledged is lost or counted twice; no 5xx but ingest's documented 503 during an outage;
every family × level × grain equals the reference; every expected alert is notified.
``IOC_CHAOS_MODE=long`` runs the long mode; ``IOC_CHAOS_SEED`` repeats a run (the seed is
printed and written with the figures).

Then the proof that the run can fail: two metrics builds broken on purpose (``sabotage.py``),
each run through a shortened chaos run without faults, must turn it red — one event's effect
dropped shows as LOST, one batch applied twice as DOUBLE-COUNTED."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.reliability.chaos import (
    FAULT_KINDS,
    RESULTS_DIR,
    ChaosResult,
    run_chaos,
    write_result,
)

pytestmark = [pytest.mark.chaos, pytest.mark.connected, pytest.mark.slow]

#: Events of a sabotaged run: enough for every family, few enough to judge in seconds.
SABOTAGE_EVENTS = 1_000


def _seed() -> int:
    return int(os.environ.get("IOC_CHAOS_SEED", random.SystemRandom().randrange(10**6)))


def _show(result: ChaosResult, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\n{result.table()}")
        for line in result.differences:
            print("  diff:", line)
        if result.logs:
            print(f"  the services' logs: {result.logs}")


@pytest.mark.timeout(1200)
async def test_chaos_run_loses_nothing_and_counts_nothing_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mode = os.environ.get("IOC_CHAOS_MODE", "short")
    # Its own Kafka and PostgreSQL in a temp dir PostgreSQL's user can enter (not tmp_path).
    result = await run_chaos(mode, seed=_seed())
    # CI writes beside the test's temp files; a long run by hand keeps its figures in the repo.
    out = RESULTS_DIR / "chaos-long.json" if mode == "long" else tmp_path / "chaos-short.json"
    write_result(result, out)
    _show(result, capsys)
    faults = result.fault_counts()
    for kind in FAULT_KINDS:
        assert faults.get(kind, 0) >= 1, kind
    assert result.overlaps(), "no two faults were in progress at once"
    assert result.acknowledged == result.events
    assert result.fatal_5xx() == 0, [e for e in result.server_errors if not e.during_outage]
    assert (result.lost, result.double_counted, result.rejected) == (0, 0, 0)
    # Every family at every level and grain was compared, and equal.
    for family in ("bts", "cashless", "observation", "public_service"):
        for level in ("commune", "district", "district (post-reform roll-up)", "province"):
            assert result.compared.get(f"{family} × {level}", [0])[0] > 0, (family, level)
    assert all(result.grains_compared.get(g, 0) > 0 for g in ("day", "month", "quarter", "year"))
    assert result.cells_different == 0, result.differences
    assert result.alerts_raised == result.alerts_expected >= 24
    assert result.alerts_unexpected == 0
    assert result.alerts_notified == result.alerts_expected
    assert result.webhook_repeats_beyond_key == 0
    assert result.outbox_not_sent == 0
    assert result.ok()


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("sabotage", "verdict"),
    [("drop-one", "lost"), ("apply-twice", "double_counted")],
)
async def test_chaos_run_goes_red_on_a_sabotaged_metrics_build(
    sabotage: str, verdict: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = await run_chaos(
        "short",
        seed=_seed(),
        events=SABOTAGE_EVENTS,
        sabotage=sabotage,
        faults=False,
        check_alerts=False,
        province_only=True,
    )
    _show(result, capsys)
    # Everything was delivered and compared: the red comes from the sabotage, nothing else.
    assert result.acknowledged == result.events
    assert result.rejected == 0
    assert result.fatal_5xx() == 0
    assert result.cells_compared > 0
    assert getattr(result, verdict) > 0, verdict
    assert not result.ok()
