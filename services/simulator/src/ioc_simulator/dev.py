"""The simulator as an ``ioc dev`` task: make itself an ingest key, then simulate."""

from __future__ import annotations

import os
import subprocess
import sys

from ioc_simulator.cli import main


def run() -> int:
    """Entry of the ``ioc.dev_tasks`` group (``ioc dev`` runs it unless --no-simulate)."""
    created = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "ioc_common.cli", "keys", "create", "--provider", "simulator",
         "--family", "bts", "--family", "public_service", "--family", "cashless",
         "--family", "observation", "--unit", os.environ.get("IOC_SIMULATOR_PROVINCE", "08"),
         "--label", "ioc dev simulator"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    os.environ["IOC_SIMULATOR_API_KEY"] = created.stdout.strip().splitlines()[0]
    sys.argv = [sys.argv[0]]
    return main()
