"""``ioc dev``: the whole platform on one machine, with no Docker and no JVM.

Starts Tansu (or uses ``KAFKA_BOOTSTRAP_SERVERS``) and embedded PostgreSQL (or uses
``DATABASE_URL``), applies migrations, creates the topics, then starts every service registered
in the ``ioc.services`` entry-point group (``name = "package.module:create_app"``) and, unless
told not to, the simulator (``ioc.dev_tasks``). Ctrl-C stops everything in reverse order.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import FrameType

import httpx

from ioc_common.db.migrate import upgrade
from ioc_common.infra.postgres_local import LocalPostgres
from ioc_common.infra.process import free_port, stop_process
from ioc_common.infra.tansu import TansuBroker
from ioc_common.kafka.admin import ensure_topics, wait_for_broker
from ioc_common.secrets import generate_secret
from ioc_common.service_auth import service_headers
from ioc_common.topics import ALL_TOPICS

#: Start order; services registered under other names start after these.
SERVICE_ORDER = ("ingest", "metrics", "alerts", "gateway")
READY_MARKER = "IOC_DEV_READY"


@dataclass
class DevOptions:
    data_dir: Path | None = None
    simulate: bool = True
    base_port: int = 8000


@dataclass
class _Running:
    broker: TansuBroker | None = None
    postgres: LocalPostgres | None = None
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def stop(self) -> None:
        for name, proc in reversed(list(self.children.items())):
            print(f"  dừng / stopping {name}", flush=True)
            stop_process(proc, timeout_s=10)
        if self.postgres is not None:
            print("  dừng / stopping PostgreSQL", flush=True)
            self.postgres.stop()
        if self.broker is not None:
            print("  dừng / stopping broker", flush=True)
            self.broker.stop()


def _step(n: int, total: int, text: str) -> float:
    print(f"[{n}/{total}] {text} ...", flush=True)
    return time.monotonic()


def _done(started: float, detail: str) -> None:
    print(f"      ✓ {detail} ({time.monotonic() - started:.1f}s)", flush=True)


def _services() -> list[tuple[str, str]]:
    found = {ep.name: ep.value for ep in entry_points(group="ioc.services")}
    ordered = [n for n in SERVICE_ORDER if n in found] + sorted(set(found) - set(SERVICE_ORDER))
    return [(n, found[n]) for n in ordered]


def _port_for(preferred: int) -> int:
    """``preferred`` when it is free on loopback, else any free port (another program — or a
    client's ephemeral port — may hold it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def _wait_healthy(name: str, url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see its log above")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{name} did not answer {url}/healthz within {timeout_s:.0f}s")


def dev_secrets() -> dict[str, str]:
    """Fresh strong secrets per run, so the services authenticate each other under ``ioc dev``
    exactly as in production (the gateway reads the metrics/alerts names as aliases)."""
    return {
        "IOC_METRICS_SERVICE_TOKEN": generate_secret(),
        "IOC_ALERTS_SERVICE_TOKEN": generate_secret(),
        "IOC_ALERTS_ACTOR_KEY": generate_secret(),
        "IOC_GATEWAY_SESSION_SECRET": generate_secret(),
    }


def run_dev(opts: DevOptions) -> int:
    running = _Running()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Python keeps it so.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)
    services = _services()
    tasks = (
        {ep.name: ep.value for ep in entry_points(group="ioc.dev_tasks")} if opts.simulate else {}
    )
    total = 4 + len(services) + len(tasks)
    try:
        t = _step(1, total, "Kafka broker")
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if bootstrap is None:
            running.broker = TansuBroker().start()
            bootstrap = running.broker.bootstrap
        asyncio.run(wait_for_broker(bootstrap))
        _done(t, f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}")

        t = _step(2, total, "PostgreSQL")
        database_url = os.environ.get("DATABASE_URL")
        if database_url is None:
            work = opts.data_dir or Path(tempfile.mkdtemp(prefix="ioc-dev-"))
            running.postgres = LocalPostgres(work_dir=work).start()
            database_url = running.postgres.url()
        _done(t, f"DATABASE_URL={database_url}")

        t = _step(3, total, "Migration cơ sở dữ liệu / database migrations")
        upgrade(database_url)
        _done(t, "schema at head")

        t = _step(4, total, "Kafka topics")
        asyncio.run(ensure_topics(bootstrap, ALL_TOPICS))
        _done(t, f"{len(ALL_TOPICS)} topics")

        env = {
            **dev_secrets(),
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATABASE_URL": database_url,
            "IOC_DEV": "1",
            "IOC_ENV": "dev",
        }
        urls: dict[str, str] = {}
        for n, (name, factory) in enumerate(services):
            port = _port_for(opts.base_port + n)
            url = f"http://127.0.0.1:{port}"
            env[f"IOC_{name.upper()}_URL"] = url
            t = _step(5 + n, total, f"service {name}")
            proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", factory,
                 "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
                env=env,
            )  # fmt: skip
            running.children[name] = proc
            _wait_healthy(name, url, proc, 60)
            urls[name] = url
            _done(t, f"{url}  (docs: {url}/docs)")

        for m, (name, target) in enumerate(tasks.items()):
            t = _step(5 + len(services) + m, total, f"{name}")
            module, _, func = target.partition(":")
            code = f"import sys; from {module} import {func} as f; sys.exit(f())"
            running.children[name] = subprocess.Popen([sys.executable, "-c", code], env=env)
            _done(t, "started")

        summary = {"kafka": bootstrap, "database": database_url, "services": urls}
        print(f"{READY_MARKER} {json.dumps(summary)}", flush=True)
        print("Hệ thống đã sẵn sàng; Ctrl-C để dừng / ready; Ctrl-C to stop", flush=True)
        while True:
            for name, proc in running.children.items():
                if proc.poll() is not None and name in urls:
                    print(f"{name} exited with {proc.returncode}; stopping", flush=True)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nĐang dừng / stopping ...", flush=True)
        return 0
    finally:
        running.stop()


@dataclass
class DevProcess:
    """``ioc dev`` running as a child process (tests, the README picture): what it announced
    when ready, and everything it printed (a thread keeps draining the pipe, which the
    services share and would block on once full)."""

    proc: subprocess.Popen[str]
    ready: dict[str, object]
    output: list[str]
    #: The service tokens and actor key this ``ioc dev`` runs with (chosen by the caller).
    secrets: dict[str, str]

    @property
    def urls(self) -> dict[str, str]:
        services = self.ready["services"]
        assert isinstance(services, dict)
        return {str(k): str(v) for k, v in services.items()}

    def service_headers(
        self, service: str, *, actor: str | None = None, method: str = "GET", path: str = ""
    ) -> dict[str, str]:
        """Headers to call the internal ``metrics`` or ``alerts`` API of this ``ioc dev`` as a
        trusted tool (and, with ``actor``, to act as them on ``method`` ``path``)."""
        return service_headers(
            self.secrets.get(f"IOC_{service.upper()}_SERVICE_TOKEN"),
            actor=actor,
            key=self.secrets.get("IOC_ALERTS_ACTOR_KEY") if service == "alerts" else None,
            method=method,
            path=path,
        )


def start_dev_process(
    args: list[str], env: dict[str, str] | None = None, timeout_s: float = 120
) -> DevProcess:
    """Start ``ioc dev <args>`` and return once it printed its ready line (raises with the
    last lines it printed if it never does). The caller chooses the services' secrets (given
    in ``env``, or generated here) so it can call the internal APIs itself."""
    base = dict(os.environ if env is None else env)
    secrets = {name: base.get(name) or value for name, value in dev_secrets().items()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ioc_common.cli", "dev", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=base | secrets,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if line.startswith(READY_MARKER):
            drain = threading.Thread(target=lambda: seen.extend(proc.stdout or ()), daemon=True)
            drain.start()
            return DevProcess(proc, json.loads(line[len(READY_MARKER) :]), seen, secrets)
    proc.kill()
    proc.wait(10)
    proc.stdout.close()
    raise AssertionError("ioc dev never became ready:\n" + "".join(seen[-40:]))
