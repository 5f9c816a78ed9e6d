"""``ioc push`` sends a JSON or CSV file to a running ingest server and prints per-item results."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from ioc_common.infra.process import free_port
from ioc_common.kafka.memory import InMemoryBroker, InMemoryPublisher
from ioc_common.observability import new_registry
from ioc_common.testing import bts_event as bts
from ioc_ingest.app import create_app
from ioc_ingest.cli import push_file
from ioc_ingest.keys import InMemoryKeyStore
from ioc_ingest.seen import InMemorySeenStore
from ioc_ingest.testing import FIXED_NOW, settings_for_tests


@pytest.fixture
def server() -> Iterator[tuple[str, str, InMemoryBroker]]:
    broker = InMemoryBroker()
    keys = InMemoryKeyStore()
    _, key = keys.create(provider="so-tttt-tq", families=["bts", "cashless"], units=["08"])
    app = create_app(
        settings_for_tests(),
        publisher=InMemoryPublisher(broker),
        key_store=keys,
        seen_store=InMemorySeenStore(),
        registry=new_registry(),
        now=lambda: FIXED_NOW,
    )
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url, key, broker
    srv.should_exit = True
    thread.join(10)


def json_file(folder: Path, name: str, content: object) -> Path:
    path = folder / name
    path.write_text(json.dumps(content))
    return path


def push(path: Path, **options: Any) -> tuple[int, str]:
    """``push_file`` with its exit code and what it printed."""
    out = io.StringIO()
    code = push_file(path, out=out, **options)
    return code, out.getvalue()


def test_push_one_event_a_list_and_a_csv(
    server: tuple[str, str, InMemoryBroker], tmp_path: Path
) -> None:
    url, key, broker = server
    code, text = push(json_file(tmp_path, "one.json", bts("071")), url=url, key=key)
    assert code == 0
    assert text.startswith("accepted ")

    many = json_file(tmp_path, "many.json", [bts("072"), bts("001"), bts("073")])
    code, text = push(many, url=url, key=key, batch_size=2)
    assert code == 1  # one rejected
    assert "index 0: accepted" in text
    assert "index 1: rejected" in text
    assert "index 2: accepted" in text  # numbered across the two requests
    assert "unit_code" in text

    csv_file = tmp_path / "cashless.csv"
    csv_file.write_text(
        "unit_code,observed_at,channel,transactions,value_vnd\n070,2025-06,qr,1,2\n"
    )
    code, text = push(csv_file, url=url, key=key, family="cashless")
    assert code == 0
    assert "row 2: accepted" in text
    assert len(broker.records("ioc.telemetry.bts.v1")) == 3
    assert len(broker.records("ioc.telemetry.cashless.v1")) == 1


def test_push_reports_an_http_error_with_its_reason(
    server: tuple[str, str, InMemoryBroker], tmp_path: Path
) -> None:
    url, _, _ = server
    code, text = push(
        json_file(tmp_path, "one.json", bts("071")), url=url, key="ioc_aaaaaaaa_wrong"
    )
    assert code == 1
    assert "HTTP 401 unauthenticated" in text
