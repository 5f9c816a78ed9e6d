"""``ioc dev`` is a demo with nothing empty: once its simulator has run, every tile of the
dashboard has a value, tiles are coloured by status against the demo province's targets (demo
ones labelled so), the district table's first indicator has district targets, the lagging
districts raise lagging alerts, and the district that stops reporting raises a missing-data
alert under the demo reporting interval (a labelled demo interval, ``ioc_common.dev.DEMO_ENV``).
It runs as long as that takes: about 2½ minutes on an idle machine."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import httpx
import pytest

from ioc_common.dev import DEMO_ENV, DevProcess, start_dev_process
from ioc_common.infra.process import free_port
from ioc_common.reference.units import unit_tree
from ioc_common.timeutil import vietnam_today

pytestmark = [pytest.mark.connected, pytest.mark.slow]

PASSWORD = "demo-ioc-dev-2026"
SILENT_DISTRICT = "076"  # the simulator's default --silent
LAGGING_DISTRICTS = {"071", "072"}  # and --lagging
#: Generous: the demo promises the alert within two minutes of start on a quiet machine.
WAIT_S = 420


def start_demo() -> DevProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", *DEMO_ENV)
    }
    env["IOC_GATEWAY_DEV_ADMIN_PASSWORD"] = PASSWORD
    return start_dev_process(["--base-port", str(free_port())], env)


async def stop(dev: DevProcess) -> str:
    dev.proc.send_signal(signal.SIGINT)
    await asyncio.to_thread(dev.proc.wait, 60)
    await asyncio.sleep(0.5)
    if dev.proc.stdout is not None:
        dev.proc.stdout.close()
    return "".join(dev.output)


def in_silent_district(unit_code: str) -> bool:
    today = vietnam_today()
    return unit_code == SILENT_DISTRICT or unit_tree().district_of(unit_code, today) == (
        SILENT_DISTRICT
    )


async def test_ioc_dev_fills_every_tile_colours_them_and_flags_the_silent_district() -> None:
    dev = start_demo()
    tiles: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    lagging: list[dict[str, Any]] = []
    indicators: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        gateway = dev.urls["gateway"]
        async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
            login = await client.post(
                "/v1/auth/login", json={"username": "admin", "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['token']}"}

            def complete() -> bool:
                return (
                    bool(tiles)
                    and all(t["value"] is not None for t in tiles)
                    and any(t["status"] in ("on_track", "warning", "critical") for t in tiles)
                    and bool(missing)
                    and bool(lagging)
                )

            while time.monotonic() - started < WAIT_S and not complete():
                await asyncio.sleep(3)
                overview = await client.get("/v1/overview", headers=headers)
                if overview.status_code == 200:
                    tiles = [t for p in overview.json()["pillars"] for t in p["tiles"]]
                alerts = await client.get("/v1/alerts", params={"state": "firing"}, headers=headers)
                if alerts.status_code == 200:
                    firing = alerts.json()["items"]
                    missing = [
                        a
                        for a in firing
                        if a["rule"] == "missing_data" and in_silent_district(a["unit_code"])
                    ]
                    # The running month is judged on live figures: the laggards still lag.
                    lagging = [
                        a
                        for a in firing
                        if a["rule"] == "lagging" and a["unit_code"] in LAGGING_DISTRICTS
                    ]
            catalogue = await client.get("/v1/indicators", headers=headers)
            indicators = catalogue.json()["items"]
    finally:
        out = await stop(dev)
    empty = [t["indicator"] for t in tiles if t["value"] is None]
    assert tiles, f"no overview after {WAIT_S}s\n{out[-3000:]}"
    assert not empty, f"tiles without a value after {WAIT_S}s: {empty}\n{out[-3000:]}"
    coloured = {t["indicator"]: t["status"] for t in tiles if t["target"] is not None}
    assert any(s in ("on_track", "warning", "critical") for s in coloured.values()), coloured
    # Every pillar has a target, and demo targets say so.
    assert {t["pillar"] for t in tiles if t["target"] is not None} == {t["pillar"] for t in tiles}
    assert any(t["target"]["demo"] for t in tiles if t["target"] is not None)
    assert any(not t["target"]["demo"] for t in tiles if t["target"] is not None)
    # The district table opens on the first indicator with district targets: there is one.
    assert any(i["has_district_target"] for i in indicators)
    assert missing, f"no missing-data alert for {SILENT_DISTRICT} after {WAIT_S}s\n{out[-3000:]}"
    assert lagging, f"no lagging alert for {LAGGING_DISTRICTS} after {WAIT_S}s\n{out[-3000:]}"
    # The alert says its interval is the demo's, not a real one.
    assert "minh hoạ" in missing[0]["summary_vi"]
    assert "demo" in missing[0]["summary_en"]
