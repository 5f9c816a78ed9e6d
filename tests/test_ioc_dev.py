"""``ioc dev`` on its embedded default (Tansu + embedded PostgreSQL): it comes up, its broker
round-trips a message, the simulator fills the metrics and raises alerts within about a minute,
and Ctrl-C or SIGTERM stops everything cleanly and removes its temporary directory. Its console
keeps progress, warnings and errors (the JSON logs go to a file); with ``--data-dir`` a restart
keeps the ports and prints the same login; ``ioc keys``/``ioc users`` find it through its state
file, without ``DATABASE_URL``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ioc_common.db import create_engine
from ioc_common.db.migrate import current_heads
from ioc_common.dev import DevProcess, start_dev_process
from ioc_common.dev_state import FILE_NAME, STATE_ENV, read_state
from ioc_common.infra.process import free_port
from ioc_common.kafka.consumer import KafkaConsumer
from ioc_common.kafka.publisher import KafkaPublisher
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.testing import run_ioc
from ioc_common.timeutil import vietnam_today
from ioc_common.topics import DLQ

pytestmark = [pytest.mark.connected, pytest.mark.slow]

#: Generous: metrics first aggregates the simulator's whole history (over 20,000 events, every
#: catalogue indicator); about 40 s on a quiet machine, over two minutes on a busy one.
WAIT_S = 300


def dev_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell: no broker, no database, no ``ioc dev`` state."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", STATE_ENV)
    }
    return env | extra


def start_dev(*, simulate: bool, args: tuple[str, ...] = (), **env: str) -> DevProcess:
    base = ["--base-port", str(free_port())] if "--data-dir" not in args else []
    return start_dev_process(
        [*([] if simulate else ["--no-simulate"]), *base, *args], dev_env(**env)
    )


def assert_quiet_console(out: str) -> None:
    """Progress, warnings and errors only: no JSON log line, no expected-fallback noise."""
    json_lines = [line for line in out.splitlines() if line.lstrip().startswith("{")]
    assert not json_lines, json_lines[:5]
    assert '"level"' not in out
    assert "InitProducerId" not in out


def temporary_dirs(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("ioc-*"))


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A directory PostgreSQL's system user can reach when we run as root (pytest's tmp_path
    sits under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="test-ioc-dev-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_ioc_dev_round_trips_a_message_and_stops_cleanly(open_tmp: Path) -> None:
    tmp_path = open_tmp
    dev = start_dev(simulate=False, TMPDIR=str(tmp_path))
    ready = dev.ready
    try:
        [work] = [d for d in temporary_dirs(tmp_path) if d.is_dir()]
        log = work / "ioc-dev.log"
        assert any(
            json.loads(line).get("event") == "ingest.started"
            for line in log.read_text().splitlines()
        ), "the services' JSON logs are not in the log file"
        bootstrap = str(ready["kafka"])
        publisher = KafkaPublisher(bootstrap)  # idempotence "auto": Tansu refuses it
        await publisher.start()
        marker = uuid.uuid4().hex.encode()
        await publisher.publish_many([OutgoingRecord(DLQ, marker, key="smoke")])
        await publisher.stop()

        consumer = KafkaConsumer(bootstrap, [DLQ], group_id=f"smoke-{uuid.uuid4().hex[:6]}")
        await consumer.start()
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while marker not in got and time.monotonic() < deadline:
            got += [r.value for r in await consumer.getmany(timeout_ms=500, max_records=100)]
        await consumer.stop()
        assert marker in got

        engine = create_engine(str(ready["database"]))
        async with engine.connect() as conn:
            from sqlalchemy import text

            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        assert (version,) == current_heads()
        await engine.dispose()
    finally:
        out = await stop_dev(dev, signal.SIGTERM)
    assert "stopping" in out
    assert_quiet_console(out)
    assert "Tansu has no idempotent producers" in out  # the expected fallback, said once
    assert not temporary_dirs(tmp_path), "ioc dev left its temporary directory behind"
    assert not dev.state_file.exists()


async def stop_dev(dev: DevProcess, sig: int = signal.SIGINT) -> str:
    dev.proc.send_signal(sig)
    await asyncio.to_thread(dev.proc.wait, 60)
    await asyncio.sleep(0.5)  # let the drain thread read the last lines
    out = "".join(dev.output)
    if dev.proc.stdout is not None:
        dev.proc.stdout.close()
    assert dev.proc.returncode == 0, out[-3000:]
    return out


async def test_ioc_dev_shows_district_values_and_open_alerts() -> None:
    dev = start_dev(simulate=True)
    last_month = vietnam_today().replace(day=1) - timedelta(days=1)
    period = f"{last_month.year:04d}-{last_month.month:02d}"
    districts: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    try:
        metrics, alerts_url = dev.urls["metrics"], dev.urls["alerts"]
        deadline = time.monotonic() + WAIT_S
        async with httpx.AsyncClient(timeout=30) as client:
            while time.monotonic() < deadline and not (districts and alerts):
                await asyncio.sleep(2)
                ranking = await client.get(
                    f"{metrics}/v1/rankings",
                    headers=dev.service_headers("metrics"),
                    params={"indicator": "dossiers_processed_online_rate", "province": "08",
                            "granularity": "month", "period": period},
                )  # fmt: skip
                if ranking.status_code == 200:
                    districts = [d for d in ranking.json()["items"] if d["value"] is not None]
                listed = await client.get(
                    f"{alerts_url}/v1/alerts",
                    params={"state": "firing"},
                    headers=dev.service_headers("alerts"),
                )
                if listed.status_code == 200:
                    alerts = listed.json()["items"]
    finally:
        out = await stop_dev(dev)
    assert districts, f"no district values for province 08 after {WAIT_S} s:\n" + out[-3000:]
    assert alerts, f"no open alert after {WAIT_S} s:\n" + out[-3000:]
    assert_quiet_console(out)  # the simulator and the services ran all along
    assert "[simulate]" in out  # its progress stays on the console


def ioc(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_ioc(*args, env=env)


LOGIN = re.compile(r"dashboard: (?P<url>\S+)/dashboard\s+.*log in: admin / (?P<password>\S+)")


async def test_ioc_dev_with_a_data_dir_keeps_ports_and_login_and_the_cli_finds_it(
    open_tmp: Path,
) -> None:
    data = open_tmp / "data"
    first = start_dev(
        simulate=False, args=("--data-dir", str(data), "--base-port", str(free_port()))
    )
    try:
        state = read_state(first.state_file)
        assert state is not None
        assert first.state_file.stat().st_mode & 0o777 == 0o600  # it holds the admin password
        assert (data / FILE_NAME).stat().st_mode & 0o777 == 0o600
        assert (data / "ioc-dev.log").exists()

        # A fresh shell: no DATABASE_URL, the state file found where ioc dev announced it.
        shell = dev_env(**{STATE_ENV: str(first.state_file)})
        created = ioc(
            ["keys", "create", "--provider", "so-tttt-tq", "--family", "bts", "--unit", "08"],
            shell,
        )
        assert created.returncode == 0, created.stderr
        assert created.stdout.startswith("ioc_"), created.stdout
        users = ioc(["users", "list", "--json"], shell)
        assert users.returncode == 0, users.stderr
        assert [u["username"] for u in json.loads(users.stdout)] == ["admin"]
    finally:
        out1 = await stop_dev(first, signal.SIGTERM)
    assert_quiet_console(out1)
    login1 = LOGIN.search(out1)
    assert login1 is not None, out1[-3000:]
    assert not first.state_file.exists()  # a stopped ioc dev is not announced
    assert data.exists()

    again = start_dev(simulate=False, args=("--data-dir", str(data)))  # no --base-port
    try:
        assert again.ready == first.ready  # broker, database and every service: same ports
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(
                f"{again.urls['gateway']}/v1/auth/login",
                json={"username": "admin", "password": login1["password"]},
            )
        assert answer.status_code == 200, answer.text
    finally:
        out2 = await stop_dev(again, signal.SIGTERM)
    login2 = LOGIN.search(out2)
    assert login2 is not None, "the second start printed no dashboard login:\n" + out2[-3000:]
    assert login2.groupdict() == login1.groupdict()
