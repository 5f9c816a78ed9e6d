"""Hostile input across the services: oversized bodies (413), oversized batches (422), a flood
(429 for the flooder while another key keeps going), malformed CSV, injection strings in every
query and path parameter of every service (never a 5xx, always the error shape), webhook URLs
aimed at loopback, private and link-local addresses (refused through the API), and tampered,
revoked or expired keys and sessions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import unicodedata
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from ioc_alerts.app import create_app as create_alerts
from ioc_alerts.config import AlertsSettings
from ioc_common.kafka.memory import InMemoryBroker, InMemoryPublisher
from ioc_common.observability import new_registry
from ioc_common.testing import bts_event as bts
from ioc_common.testing import serve, tampered
from ioc_gateway.testing import gateway_harness
from ioc_ingest.app import create_app as create_ingest
from ioc_ingest.keys import InMemoryKeyStore
from ioc_ingest.seen import InMemorySeenStore
from ioc_ingest.testing import Harness, memory_harness, settings_for_tests
from ioc_metrics.app import create_app as create_metrics
from ioc_metrics.config import MetricsSettings

pytestmark = pytest.mark.connected

INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE metrics_aggregates; --",
    '"; SELECT pg_sleep(10); --',
    "08' UNION SELECT password_hash FROM gateway_users --",
    "../../../../etc/passwd",
    "%00",
    "\x00",
    "<script>alert(1)</script>",
    "${jndi:ldap://127.0.0.1/a}",
    "{{7*7}}",
    "-1",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "2024-13-45",
    "Hà Nội 🏙️",
    "A" * 5000,
    # Boundary dates and numbers: year 9999/0001/0000, before and after the calendar's range
    # (1899, 2201), an impossible day, huge and negative figures, infinities.
    "9999-12-31",
    "9999-12",
    "0001-01-01",
    "0000-00-00",
    "1899-12-31",
    "2201-01-01",
    "2024-02-30",
    "9999-12-31T23:59:59+14:00",
    "-9223372036854775809",
    "1e308",
    "-1e308",
    "Infinity",
]


def error_code(r: httpx.Response) -> str:
    code: str = r.json()["error"]["code"]
    return code


# --- ingest: sizes, floods, CSV, keys -----------------------------------------------------------


async def test_oversized_bodies_are_413_and_oversized_batches_422(harness: Harness) -> None:
    headers = harness.headers()
    huge = {"events": [bts()], "padding": "x" * (4 * 1024 * 1024 + 1)}
    for path in ("/v1/events", "/v1/events:batch"):
        r = await harness.client.post(path, json=huge, headers=headers)
        assert (r.status_code, error_code(r)) == (413, "payload_too_large"), path
    r = await harness.client.post(
        "/v1/uploads?family=bts",
        content=b"a" * (8 * 1024 * 1024 + 1),
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert (r.status_code, error_code(r)) == (413, "payload_too_large")
    r = await harness.client.post(
        "/v1/events:batch", json={"events": [bts() for _ in range(5_001)]}, headers=headers
    )
    assert (r.status_code, error_code(r)) == (422, "invalid_input")
    assert [d["field"] for d in r.json()["error"]["details"]] == ["events"]
    assert harness.broker.records("ioc.telemetry.bts.v1") == []  # nothing got through


async def test_a_flood_is_throttled_for_the_flooder_only() -> None:
    async with memory_harness(settings_for_tests(rate_per_second=20, rate_burst=40)) as h:
        quiet = h.create_key(provider="so-khac")

        async def flood() -> list[int]:
            return [
                (await h.client.post("/v1/events", json=bts(), headers=h.headers())).status_code
                for _ in range(300)
            ]

        async def steady() -> list[int]:
            codes = []
            for _ in range(30):  # within its own burst
                r = await h.client.post("/v1/events", json=bts(), headers=h.headers(quiet))
                codes.append(r.status_code)
            return codes

        flooded, kept = await asyncio.gather(flood(), steady())
    assert flooded.count(429) > 0
    assert set(flooded) <= {202, 429}
    assert kept == [202] * 30


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("binary", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20),
        ("utf-16", "Mã đơn vị,Kỳ báo cáo\n071,2025-05\n".encode("utf-16")),
        ("huge line", b"unit_code,observed_at\n071," + b"9" * 100_000 + b"\n"),
        ("nul bytes", b"unit_code,observed_at\x00\n071\x00,2025-05\n"),
        ("empty", b""),
        (
            "header only",
            b"unit_code,observed_at,operator,technology,sites,villages_total,villages_covered\n",
        ),
        (
            "formula",
            b"unit_code,observed_at,operator,technology,sites,villages_total,"
            b"villages_covered\n=cmd|' /C calc'!A0,2025-05,Viettel,4G,1,2,1\n",
        ),
    ],
)
async def test_malformed_csv_is_refused_with_a_reason(
    harness: Harness, name: str, body: bytes
) -> None:
    r = await harness.client.post(
        "/v1/uploads?family=bts",
        files={"file": ("x.csv", body, "text/csv")},
        headers=harness.headers(),
    )
    assert r.status_code in (200, 422), (name, r.text)
    if r.status_code == 422:
        error = r.json()["error"]
        assert error["code"] == "invalid_input", name
        assert error["details"] or error["message_en"].startswith("Unreadable CSV file"), name
    else:  # a readable file whose rows are refused one by one
        assert r.json()["accepted"] == 0, name
    assert harness.broker.records("ioc.telemetry.bts.v1") == []


#: Windows-1258 keeps the tone marks apart (combining U+0300, U+0301, U+0303, U+0309, U+0323)
#: and has â, ê, ô, ă, ơ, ư, đ precomposed: Vietnamese text is encoded as a legacy Excel or
#: Word on Windows writes it, strictly, so every byte is real Vietnamese.
_CP1258_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")


def cp1258(text: str) -> bytes:
    out = []
    for ch in unicodedata.normalize("NFC", text):
        parts = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _CP1258_TONES))
        out.append(base + "".join(c for c in parts if c in _CP1258_TONES))
    return "".join(out).encode("cp1258")  # strict: fails rather than guess


VIETNAMESE_BTS_CSV = (
    "STT;Mã đơn vị;Tên đơn vị;Kỳ báo cáo;Nhà mạng;Công nghệ;Số trạm BTS;Tổng số thôn;"
    "Số thôn có sóng;Ghi chú\r\n"
    "1;071;Thành phố Tuyên Quang;2025-05;Viettel;4G;42;65;63;Đã kiểm tra ở huyện\r\n"
    "2;02233;Xã Hồng Thái;2025-05;VNPT;3G;12;20;19;Phủ sóng ổn định, thôn Bản Khoẻ\r\n"
)


def test_the_windows_1258_sample_is_real_vietnamese() -> None:
    data = cp1258(VIETNAMESE_BTS_CSV)
    # Decoded as Windows-1258 and recomposed, it is the text again, every diacritic kept.
    assert unicodedata.normalize("NFC", data.decode("cp1258")) == VIETNAMESE_BTS_CSV
    assert b"\xd2" in data  # a hook above (U+0309) as a separate byte: "Khoẻ", "Kỳ"… not NFC
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")


async def test_a_windows_1258_vietnamese_csv_is_refused_naming_utf_8(harness: Harness) -> None:
    """Legacy Vietnamese files are Windows-1258, TCVN3 or VNI; guessing among them would
    store wrong names silently, so ingest refuses anything but UTF-8 and says how to save
    it — while the same sheet saved as UTF-8 goes through."""

    async def upload(data: bytes) -> httpx.Response:
        return await harness.client.post(
            "/v1/uploads?family=bts",
            files={"file": ("bao-cao.csv", data, "text/csv")},
            headers=harness.headers(),
        )

    r = await upload(cp1258(VIETNAMESE_BTS_CSV))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"].startswith("Tệp CSV không đọc được: không phải mã UTF-8 (dòng 1)")
    assert error["message_en"].startswith("Unreadable CSV file: not UTF-8 (line 1)")
    assert [d["field"] for d in error["details"]] == ["line 1"]
    assert harness.broker.records("ioc.telemetry.bts.v1") == []
    r = await upload(VIETNAMESE_BTS_CSV.encode())
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 2
    # Only the UTF-8 upload's two rows reached the broker.
    assert len(harness.broker.records("ioc.telemetry.bts.v1")) == 2


async def test_tampered_revoked_and_malformed_keys_are_401(harness: Harness) -> None:
    key = harness.create_key()
    prefix = key.split("_")[1]
    flipped = key[:-1] + ("A" if key[-1] != "A" else "B")
    for bad in (
        flipped,
        key + "x",
        key.replace(prefix, "abcdefgh"),
        "ioc__",
        "Bearer",
        "x" * 5000,
        key.upper(),
        "ioc_" + prefix + "_' OR '1'='1",
    ):
        r = await harness.client.post(
            "/v1/events", json=bts(), headers={"Authorization": f"Bearer {bad}"}
        )
        assert (r.status_code, error_code(r)) == (401, "unauthenticated"), bad[:40]
        assert bad not in r.text or len(bad) < 8
    harness.keys.revoke(prefix)
    r = await harness.client.post("/v1/events", json=bts(), headers=harness.headers(key))
    assert r.status_code == 401


# --- injection strings in every filter of every service ----------------------------------------


@contextlib.asynccontextmanager
async def all_services(
    kafka_bootstrap: str, database_url: str
) -> AsyncIterator[dict[str, tuple[str, dict[str, str]]]]:
    """Each service served in-process: its address and the headers that get past its auth."""
    keys = InMemoryKeyStore()
    _, key = keys.create(
        provider="inj", families=["bts"], units=("08",), indicators=(), all_units=False
    )
    ingest = create_ingest(
        settings_for_tests(),
        publisher=InMemoryPublisher(InMemoryBroker()),
        key_store=keys,
        seen_store=InMemorySeenStore(),
        registry=new_registry(),
    )
    metrics = create_metrics(
        MetricsSettings(
            kafka_bootstrap_servers=kafka_bootstrap,
            database_url=database_url,
            consumer_enabled=False,
            log_level="WARNING",
        )
    )
    alerts = create_alerts(
        AlertsSettings(
            kafka_bootstrap_servers=kafka_bootstrap,
            database_url=database_url,
            run_workers=False,
            log_level="WARNING",
        ),
        registry=new_registry(),
    )
    async with (
        serve(ingest) as a_ingest,
        serve(metrics) as a_metrics,
        serve(alerts) as a_alerts,
        gateway_harness(database_url) as gateway,
    ):
        admin = await gateway.user("inj-admin", "admin", "08")
        yield {
            "ingest": (f"http://{a_ingest}", {"Authorization": f"Bearer {key}"}),
            "metrics": (f"http://{a_metrics}", {}),
            "alerts": (f"http://{a_alerts}", {"X-IOC-Actor": "inj@test"}),
            "gateway": (gateway.url, {"Authorization": f"Bearer {await gateway.token(admin)}"}),
        }


async def test_injection_strings_in_every_parameter_never_reach_a_5xx(
    kafka_bootstrap: str, fresh_database_url: str
) -> None:
    tried = 0
    failures: list[str] = []
    async with all_services(kafka_bootstrap, fresh_database_url) as services:
        for service, (url, headers) in services.items():
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
                spec = (await client.get("/openapi.json")).json()
                for path, item in spec["paths"].items():
                    op = item.get("get")
                    if op is None or path.startswith("/v1/live"):  # the feeds never end
                        continue
                    params = op.get("parameters", [])
                    for param in params:
                        if param["in"] not in ("query", "path"):
                            continue
                        for value in INJECTIONS:
                            url_path, query = path, {}
                            for p in params:  # the other path parameters get a plain value
                                if p["in"] == "path":
                                    url_path = url_path.replace(
                                        "{" + p["name"] + "}",
                                        quote(value, safe="") if p is param else "08",
                                    )
                            if param["in"] == "query":
                                query[param["name"]] = value
                            r = await client.get(url_path, params=query)
                            tried += 1
                            if r.status_code >= 500:
                                failures.append(
                                    f"{service} {path} {param['name']}={value[:30]!r}"
                                    f" → {r.status_code} {r.text[:200]}"
                                )
                            elif r.status_code >= 400 and r.headers.get(
                                "content-type", ""
                            ).startswith("application/json"):
                                assert set(r.json()) == {"error"}, (service, path, r.text[:300])
    print(f"injection requests: {tried}")
    print("\n".join(failures))
    assert tried > 500
    assert failures == []


#: For bodies (a request per field and value: ~1,300 here), one of each kind of the above.
BODY_INJECTIONS = [
    "' OR '1'='1",
    '"; SELECT pg_sleep(10); --',
    "../../../../etc/passwd",
    "\x00",
    "<script>alert(1)</script>",
    "A" * 5000,
    "9999-12-31",
    "0001-01-01",
    "1899-12-31",
    "2201-01-01",
    "-9223372036854775809",
    "1e308",
]
assert set(BODY_INJECTIONS) <= set(INJECTIONS)


def skeleton(schema: dict[str, Any], spec: dict[str, Any], depth: int = 0) -> Any:
    """A plain instance of a JSON schema: every property present, one item per array."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return skeleton(spec["components"]["schemas"][name], spec, depth + 1)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"]
            return skeleton(options[0], spec, depth + 1) if options else None
    if "allOf" in schema:
        return skeleton(schema["allOf"][0], spec, depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: skeleton(v, spec, depth + 1) for k, v in props.items()} if depth < 8 else {}
    if kind == "array":
        return [skeleton(schema.get("items", {}), spec, depth + 1)] if depth < 8 else []
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    fmt = str(schema.get("format", ""))
    return {"date": "2025-05-01", "date-time": "2025-05-01T00:00:00+07:00"}.get(fmt, "08")


def leaves(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in leaves(v, (*path, k))]
    if isinstance(value, list) and value:
        return [p for i, v in enumerate(value) for p in leaves(v, (*path, i))]
    return [path]


def replaced(body: Any, path: tuple[str | int, ...], value: str) -> Any:
    copy = json.loads(json.dumps(body))
    if not path:
        return value
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


#: Body routes left out of the sweep, each covered elsewhere: logout would end the sweep's own
#: session (test_session_revocation); uploads are CSV, not JSON (the malformed CSV cases above).
BODY_SWEEP_SKIPS = {("gateway", "/v1/auth/logout"), ("ingest", "/v1/uploads")}


async def test_injection_strings_in_every_body_field_never_reach_a_5xx(
    kafka_bootstrap: str, fresh_database_url: str
) -> None:
    tried: dict[str, int] = {}
    failures: list[str] = []
    async with all_services(kafka_bootstrap, fresh_database_url) as services:
        for service, (url, headers) in services.items():
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
                spec = (await client.get("/openapi.json")).json()
                probe = next(
                    p for p, item in spec["paths"].items() if "get" in item and "{" not in p
                )
                before = (await client.get(probe)).status_code
                for path, item in spec["paths"].items():
                    for method in ("post", "put", "patch"):
                        op = item.get(method)
                        content = (op or {}).get("requestBody", {}).get("content", {})
                        if "application/json" not in content or (service, path) in (
                            BODY_SWEEP_SKIPS
                        ):
                            continue
                        body = skeleton(content["application/json"]["schema"], spec)
                        url_path = re.sub(r"\{[^}]+\}", "08", path)
                        for field_path in leaves(body):
                            for value in BODY_INJECTIONS:
                                r = await client.request(
                                    method, url_path, json=replaced(body, field_path, value)
                                )
                                tried[service] = tried.get(service, 0) + 1
                                where = f"{service} {method.upper()} {path} {field_path}"
                                if r.status_code >= 500:
                                    failures.append(
                                        f"{where}={value[:30]!r} → {r.status_code} {r.text[:200]}"
                                    )
                                elif r.status_code >= 400 and r.headers.get(
                                    "content-type", ""
                                ).startswith("application/json"):
                                    assert set(r.json()) == {"error"}, (where, r.text[:300])
                # The sweep's credentials still work: it never ran as a refused caller.
                assert (await client.get(probe)).status_code == before, (service, probe)
    print(f"body injection requests: {tried}")
    print("\n".join(failures))
    assert all(tried.get(s, 0) > 100 for s in ("ingest", "alerts", "gateway")), tried
    assert failures == []


# --- SSRF through the alerts API ---------------------------------------------------------------

SSRF_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    # IPv4 loopback written every way inet_aton reads it: decimal, hex, octal, short forms
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://0x7f.0.0.1/hook",
    "http://0177.0.0.1/hook",
    "http://017700000001/hook",
    "http://127.1/hook",
    "http://0x7f.1/hook",
    "http://10.1.2.3/hook",
    "http://012.1.2.3/hook",  # 10.1.2.3 in octal
    "http://172.16.0.1/hook",
    "http://192.168.1.10/hook",
    "http://3232235786/hook",  # 192.168.1.10 as one decimal number
    "http://169.254.169.254/latest/meta-data",
    "http://0xa9fea9fe/latest/meta-data",
    "http://100.64.0.1/hook",
    "http://100.100.100.200/hook",
    "http://0.0.0.0/hook",
    "http://0/hook",
    # IPv6 itself, with and without zone ids (%25 in a URL)
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://[0:0:0:0:0:0:0:1]/hook",
    "http://[::1%25lo]/hook",
    "http://[fe80::1]/hook",
    "http://[fe80::1%25eth0]/hook",
    "http://[fc00::1]/hook",
    "http://[fd12:3456::1]/hook",
    "http://[fec0::1]/hook",  # site-local
    "http://[ff02::1]/hook",
    # IPv4-mapped ::ffff:a.b.c.d, dotted and hex, long form, zone id
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:7f00:1]/hook",
    "http://[0:0:0:0:0:FFFF:7F00:0001]/hook",
    "http://[::ffff:a9fe:a9fe]/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://[::ffff:0.0.0.0]/hook",
    "http://[::ffff:127.0.0.1%25eth0]/hook",
    # IPv4-translated (SIIT) ::ffff:0:a.b.c.d
    "http://[::ffff:0:127.0.0.1]/hook",
    "http://[::ffff:0:a9fe:a9fe]/hook",
    # IPv4-compatible ::a.b.c.d (deprecated)
    "http://[::127.0.0.1]/hook",
    "http://[::7f00:1]/hook",
    "http://[::a9fe:a9fe]/hook",
    "http://[::192.168.1.10]/hook",
    # 6to4 2002:AABB:CCDD::/48
    "http://[2002:7f00:1::1]/hook",
    "http://[2002:a9fe:a9fe::]/hook",
    "http://[2002:c0a8:10a::1]/hook",
    "http://[2002:a00:1:ffff:ffff:ffff:ffff:ffff]/hook",
    "http://[2002:7f00:1::1%25eth0]/hook",
    # NAT64 well-known 64:ff9b::/96, dotted and hex
    "http://[64:ff9b::127.0.0.1]/hook",
    "http://[64:ff9b::7f00:1]/hook",
    "http://[64:ff9b::a9fe:a9fe]/hook",
    "http://[64:ff9b::10.0.0.1]/hook",
    # NAT64 local use 64:ff9b:1::/48 (never global itself)
    "http://[64:ff9b:1::7f00:1]/hook",
    "http://[64:ff9b:1:abcd::10.0.0.1]/hook",
    "http://[64:ff9b:1::93.184.215.14]/hook",
    # Teredo 2001::/32: server 65.54.227.120, client NOT 80ff:fffe = 127.0.0.1; loopback server
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",
    "http://[2001:0:7f00:1::1]/hook",
    "http://[2001::7f00:1]/hook",
    # ISATAP interface ids …:0000:5efe:a.b.c.d / …:0200:5efe:… under link-local and global prefixes
    "http://[fe80::5efe:127.0.0.1]/hook",
    "http://[fe80::200:5efe:a9fe:a9fe]/hook",
    "http://[2a00:1450::5efe:7f00:1]/hook",
    "http://[2a00:1450::200:5efe:10.0.0.1]/hook",
    "http://[2a00:1450::100:5efe:a9fe:a9fe]/hook",
    "file:///etc/passwd",
    "gopher://127.0.0.1:25/",
    "http://user:pass@93.184.215.14/hook",
]
#: The same wrappings around a public IPv4 address are kept: the refusals above are for what
#: they carry, not for their form.
PUBLIC_WRAPPINGS = [
    "http://[::ffff:93.184.215.14]/hook",
    "http://[64:ff9b::5db8:d70e]/hook",
    "http://[2002:5db8:d70e::1]/hook",
    "http://[2a00:1450::200:5efe:5db8:d70e]/hook",
    "http://93.184.215.14/hook",
]


async def test_webhook_urls_at_internal_addresses_are_refused_by_the_api(
    kafka_bootstrap: str, fresh_database_url: str
) -> None:
    settings = AlertsSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=fresh_database_url,
        run_workers=False,
        webhook_allow_networks=[],
        log_level="WARNING",
    )
    answers: dict[str, list[str]] = {"accepted": [], "refused": []}
    async with (
        serve(create_alerts(settings, registry=new_registry())) as address,
        httpx.AsyncClient(base_url=f"http://{address}", headers={"X-IOC-Actor": "t"}) as api,
    ):
        for url in SSRF_URLS + PUBLIC_WRAPPINGS:
            r = await api.post(
                "/v1/recipients",
                json={
                    "name": "x",
                    "units": ["08"],
                    "channels": [{"channel": "webhook", "url": url}],
                },
            )
            assert r.status_code in (201, 422), (url, r.status_code, r.text[:300])
            answers["accepted" if r.status_code == 201 else "refused"].append(url)
        listed = (await api.get("/v1/recipients")).json()
    assert answers["accepted"] == PUBLIC_WRAPPINGS
    assert listed["total"] == len(PUBLIC_WRAPPINGS)


# --- gateway sessions -------------------------------------------------------------------------


async def test_expired_tampered_and_foreign_sessions_are_401(fresh_database_url: str) -> None:
    async with gateway_harness(fresh_database_url) as gateway:
        user = await gateway.user("sess", "admin", "08")
        token = await gateway.token(user)
        body, mac = token.split(".")
        expired = gateway.state.signer.issue(user, now=1_000)[0]
        async with gateway_harness(fresh_database_url) as other:  # another secret
            foreign = other.state.signer.issue(user)[0]
        async with httpx.AsyncClient(base_url=gateway.url) as client:
            for bad in (
                expired,
                f"{body}.{mac[::-1]}",
                f"{tampered(body)}.{mac}",
                foreign,
                "a.b.c",
                "x" * 10_000,
            ):
                for how in ({"Authorization": f"Bearer {bad}"}, {"Cookie": f"ioc_session={bad}"}):
                    r = await client.get("/v1/alerts", headers=how)
                    assert r.status_code == 401, (bad[:30], how.keys())
            r = await client.get("/v1/alerts", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
