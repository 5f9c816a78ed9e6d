"""The real platform for the dashboard's browser tests: ingest, metrics, alerts and the gateway
as uvicorn processes on a broker of the test's own and a fresh PostgreSQL database (shipped
like ``ioc_gateway.testing``; the tests' ``platform`` fixtures wrap ``running_platform``)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from ioc_common.infra.process import free_port, stop_process, tail
from ioc_common.infra.pytest_plugin import new_database

SERVICES = ("ingest", "metrics", "alerts", "gateway")


@dataclass
class Platform:
    urls: dict[str, str]
    database_url: str


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{tail(log, 40)}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready within {timeout_s}s:\n{tail(log, 40)}")


@contextlib.contextmanager
def running_platform(
    kafka_bootstrap: str, postgres_base_url: str, name: str = "browser"
) -> Iterator[Platform]:
    """The four services started, each ready (``/readyz``), stopped on exit with their logs'
    tails printed. ``kafka_bootstrap`` should be a broker of the test's own: new consumer
    groups start from the topics' beginning, and the session's topics carry every earlier
    test's messages."""
    database_url = new_database(postgres_base_url)
    run = uuid.uuid4().hex[:8]
    logs = Path(tempfile.mkdtemp(prefix=f"ioc-{name}-"))
    ports = {service: free_port() for service in SERVICES}
    urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "IOC_LOG_LEVEL": "WARNING",
        **{f"IOC_{service.upper()}_URL": url for service, url in urls.items()},
        "IOC_METRICS_GROUP_ID": f"metrics-{name}-{run}",
        "IOC_ALERTS_GROUP_ID": f"alerts-{name}-{run}",
        "IOC_ALERTS_GROUP_WAIT_S": "1",
        "IOC_ALERTS_DISPATCH_INTERVAL_S": "0.5",
        "IOC_ALERTS_SWEEP_INTERVAL_S": "5",
        "IOC_ALERTS_DASHBOARD_URL": urls["gateway"],
        "IOC_GATEWAY_SESSION_SECRET": uuid.uuid4().hex,
        "IOC_GATEWAY_GROUP_PREFIX": f"gateway-{name}-{run}",
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for service in SERVICES:
            log = logs / f"{service}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(  # noqa: S603 — our own interpreter and modules
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "--factory",
                        f"ioc_{service}.app:create_app",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(ports[service]),
                        "--no-access-log",
                    ],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            procs.append(proc)
            # /readyz: the gateway's consumer has its partitions, so nothing later is missed.
            _wait(f"{urls[service]}/readyz", proc, log)
        yield Platform(urls, database_url)
    finally:
        for proc in reversed(procs):
            stop_process(proc, timeout_s=10)
        for service in SERVICES:
            print(f"--- {service} log (tail) ---\n{tail(logs / f'{service}.log', 15)}")
