"""Every ``ioc`` command that cannot reach its database or service prints one line — what,
where and the fix, in Vietnamese and English — and exits 3, never a traceback; and the
console of ``ioc dev`` keeps progress, warnings and errors only."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ioc_common.cli import EXIT_UNREACHABLE
from ioc_common.dev import _console_line
from ioc_common.dev_state import read_state, remove_state, write_state
from ioc_common.infra.process import free_port
from ioc_common.testing import run_ioc


def ioc(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_ioc(*args, env=env)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No DATABASE_URL, no service address, and a state file of no running ``ioc dev``."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k != "DATABASE_URL" and not (k.startswith("IOC_") and k.endswith("_URL"))
    }
    return clean | {"IOC_DEV_STATE": str(tmp_path / "absent.json")}


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == EXIT_UNREACHABLE, done.stderr[-3000:]
    assert len(lines) == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("lỗi / error: ")
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["keys", "list"],
        ["keys", "create", "--provider", "p", "--family", "bts", "--unit", "08"],
        ["users", "disable", "an.nv"],
        ["migrate"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_a_command_with_no_reachable_database_prints_one_line(
    args: list[str], env: dict[str, str]
) -> None:
    closed = free_port()
    line = one_line(
        ioc([*args, "--database-url", f"postgresql+asyncpg://ioc@127.0.0.1:{closed}/ioc"], env)
    )
    assert f"127.0.0.1:{closed}/ioc" in line
    assert "--database-url" in line
    assert "không kết nối được cơ sở dữ liệu" in line
    assert "cannot reach the database" in line


def test_without_any_address_the_fix_is_to_start_ioc_dev(env: dict[str, str]) -> None:
    line = one_line(ioc(["keys", "list"], env))
    assert "start `ioc dev`" in line
    assert "DATABASE_URL" in line


def test_an_ioc_dev_that_stopped_is_named_with_its_state_file(
    env: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "dev.json"
    closed = free_port()
    write_state(
        state,
        {
            "pid": 1,
            "database": f"postgresql+asyncpg://ioc@127.0.0.1:{closed}/ioc",
            "services": {"ingest": f"http://127.0.0.1:{closed}"},
        },
    )
    env = env | {"IOC_DEV_STATE": str(state)}
    line = one_line(ioc(["users", "list"], env))
    assert str(state) in line
    assert f"127.0.0.1:{closed}" in line

    events = tmp_path / "events.json"
    events.write_text(json.dumps({"event_id": "x"}), encoding="utf-8")
    line = one_line(ioc(["push", str(events), "--key", "ioc_x"], env))
    assert f"http://127.0.0.1:{closed}" in line  # ingest's address came from the state file
    assert str(state) in line


def test_an_explicit_address_wins_over_the_state_file(env: dict[str, str], tmp_path: Path) -> None:
    state = tmp_path / "dev.json"
    write_state(state, {"pid": 1, "database": "postgresql+asyncpg://ioc@127.0.0.1:1/state"})
    closed = free_port()
    env = env | {
        "IOC_DEV_STATE": str(state),
        "DATABASE_URL": f"postgresql+asyncpg://ioc@127.0.0.1:{closed}/env",
    }
    line = one_line(ioc(["keys", "list"], env))
    assert f"127.0.0.1:{closed}/env" in line
    assert "check DATABASE_URL" in line


def test_push_to_an_ingest_that_does_not_answer_prints_one_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    events = tmp_path / "events.json"
    events.write_text(json.dumps([{"event_id": "x"}]), encoding="utf-8")
    closed = free_port()
    line = one_line(
        ioc(["push", str(events), "--key", "ioc_x", "--url", f"http://127.0.0.1:{closed}"], env)
    )
    assert "--url" in line


def test_the_state_file_is_its_owners_only_and_removed_by_its_own_ioc_dev(tmp_path: Path) -> None:
    path = tmp_path / "ioc" / "dev.json"
    write_state(path, {"pid": 42, "admin": {"password": "s3cret"}})
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_state(path) == {"pid": 42, "admin": {"password": "s3cret"}}
    remove_state(path, pid=43)  # another ioc dev wrote it: left alone
    assert path.exists()
    remove_state(path, pid=42)
    assert not path.exists()
    assert read_state(path) is None


def test_the_console_of_ioc_dev_keeps_progress_warnings_and_errors() -> None:
    info = '{"ts":"t","level":"info","logger":"ioc.ingest","event":"ingest.request_done"}'
    warning = (
        '{"ts":"t","level":"warning","logger":"ioc.kafka.publisher",'
        '"event":"kafka.publish_failed","error":"KafkaTimeoutError","records":3}'
    )
    assert _console_line("ingest", info + "\n") is None
    shown = _console_line("ingest", warning + "\n")
    assert shown is not None
    assert not shown.lstrip().startswith("{")
    assert "warning" in shown
    assert "kafka.publish_failed" in shown
    assert "records=3" in shown
    progress = "[simulate] live: 13020 accepted so far\n"
    assert _console_line("simulator", progress) == progress.rstrip("\n")
    assert _console_line("gateway", "Traceback (most recent call last):") is not None
