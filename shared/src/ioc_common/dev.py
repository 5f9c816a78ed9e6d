"""``ioc dev``: the whole platform on one machine, with no Docker and no JVM.

Starts Tansu (or uses ``KAFKA_BOOTSTRAP_SERVERS``) and embedded PostgreSQL (or uses
``DATABASE_URL``), applies migrations, creates the topics, then starts every service registered
in the ``ioc.services`` entry-point group (``name = "package.module:create_app"``) and, unless
told not to, the simulator (``ioc.dev_tasks``). Ctrl-C (or SIGTERM, SIGHUP) stops everything in
reverse order and removes the temporary directory of a run without ``--data-dir``.

Its data directory (``--data-dir``, else a temporary one) holds PostgreSQL's files, the
services' JSON logs (``ioc-dev.log``; the console shows progress, warnings and errors) and the
state file (``ioc_common.dev_state``): addresses, the ports to reuse at the next start, the
dashboard's admin login. The dashboard's address and login are printed at every start.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
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
from ioc_common.dev_state import (
    FILE_NAME,
    STATE_ENV,
    read_state,
    remove_state,
    state_path,
    write_state,
)
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
#: The services' and the simulator's output, in the data directory.
LOG_FILE = "ioc-dev.log"
#: The demo profile (``ioc dev`` with its simulator): for the missing-data rule a reporting
#: day lasts 15 s (a demo reporting interval, labelled so in the alerts it raises) and the
#: alerts sweep runs every 10 s, so the simulator's silent district shows a missing-data alert
#: within two minutes. Production keeps real days; the environment may override both.
DEMO_ENV = {"IOC_ALERTS_DEMO_DAY_S": "15", "IOC_ALERTS_SWEEP_INTERVAL_S": "10"}


@dataclass
class DevOptions:
    data_dir: Path | None = None
    simulate: bool = True
    #: The first service's port; None: the ports of the previous run (``--data-dir``), else 8000.
    base_port: int | None = None


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


def _port_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now. SO_REUSEADDR as the servers set it: a
    connection of the previous run still in TIME_WAIT does not make the port taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_for(preferred: int | None, name: str = "") -> int:
    """``preferred`` (the port of the previous run, or the base port's) when it is free on
    loopback, else any free port — said on the console, since addresses change."""
    if preferred is None:
        return free_port()
    if _port_free(preferred):
        return preferred
    chosen = free_port()
    print(
        f"      ! cổng {preferred} đang bận, {name} dùng cổng {chosen} / port {preferred} is "
        f"taken; {name} uses {chosen}",
        flush=True,
    )
    return chosen


_SHOWN_LEVELS = frozenset({"warning", "error", "critical"})


def _console_line(name: str, line: str) -> str | None:
    """What the console shows of a service's output line: its own prints (progress) and
    tracebacks as they are, a JSON log line only from warning up, as one short readable line;
    None for the rest (it is in the log file)."""
    text = line.rstrip("\n")
    if not text.startswith("{"):
        return text
    try:
        record = json.loads(text)
    except ValueError:
        return text
    if not isinstance(record, dict):
        return text
    level = str(record.get("level", ""))
    if level not in _SHOWN_LEVELS:
        return None
    skip = {"ts", "level", "logger", "event", "msg", "exc"}
    fields = " ".join(f"{k}={v}" for k, v in record.items() if k not in skip)
    shown = f"  ! {name} {level}: {record.get('event', '')} {fields}".rstrip()
    if record.get("exc"):
        shown += " (traceback in the log)"
    return shown[:400]


class _Output:
    """Every child's output: all of it to the log file, the console gets ``_console_line``."""

    def __init__(self, log_path: Path) -> None:
        self.path = log_path
        if log_path.exists():  # one previous run kept beside it
            log_path.replace(log_path.with_name(log_path.name + ".1"))
        # The owner's only: logs are redacted, but they are about the province's data.
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._log = os.fdopen(fd, "a", encoding="utf-8")
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def follow(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        def pump() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode("utf-8", errors="replace")
                shown = _console_line(name, line)
                with self._lock:
                    self._log.write(line if line.startswith("{") else f"[{name}] {line}")
                    self._log.flush()
                    if shown is not None:
                        print(shown, flush=True)

        thread = threading.Thread(target=pump, name=f"ioc-dev-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        for thread in self._threads:
            thread.join(5)  # the children have stopped: their last lines are being read
        with self._lock:
            self._log.close()


def _admin_login(gateway: str, password: str) -> bool:
    """Whether ``admin`` logs in with ``password`` (someone may have changed it since)."""
    try:
        answer = httpx.post(
            f"{gateway}/v1/auth/login",
            json={"username": "admin", "password": password},
            timeout=30,
        )
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _wait_healthy(
    name: str, url: str, proc: subprocess.Popen[bytes], timeout_s: float, log: Path
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see above and {log}")
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
    # SIGHUP: the terminal closed; the temporary directory must still go.
    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for signum in stop_signals:
        signal.signal(signum, _on_signal)
    services = _services()
    tasks = (
        {ep.name: ep.value for ep in entry_points(group="ioc.dev_tasks")} if opts.simulate else {}
    )
    total = 4 + len(services) + len(tasks)
    temporary = opts.data_dir is None
    work = opts.data_dir or Path(tempfile.mkdtemp(prefix="ioc-dev-"))
    announced = state_path()
    output: _Output | None = None
    try:
        work.mkdir(parents=True, exist_ok=True)
        previous = read_state(work / FILE_NAME) or {}
        ports = {str(k): int(v) for k, v in (previous.get("ports") or {}).items()}
        output = _Output(work / LOG_FILE)
        print(f"Nhật ký JSON / JSON logs: {output.path}", flush=True)

        t = _step(1, total, "Kafka broker")
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if bootstrap is None:
            ports["kafka"] = _port_for(ports.get("kafka"), "Kafka")
            running.broker = TansuBroker(work_dir=work / "tansu", port=ports["kafka"]).start()
            bootstrap = running.broker.bootstrap
        asyncio.run(wait_for_broker(bootstrap))
        _done(t, f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}")
        if running.broker is not None:
            # Expected: Tansu refuses InitProducerId. Said once here rather than as an error
            # from every producer's attempt.
            print(
                "      i Tansu không hỗ trợ producer idempotent; dịch vụ gửi với acks=all / "
                "Tansu has no idempotent producers; services publish with acks=all",
                flush=True,
            )

        t = _step(2, total, "PostgreSQL")
        database_url = os.environ.get("DATABASE_URL")
        if database_url is None:
            ports["postgres"] = _port_for(ports.get("postgres"), "PostgreSQL")
            running.postgres = LocalPostgres(work_dir=work, port=ports["postgres"]).start()
            database_url = running.postgres.url()
        _done(t, f"DATABASE_URL={database_url}")

        t = _step(3, total, "Migration cơ sở dữ liệu / database migrations")
        upgrade(database_url)
        _done(t, "schema at head")

        t = _step(4, total, "Kafka topics")
        asyncio.run(ensure_topics(bootstrap, ALL_TOPICS))
        _done(t, f"{len(ALL_TOPICS)} topics")

        # The admin the gateway creates in an empty database; kept with --data-dir so every
        # start can print it.
        kept = previous.get("admin") or {}
        password = str(
            os.environ.get("IOC_GATEWAY_DEV_ADMIN_PASSWORD")
            or kept.get("password")
            or secrets.token_urlsafe(12)
        )
        env = {
            **dev_secrets(),
            **(DEMO_ENV if opts.simulate else {}),
            **({"IOC_KAFKA_IDEMPOTENCE": "off"} if running.broker is not None else {}),
            "IOC_GATEWAY_DEV_ADMIN_PASSWORD": password,
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATABASE_URL": database_url,
            "IOC_DEV": "1",
            "IOC_ENV": "dev",
        }
        urls: dict[str, str] = {}
        for n, (name, factory) in enumerate(services):
            remembered = ports.get(name) if opts.base_port is None else None
            ports[name] = _port_for(remembered or (opts.base_port or 8000) + n, name)
            url = f"http://127.0.0.1:{ports[name]}"
            env[f"IOC_{name.upper()}_URL"] = url
            t = _step(5 + n, total, f"service {name}")
            proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", factory,
                 "--host", "127.0.0.1", "--port", str(ports[name]), "--no-access-log"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )  # fmt: skip
            running.children[name] = proc
            output.follow(name, proc)
            _wait_healthy(name, url, proc, 60, output.path)
            urls[name] = url
            _done(t, f"{url}  (docs: {url}/docs)")

        for m, (name, target) in enumerate(tasks.items()):
            t = _step(5 + len(services) + m, total, f"{name}")
            module, _, func = target.partition(":")
            code = f"import sys; from {module} import {func} as f; sys.exit(f())"
            running.children[name] = proc = subprocess.Popen(
                [sys.executable, "-c", code],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            output.follow(name, proc)
            _done(t, "started")

        gateway = urls.get("gateway")
        login = gateway is not None and _admin_login(gateway, password)
        state = {
            "pid": os.getpid(),
            "data_dir": str(work),
            "temporary": temporary,
            "kafka": bootstrap,
            "database": database_url,
            "services": urls,
            "ports": ports,
            "dashboard": f"{gateway}/dashboard" if gateway else None,
            # None once it no longer logs in (changed by someone): not tried at every start.
            "admin": {"username": "admin", "password": password if login else None},
            "log_file": str(output.path),
            "secrets": {k: env[k] for k in dev_secrets()},
        }
        write_state(work / FILE_NAME, state)
        write_state(announced, state)
        if gateway is not None:
            how = (
                f"đăng nhập / log in: admin / {password}"
                if login
                else "đăng nhập bằng tài khoản đã có (đặt lại: ioc users password admin) / log "
                "in with your account (reset: ioc users password admin)"
            )
            print(f"Bảng điều khiển / dashboard: {gateway}/dashboard  {how}", flush=True)
        print(f"Địa chỉ cho lệnh ioc / addresses for ioc commands: {announced}", flush=True)
        summary = {"kafka": bootstrap, "database": database_url, "services": urls}
        print(f"{READY_MARKER} {json.dumps(summary)}", flush=True)
        print("Hệ thống đã sẵn sàng; Ctrl-C để dừng / ready; Ctrl-C to stop", flush=True)
        while True:
            for name, child in running.children.items():
                if child.poll() is not None and name in urls:
                    print(f"{name} exited with {child.returncode}; stopping", flush=True)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nĐang dừng / stopping ...", flush=True)
        return 0
    finally:
        # A second Ctrl-C must not cut the clean-up short (and leave ~120 MB behind).
        for signum in stop_signals:
            signal.signal(signum, signal.SIG_IGN)
        running.stop()
        if output is not None:
            output.close()
        remove_state(announced, os.getpid())
        if temporary:
            _remove_tree(work)
            print(f"  đã xoá / removed {work}", flush=True)


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
    #: Where this ``ioc dev`` announces itself (``IOC_DEV_STATE``).
    state_file: Path

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
    in ``env``, or generated here) so it can call the internal APIs itself. Unless ``env``
    names one, its state file is a private one, so a test never replaces the developer's."""
    base = dict(os.environ if env is None else env)
    secrets = {name: base.get(name) or value for name, value in dev_secrets().items()}
    state_file = Path(
        base.get(STATE_ENV)
        or Path(tempfile.gettempdir()) / f"ioc-dev-state-{os.getpid()}-{time.monotonic_ns()}.json"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "ioc_common.cli", "dev", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=base | secrets | {STATE_ENV: str(state_file)},
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
            ready = json.loads(line[len(READY_MARKER) :])
            return DevProcess(proc, ready, seen, secrets, state_file)
    proc.kill()
    proc.wait(10)
    proc.stdout.close()
    raise AssertionError("ioc dev never became ready:\n" + "".join(seen[-40:]))
