"""A CSV upload over 1 MB spools to the temporary directory (multipart files over 1 MB leave
memory), so a container with a read-only root needs a writable /tmp: in Kubernetes an emptyDir
(tests/deploy checks the manifests). Here the real app, on the real broker and database, gets a
fresh writable directory as its TMPDIR, and the upload answers 202 with the file spooled there.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import IO, Any

import pytest

from ioc_common.db import create_engine, session_factory
from ioc_common.events import Family
from ioc_ingest.app import create_app
from ioc_ingest.keys import PgKeyStore
from ioc_ingest.testing import FIXED_NOW, running, settings_for_tests

pytestmark = [pytest.mark.connected, pytest.mark.slow]

ROWS = 4_000
#: "Ghi chú" (notes) is a column departments' exports carry and ingest ignores.
NOTE = "ghi chú xuất từ phần mềm kế toán của sở " * 6


def big_cashless_csv() -> bytes:
    lines = ["Mã đơn vị;Kỳ báo cáo;Kênh thanh toán;Số giao dịch;Giá trị (đồng);Mã sự kiện;Ghi chú"]
    lines += [
        f"073;2025-06-18;qr;{i + 1};{1000 * (i + 1)};{uuid.uuid4()};{NOTE}" for i in range(ROWS)
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


async def test_an_upload_over_1_mb_spools_to_a_writable_tmpdir(
    kafka_bootstrap: str,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = big_cashless_csv()
    assert len(data) > 1024 * 1024

    # TMPDIR is read once by tempfile; point both at a fresh writable directory, as the
    # emptyDir at /tmp is in the pods, and record where spooled files go.
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    spooled: list[str] = []
    original = tempfile.TemporaryFile

    def recording(*args: Any, **kwargs: Any) -> IO[Any]:
        spooled.append(kwargs.get("dir") or tempfile.gettempdir())
        file: IO[Any] = original(*args, **kwargs)
        return file

    monkeypatch.setattr(tempfile, "TemporaryFile", recording)

    engine = create_engine(database_url)
    _, raw = await PgKeyStore(session_factory(engine)).create(
        provider=f"so-tttt-{uuid.uuid4().hex[:6]}",
        families=[f.value for f in Family],
        units=["08"],
        actor="test",
    )
    await engine.dispose()
    settings = settings_for_tests(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url
    )
    async with running(create_app(settings, now=lambda: FIXED_NOW)) as client:
        r = await client.post(
            "/v1/uploads",
            params={"family": "cashless"},
            files={"file": ("export.csv", data, "text/csv")},
            headers={"X-API-Key": raw},
            timeout=120,
        )
    assert r.status_code == 202, r.text[:500]
    assert r.json()["accepted"] == ROWS
    assert spooled, "the upload never left memory: not over the spool threshold?"
    assert set(spooled) == {str(tmpdir)}
