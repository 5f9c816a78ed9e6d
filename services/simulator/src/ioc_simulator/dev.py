"""The simulator as an ``ioc dev`` task: make itself an ingest key, give the alerts service the
demo province's labelled demo targets, then simulate."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from ioc_common.catalogue.targets import load_demo_targets
from ioc_common.logs import get_logger
from ioc_common.service_auth import service_headers
from ioc_simulator.cli import main

log = get_logger("ioc.simulator")


def _create_key(province: str) -> str:
    created = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "ioc_common.cli", "keys", "create", "--provider", "simulator",
         "--family", "bts", "--family", "public_service", "--family", "cashless",
         "--family", "observation", "--unit", province, "--label", "ioc dev simulator"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return created.stdout.strip().splitlines()[0]


def _demo_targets(alerts_url: str, province: str) -> None:
    """Give the alerts service the demo province's labelled demo targets
    (``ioc_common/catalogue/data/demo_targets.yaml``), re-expressed on ``province``."""
    for demo in load_demo_targets():
        target = demo.model_dump(mode="json") | {"province_code": province}
        if demo.province_code != province:
            scope = demo.scope
            target["scope"] = (
                {"units": [province]}
                if scope.units is not None
                else {"level": scope.level, "within": [province]}
            )
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
            log.warning(
                "simulator.demo_target_refused",
                target=demo.id,
                status=resp.status_code,
                body=resp.text[:300],
            )


def run() -> int:
    """Entry of the ``ioc.dev_tasks`` group (``ioc dev`` runs it unless --no-simulate)."""
    province = os.environ.get("IOC_SIMULATOR_PROVINCE", "08")
    os.environ["IOC_SIMULATOR_API_KEY"] = _create_key(province)
    if alerts_url := os.environ.get("IOC_ALERTS_URL"):
        _demo_targets(alerts_url, province)
    sys.argv = [sys.argv[0]]
    return main()
