"""The simulator as an ``ioc dev`` task: make itself an ingest key, give the alerts service a
demo target for the simulated province, then simulate."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx

from ioc_common.logs import get_logger
from ioc_common.service_auth import service_headers
from ioc_simulator.cli import main

log = get_logger("ioc.simulator")

#: The seeds set district-level targets for online dossier processing only in Thái Bình
#: (80 %, Resolution 02-NQ/TU). The demo applies the same level to the simulated province so
#: its lagging districts raise alerts; it is labelled a demo target, not a real one.
DEMO_TARGET: dict[str, Any] = {
    "id": "demo-dossiers-processed-online-district",
    "indicator": "dossiers_processed_online_rate",
    "scope": {"level": "district"},
    "baseline": {"value": 80, "date": "2025-01-01"},
    "goal": 80,
    "deadline": "2027-12-31",
    "trajectory": "linear",
    "tolerance": {"warning": 5, "critical": 15},
    "assumed": ["baseline_date", "goal", "deadline"],
    "note_vi": "Chỉ tiêu minh hoạ của ioc dev (mức 80% cấp huyện theo Nghị quyết 02-NQ/TU "
    "của Thái Bình), không phải chỉ tiêu thật của tỉnh.",
}


def _create_key(province: str) -> str:
    created = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "ioc_common.cli", "keys", "create", "--provider", "simulator",
         "--family", "bts", "--family", "public_service", "--family", "cashless",
         "--family", "observation", "--unit", province, "--label", "ioc dev simulator"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return created.stdout.strip().splitlines()[0]


def _demo_target(alerts_url: str, province: str) -> None:
    target = DEMO_TARGET | {
        "province_code": province,
        "scope": {"level": "district", "within": [province]},
    }
    resp = httpx.post(
        f"{alerts_url}/v1/targets",
        json=target,
        headers=service_headers(
            os.environ.get("IOC_ALERTS_SERVICE_TOKEN"),
            actor="simulator",
            key=os.environ.get("IOC_ALERTS_ACTOR_KEY"),
            method="POST",
            path="/v1/targets",
            user_agent="ioc-simulator",
        ),
        timeout=10,
    )
    if resp.status_code not in (201, 409):
        log.warning("simulator.demo_target_refused", status=resp.status_code, body=resp.text[:300])


def run() -> int:
    """Entry of the ``ioc.dev_tasks`` group (``ioc dev`` runs it unless --no-simulate)."""
    province = os.environ.get("IOC_SIMULATOR_PROVINCE", "08")
    os.environ["IOC_SIMULATOR_API_KEY"] = _create_key(province)
    if alerts_url := os.environ.get("IOC_ALERTS_URL"):
        _demo_target(alerts_url, province)
    sys.argv = [sys.argv[0]]
    return main()
