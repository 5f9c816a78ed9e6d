"""Soak: a steady load through ingest → Kafka → metrics → alerts for a set time while each
service's resident memory, open file descriptors and TCP connections are sampled with psutil;
none of them grows. 30 s in CI; ``IOC_SOAK_SECONDS=600`` by hand writes the curve to
``tests/reliability/results/soak.json``.

The bound is on the samples' trend, never on time: after a warm-up third, the last third's mean
RSS is within 10 % + 8 MiB of the middle third's, and the last third's peak of descriptors and
connections within a few of the middle third's."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from ioc_common.timeutil import vietnam_today
from tests.reliability.chaos import RESULTS_DIR, SERVICES, Platform, make_workload

pytestmark = [pytest.mark.connected, pytest.mark.slow]

SECONDS = float(os.environ.get("IOC_SOAK_SECONDS", "30"))
EVENTS_PER_SECOND = 400
BATCH = 100


def sample(proc: psutil.Process) -> dict[str, float]:
    with proc.oneshot():
        return {
            "rss_mib": proc.memory_info().rss / 2**20,
            "fds": proc.num_fds(),
            "connections": len(proc.net_connections(kind="tcp")),
        }


def thirds(values: list[float]) -> tuple[list[float], list[float]]:
    n = len(values) // 3
    return values[n : 2 * n], values[2 * n :]


@pytest.mark.timeout(max(300, int(SECONDS * 3)))
async def test_steady_load_does_not_grow_memory_or_connections() -> None:
    work = Path(tempfile.mkdtemp(prefix="ioc-soak-"))
    platform = Platform(work)
    curve: dict[str, list[dict[str, float]]] = {name: [] for name in SERVICES}
    sent = 0
    try:
        _, key = await platform.start_all("soak")
        procs = {name: psutil.Process(p.pid) for name, p in platform.procs.items() if p}
        events = make_workload(int(SECONDS * EVENTS_PER_SECOND) + BATCH, 7, vietnam_today())
        batches = [events.events[i : i + BATCH] for i in range(0, len(events.events), BATCH)]
        started = time.monotonic()
        next_sample = started
        async with httpx.AsyncClient(
            base_url=platform.url("ingest"), timeout=30, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            for n, batch in enumerate(batches):
                now = time.monotonic()
                if now - started >= SECONDS:
                    break
                if now >= next_sample:
                    for name, proc in procs.items():
                        curve[name].append({"t": round(now - started, 1), **sample(proc)})
                    next_sample += 1.0
                r = await client.post("/v1/events:batch", json={"events": batch})
                assert r.status_code == 202, r.text
                sent += len(batch)
                # A steady rate: the next batch is due n+1 periods after the start.
                await asyncio.sleep(
                    max(0.0, started + (n + 1) * BATCH / EVENTS_PER_SECOND - time.monotonic())
                )
    finally:
        await asyncio.to_thread(platform.stop_all)
    report: dict[str, Any] = {"seconds": SECONDS, "events": sent, "services": {}}
    problems: list[str] = []
    for name, points in curve.items():
        assert len(points) >= 9, (name, len(points))
        rss = [p["rss_mib"] for p in points]
        middle, last = thirds(rss)
        fds_middle = max(p["fds"] for p in points[len(points) // 3 :][: len(middle)])
        fds_last = max(p["fds"] for p in points[2 * (len(points) // 3) :])
        tcp_middle = max(p["connections"] for p in points[len(points) // 3 :][: len(middle)])
        tcp_last = max(p["connections"] for p in points[2 * (len(points) // 3) :])
        summary: dict[str, Any] = {
            "rss_mib_start": round(rss[0], 1),
            "rss_mib_middle_mean": round(statistics.fmean(middle), 1),
            "rss_mib_last_mean": round(statistics.fmean(last), 1),
            "fds_middle_max": fds_middle,
            "fds_last_max": fds_last,
            "connections_middle_max": tcp_middle,
            "connections_last_max": tcp_last,
            "curve": points,
        }
        report["services"][name] = summary
        if statistics.fmean(last) > statistics.fmean(middle) * 1.10 + 8:
            problems.append(f"{name}: RSS grew {summary}")
        if fds_last > fds_middle + 8:
            problems.append(f"{name}: descriptors grew")
        if tcp_last > tcp_middle + 4:
            problems.append(f"{name}: connections grew")
    out = RESULTS_DIR / "soak.json" if "IOC_SOAK_SECONDS" in os.environ else work / "soak.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    for name, s in report["services"].items():
        print(
            f"{name}: RSS {s['rss_mib_start']} → {s['rss_mib_middle_mean']} → "
            f"{s['rss_mib_last_mean']} MiB; fds {s['fds_middle_max']} → {s['fds_last_max']}; "
            f"tcp {s['connections_middle_max']} → {s['connections_last_max']}"
        )
    assert sent >= SECONDS * EVENTS_PER_SECOND * 0.5
    assert problems == []
    shutil.rmtree(work, ignore_errors=True)  # kept (with the services' logs) on a failure
