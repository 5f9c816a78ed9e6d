"""``python scripts/dashboard_picture.py``: the README's picture of the dashboard.

Starts ``ioc dev`` (embedded broker and database, the simulator on), waits until the simulated
Tuyên Quang has district values and an open alert, logs in to the dashboard in headless
Chromium and writes ``docs/images/dashboard.png`` and, at 1920×1080 in wall mode
(``/dashboard?wall=1``), ``docs/images/dashboard-wall.png``. Takes about two minutes."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx

from ioc_common.dev import DevProcess, start_dev_process
from ioc_common.infra.process import free_port
from ioc_common.timeutil import vietnam_today
from ioc_gateway.testing import chromium

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images" / "dashboard.png"
OUT_WALL = ROOT / "docs" / "images" / "dashboard-wall.png"


def start_dev(password: str) -> DevProcess:
    own = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")  # ioc dev starts its own
    env = {k: v for k, v in os.environ.items() if k not in own}
    env["IOC_GATEWAY_DEV_ADMIN_PASSWORD"] = password
    return start_dev_process(["--base-port", str(free_port())], env)


async def wait_for_data(dev: DevProcess, timeout_s: float = 180) -> None:
    urls = dev.urls
    last_month = vietnam_today().replace(day=1) - timedelta(days=1)
    ranking = {
        "indicator": "dossiers_processed_online_rate",
        "province": "08",
        "granularity": "month",
        "period": f"{last_month.year:04d}-{last_month.month:02d}",
    }
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=30) as client:
        while time.monotonic() < deadline:
            await asyncio.sleep(5)
            r = await client.get(
                f"{urls['metrics']}/v1/rankings",
                params=ranking,
                headers=dev.service_headers("metrics"),
            )
            items = r.json().get("items", []) if r.status_code == 200 else []
            districts = [d for d in items if d["value"] is not None]
            r = await client.get(
                f"{urls['alerts']}/v1/alerts",
                params={"state": "firing"},
                headers=dev.service_headers("alerts"),
            )
            alerts = r.json().get("items", []) if r.status_code == 200 else []
            print(f"  ... {len(districts)} district values, {len(alerts)} open alerts", flush=True)
            if districts and alerts:
                return
    raise SystemExit("no district values or alerts within the time limit")


async def screenshot(gateway: str, password: str) -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    for out, path, size, full_page in (
        (OUT, "/dashboard", (1600, 1000), True),
        # The wall screen as it hangs: one 1080p screen, the indicator held still.
        (OUT_WALL, "/dashboard?wall=1&rotate=0", (1920, 1080), False),
    ):
        async with chromium(*size) as context:
            page = await context.new_page()
            await page.goto(gateway + path)
            await page.fill("#username", "admin")
            await page.fill("#password", password)
            await page.click("#login-button")
            await page.locator("#app").wait_for(state="visible")
            await page.wait_for_timeout(8_000)  # tiles, map, chart and the live ticker fill in
            await page.screenshot(path=str(out), full_page=full_page)


def main() -> int:
    password = secrets.token_urlsafe(12)
    dev = start_dev(password)
    proc = dev.proc
    print("ioc dev is ready; waiting for the simulator's data", flush=True)
    try:
        asyncio.run(wait_for_data(dev))
        asyncio.run(screenshot(dev.urls["gateway"], password))
        print(f"written {OUT.relative_to(ROOT)}, {OUT_WALL.relative_to(ROOT)}")
        return 0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    sys.exit(main())
