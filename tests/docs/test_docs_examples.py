"""Every fenced code block in README.md and docs/*.md is executed (issue 7), against a real
stack: the private Apache Kafka broker of this module, a fresh PostgreSQL database and the four
services started by ``ioc dev --no-simulate``.

How a block is treated, by its fence language:

- ``bash`` / ``sh``: run with ``bash -euo pipefail`` in a working directory of the document's own
  (blocks of one document share it, in order), with the environment the docs assume:
  ``IOC_INGEST_URL`` … ``IOC_GATEWAY_URL``, ``KAFKA_BOOTSTRAP_SERVERS``, ``DATABASE_URL``,
  ``IOC_API_KEY`` (a key from ``ioc keys create``), ``IOC_USER``/``IOC_PASSWORD`` (an operator
  from ``ioc users create``), ``PG_BIN`` (PostgreSQL's client programs) and ``.venv/bin`` first
  on ``PATH``. It must exit 0.
- ``python``: run with the venv's interpreter in the same directory and environment; exit 0.
- ``json``: parsed; with ``model=module:Name`` validated against that pydantic model.
- ``csv``: posted to ingest's ``/v1/uploads?family=<family>``; no row may be rejected.
- ``text``: declared not executable (diagrams, sample output).

An HTML comment on the line just before the fence adds to that::

    <!-- example: run file=event.json -->           also written to the working directory
                                                    before the document's first block runs
    <!-- example: run family=bts -->                the family of a csv block
    <!-- example: server -->                        a long-running server command: started
                                                    with UVICORN_PORT set, must answer /healthz
    <!-- example: covered-by test=<path> — why -->  run elsewhere (the path must exist); a
                                                    ``make <target>`` block is also dry-run
    <!-- example: not-run — why -->                 not run at all; the reason is required

Any other block (no language, another language, no reason) fails the collection test, so new
docs cannot slip in unexecuted.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pydantic import TypeAdapter

from ioc_common.dev import start_dev_process
from ioc_common.infra.postgres_local import pg_bin
from ioc_common.infra.process import free_port
from ioc_common.infra.pytest_plugin import new_database
from ioc_common.service_auth import service_headers

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = {"bash", "sh", "python", "json", "csv"}
MODES = {"run", "server", "covered-by", "not-run"}

#: Indented fences (inside list items) and tildes count too: nothing may hide from the check.
FENCE = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)\s*$")
ANNOTATION = re.compile(r"^<!--\s*example:\s*(?P<body>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    body: str
    mode: str = "run"
    options: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    @property
    def doc(self) -> str:
        return str(self.path.relative_to(ROOT))

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}:{self.lang or 'none'}"


def parse_annotation(text: str) -> tuple[str, dict[str, str], str]:
    """``mode key=value … — reason`` → (mode, options, reason)."""
    head, *rest = re.split(r"\s+(?:—|--)\s+", text, maxsplit=1)
    reason = rest[0] if rest else ""
    words = head.split()
    mode = words[0] if words else ""
    options = dict(w.split("=", 1) for w in words[1:] if "=" in w)
    return mode, options, reason.strip()


def collect(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].strip() != opening["fence"]:
            end += 1
        body = "\n".join(lines[i + 1 : end]) + "\n"
        options: dict[str, str] = {}
        mode, reason = "run", ""
        if end == len(lines):
            raise AssertionError(f"{path}:{i + 1}: the fence is never closed")
        previous = lines[i - 1].strip() if i > 0 else ""
        if found := ANNOTATION.match(previous):
            mode, options, reason = parse_annotation(found["body"])
        block = Block(path, i + 1, opening["lang"].lower(), body, mode, options, reason)
        blocks.append(block)
        i = end + 1
    return blocks


BLOCKS = [b for doc in DOCUMENTS for b in collect(doc)]


def problem(block: Block) -> str | None:
    """Why a block would slip through unexecuted, or None."""
    if block.mode not in MODES:
        return f"unknown example mode {block.mode!r}"
    if block.mode == "not-run":
        return None if block.reason else "not-run needs a reason after ' — '"
    if block.mode == "covered-by":
        test = block.options.get("test", "")
        if not test or not (ROOT / test).exists():
            return f"covered-by names no existing test= path ({test!r})"
        return None if block.reason else "covered-by needs a reason after ' — '"
    if block.lang == "text":
        return None
    if block.lang not in RUNNABLE:
        return (
            f"fence language {block.lang or '(none)'!r} is neither runnable ({sorted(RUNNABLE)})"
            " nor `text`, and no <!-- example: not-run — why --> precedes it"
        )
    if block.mode == "server" and block.lang not in ("bash", "sh"):
        return "only bash blocks can be servers"
    if block.lang == "csv" and "family" not in block.options:
        return "a csv block needs family=<family>"
    return None


# --- collection: every block is runnable or explicitly annotated ---------------------------


def test_every_block_is_executed_or_explicitly_not() -> None:
    assert len(BLOCKS) >= 10, "the collector found too few blocks; is the fence regex broken?"
    problems = [f"{b.id}: {p}" for b in BLOCKS if (p := problem(b)) is not None]
    assert not problems, "\n".join(problems)


def test_annotations_are_parsed() -> None:
    mode, options, reason = parse_annotation("covered-by test=tests/x.py — make dev runs it")
    assert (mode, options, reason) == ("covered-by", {"test": "tests/x.py"}, "make dev runs it")
    assert parse_annotation("run file=a.csv family=bts") == (
        "run",
        {"file": "a.csv", "family": "bts"},
        "",
    )


def test_not_run_blocks_stay_few() -> None:
    skipped = [b.id for b in BLOCKS if b.mode == "not-run"]
    assert len(skipped) <= 6, skipped


# --- the running system ------------------------------------------------------------------


@dataclass
class Stack:
    env: dict[str, str]
    urls: dict[str, str]
    output: list[str]
    #: The gateway's preferred port, held by the test while `ioc dev` started (None if taken).
    held_port: int | None
    workdirs: dict[str, Path] = field(default_factory=dict)


async def _credentials(database_url: str, username: str, password: str) -> str:
    """An API key for every family and unit, and an operator of the whole province 08 — made
    as `ioc keys create` and `ioc users create` make them (the docs show those commands)."""
    from ioc_common.db import create_engine, session_factory
    from ioc_common.events import Family
    from ioc_gateway.auth import UserStore
    from ioc_ingest.keys import PgKeyStore

    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        _, key = await PgKeyStore(sessions).create(
            provider="docs-examples",
            families=[f.value for f in Family],
            all_units=True,
            actor="tests/docs",
        )
        await UserStore(sessions, cache_ttl_s=0).create(
            username=username, role="operator", scope="08", password=password, actor="tests/docs"
        )
    finally:
        await engine.dispose()
    return key


def _push_lagging_district(env: dict[str, str], urls: dict[str, str]) -> None:
    """Data for an open alert in the operators' examples: Xín Mần (033) below an 80 % target."""
    from ioc_alerts.testing import district_target
    from ioc_common.reference.units import unit_tree
    from ioc_common.timeutil import vietnam_today

    today = vietnam_today()
    target = district_target(today, id="docs-xin-man", scope={"units": ["033"]})
    actor = service_headers(
        env["IOC_ALERTS_SERVICE_TOKEN"],
        actor="docs-test",
        key=env["IOC_ALERTS_ACTOR_KEY"],
        method="POST",
        path="/v1/targets",
    )
    created = httpx.post(f"{urls['alerts']}/v1/targets", json=target, headers=actor, timeout=30)
    assert created.status_code == 201, created.text
    communes = [
        u.code for u in unit_tree().children("08", today) if u.former_district_code == "033"
    ]
    events = [
        {
            "event_id": str(uuid.uuid4()),
            "family": "public_service",
            "unit_code": code,
            "observed_at": f"{today.year:04d}-{today.month:02d}",
            "payload": {
                "service_level": "full_online",
                "dossiers_total": 200,
                "dossiers_online": 110,
                "dossiers_processed_online": 110,
                "paid_online": 0,
            },
        }
        for code in communes
    ]
    sent = httpx.post(
        f"{urls['ingest']}/v1/events:batch",
        json={"events": events},
        headers={"Authorization": f"Bearer {env['IOC_API_KEY']}"},
        timeout=60,
    )
    assert sent.status_code == 202, sent.text


def _wait_for_alert(env: dict[str, str], urls: dict[str, str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        page = httpx.get(
            f"{urls['alerts']}/v1/alerts",
            params={"unit": "033", "state": "firing"},
            headers=service_headers(env["IOC_ALERTS_SERVICE_TOKEN"]),
            timeout=30,
        ).json()
        if page["total"]:
            return
        time.sleep(0.5)
    raise AssertionError("no alert for 033 within 90 s")


@pytest.fixture(scope="module")
def stack(
    private_kafka_bootstrap: str, postgres_base_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    database_url = new_database(postgres_base_url, migrated=False)  # ioc dev migrates it
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IOC_")},
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "KAFKA_BOOTSTRAP_SERVERS": private_kafka_bootstrap,
        "DATABASE_URL": database_url,
        "PG_BIN": str(pg_bin()),
        "IOC_LOG_LEVEL": "WARNING",
    }
    base = free_port()
    # Hold the gateway's preferred port (base + 3) so `ioc dev` must pick another one: the
    # dashboard address it prints has to be the real one.
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held: int | None = None
    with contextlib.suppress(OSError):
        squatter.bind(("127.0.0.1", base + 3))
        squatter.listen()
        held = base + 3
    try:
        dev = start_dev_process(["--no-simulate", "--base-port", str(base)], env)
    finally:
        squatter.close()
    proc, urls = dev.proc, dev.urls
    try:
        for name, url in urls.items():
            env[f"IOC_{name.upper()}_URL"] = url
        # The internal APIs answer only with the service tokens this ioc dev runs with.
        env.update(dev.secrets)
        # After the gateway started: with no user yet, `ioc dev` has it print the admin's login.
        env["IOC_USER"], env["IOC_PASSWORD"] = "docs.operator", uuid.uuid4().hex
        env["IOC_API_KEY"] = asyncio.run(
            _credentials(database_url, env["IOC_USER"], env["IOC_PASSWORD"])
        )
        # The services raise the alert while the other documents' blocks run.
        _push_lagging_district(env, urls)
        root = tmp_path_factory.mktemp("docs")
        yield Stack(env, urls, dev.output, held, {"root": root})
    finally:
        proc.send_signal(signal.SIGTERM)  # ioc dev stops everything (SIGINT may be ignored)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


#: What a document's examples need besides the running stack, awaited before its first block.
PRECONDITIONS = {"docs/operators.md": lambda stack: _wait_for_alert(stack.env, stack.urls)}

#: Copied into every working directory: the docs run commands from a checkout's root.
CHECKOUT_FILES = (".env.example", "docker-compose.yml", "deploy")


def workdir(stack: Stack, block: Block) -> Path:
    """The document's working directory: a copy of the checkout's deployment files, and the
    files its blocks name, written before its first block runs."""
    if block.doc not in stack.workdirs:
        path = stack.workdirs["root"] / block.doc.replace("/", "_")
        path.mkdir()
        for name in CHECKOUT_FILES:
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, path / name)
            else:
                shutil.copy2(ROOT / name, path / name)
        for other in BLOCKS:
            if other.doc == block.doc and "file" in other.options:
                (path / other.options["file"]).write_text(other.body, encoding="utf-8")
        if (precondition := PRECONDITIONS.get(block.doc)) is not None:
            precondition(stack)
        stack.workdirs[block.doc] = path
    return stack.workdirs[block.doc]


def _show(done: subprocess.CompletedProcess[str], block: Block) -> str:
    return (
        f"{block.id} exited {done.returncode}\n{block.body}\n"
        f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
    )


def run_server(block: Block, cwd: Path, env: dict[str, str]) -> None:
    port = free_port()
    log = cwd / f"server_{block.line}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", block.body],
            cwd=cwd,
            env=env | {"UVICORN_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so the server and its shell stop together
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"{block.id} exited early:\n{log.read_text()[-3000:]}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.3)
        raise AssertionError(f"{block.id}: nothing answered /healthz on port {port}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


# --- the examples ------------------------------------------------------------------------


def test_make_targets_named_by_the_docs_exist() -> None:
    for block in BLOCKS:
        if block.mode != "covered-by":
            continue
        for line in block.body.splitlines():
            words = line.split("#")[0].split()
            if words[:1] == ["make"]:
                done = subprocess.run(
                    ["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True
                )
                assert done.returncode == 0, _show(done, block)


@pytest.mark.connected
def test_ioc_dev_prints_the_dashboard_at_the_gateways_real_port(stack: Stack) -> None:
    printed = [line for line in stack.output if "/dashboard" in line and "admin /" in line]
    assert printed, "ioc dev printed no dashboard address"
    assert f"{stack.urls['gateway']}/dashboard " in printed[0], (printed[0], stack.urls)
    if stack.held_port is not None:  # the fallback of `_port_for` was taken
        assert not stack.urls["gateway"].endswith(f":{stack.held_port}")


EXECUTED = [b for b in BLOCKS if b.mode in ("run", "server") and b.lang in RUNNABLE]


@pytest.mark.connected
@pytest.mark.parametrize("block", EXECUTED, ids=[b.id for b in EXECUTED])
def test_doc_example(block: Block, stack: Stack) -> None:
    cwd = workdir(stack, block)
    env = stack.env
    if block.lang == "json":
        data = json.loads(block.body)
        if "model" in block.options:
            module, _, name = block.options["model"].partition(":")
            TypeAdapter(getattr(importlib.import_module(module), name)).validate_python(data)
    elif block.lang == "csv":
        answer = httpx.post(
            f"{env['IOC_INGEST_URL']}/v1/uploads",
            params={"family": block.options["family"]},
            files={"file": (block.options.get("file", "example.csv"), block.body, "text/csv")},
            headers={"Authorization": f"Bearer {env['IOC_API_KEY']}"},
            timeout=60,
        )
        assert answer.status_code in (200, 202), answer.text
        body = answer.json()
        assert body["rejected"] == 0, body
        assert body["accepted"] + body["duplicates"] > 0, body
    elif block.mode == "server":
        run_server(block, cwd, env)
    elif block.lang == "python":
        script = cwd / f"example_{block.line}.py"
        script.write_text(block.body, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, _show(done, block)
    else:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.body],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, _show(done, block)


#: Blocks that act on "the first alert" of a list: without one they must stop with a message.
PICKS_AN_ALERT = [b for b in EXECUTED if ".items[0].id" in b.body]


@pytest.mark.parametrize("block", PICKS_AN_ALERT, ids=[b.id for b in PICKS_AN_ALERT])
def test_an_example_that_needs_an_alert_fails_loudly_without_one(
    block: Block, tmp_path: Path
) -> None:
    """Run as a reader would (``bash file.sh``, no flags) against a gateway with no alert:
    a non-zero exit and the reason on stderr, never a silent 0 on ``/v1/alerts/null``."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class NoAlerts(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            listing = self.path.startswith("/v1/alerts?")
            body = b'{"items": [], "total": 0}' if listing else b'{"error": {"code": "x"}}'
            self.send_response(200 if listing else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # the name http.server calls
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NoAlerts)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = tmp_path / "example.sh"
        script.write_text(block.body, encoding="utf-8")
        done = subprocess.run(
            ["bash", str(script)],
            cwd=tmp_path,
            env={**os.environ, "IOC_GATEWAY_URL": f"http://127.0.0.1:{server.server_port}"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode != 0, _show(done, block)
    assert "alert" in done.stderr, _show(done, block)
