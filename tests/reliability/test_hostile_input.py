"""Hostile input across the services: oversized bodies (413), oversized batches (422), a flood
(429 for the flooder while another key keeps going), malformed CSV, injection strings in every
query and path parameter of every service (never a 5xx, always the error shape), webhook URLs
aimed at loopback, private and link-local addresses (refused through the API), and tampered,
revoked or expired keys and sessions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest

from ioc_alerts.app import create_app as create_alerts
from ioc_alerts.config import AlertsSettings
from ioc_common.kafka.memory import InMemoryBroker, InMemoryPublisher
from ioc_common.observability import new_registry
from ioc_common.testing import bts_event as bts
from ioc_common.testing import serve
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
        (
            "windows-1252",
            "Mã đơn vị;Kỳ báo cáo;Nhà mạng\n071;2025-05;Viettel\n".encode(
                "cp1252", errors="replace"
            ),
        ),
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


# --- SSRF through the alerts API ---------------------------------------------------------------

SSRF_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://2130706433/hook",  # 127.0.0.1 as one decimal number
    "http://0x7f000001/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://[::1]/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:a9fe:a9fe]/hook",
    "file:///etc/passwd",
    "gopher://127.0.0.1:25/",
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
    accepted: list[str] = []
    async with (
        serve(create_alerts(settings, registry=new_registry())) as address,
        httpx.AsyncClient(base_url=f"http://{address}", headers={"X-IOC-Actor": "t"}) as api,
    ):
        for url in SSRF_URLS:
            r = await api.post(
                "/v1/recipients",
                json={
                    "name": "x",
                    "units": ["08"],
                    "channels": [{"channel": "webhook", "url": url}],
                },
            )
            if r.status_code != 422:
                accepted.append(f"{url} → {r.status_code}")
        listed = (await api.get("/v1/recipients")).json()
    assert accepted == []
    assert listed["total"] == 0


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
                f"{body[:-2]}xx.{mac}",
                foreign,
                "a.b.c",
                "x" * 10_000,
            ):
                for how in ({"Authorization": f"Bearer {bad}"}, {"Cookie": f"ioc_session={bad}"}):
                    r = await client.get("/v1/alerts", headers=how)
                    assert r.status_code == 401, (bad[:30], how.keys())
            r = await client.get("/v1/alerts", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
