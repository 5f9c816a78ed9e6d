"""Body size is capped on the bytes received (413), whatever Content-Length claims."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from ioc_ingest.testing import memory_harness, settings_for_tests


async def test_declared_oversize_body_is_413(make_bts: Any) -> None:
    async with memory_harness(settings_for_tests(max_body_bytes=2048)) as h:
        body = orjson.dumps({"events": [make_bts() for _ in range(20)]})
        r = await h.client.post("/v1/events:batch", content=body, headers=h.headers())
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"
        assert h.broker.records("ioc.telemetry.bts.v1") == []


async def test_chunked_oversize_body_without_length_is_413(make_bts: Any) -> None:
    async with memory_harness(settings_for_tests(max_body_bytes=2048)) as h:
        body = orjson.dumps({"events": [make_bts() for _ in range(20)]})

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 500):
                yield body[start : start + 500]

        r = await h.client.post("/v1/events:batch", content=chunks(), headers=h.headers())
        assert "content-length" not in r.request.headers
        assert r.status_code == 413
        assert h.broker.records("ioc.telemetry.bts.v1") == []


async def test_upload_over_its_own_cap_is_413() -> None:
    async with memory_harness(settings_for_tests(max_upload_bytes=4096)) as h:
        big = b"unit_code,observed_at\n" + b"071,2025-05\n" * 1000
        r = await h.upload("bts", big)
        assert r.status_code == 413
        # ...while a JSON body of that size is still within the JSON cap.
        ok = await h.client.post("/v1/events", content=b" " * 5000 + b"{}", headers=h.headers())
        assert ok.status_code == 422
