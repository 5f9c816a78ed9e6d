"""Secrets never reach the logs or the error bodies: the four services run as processes with a
service token, SMTP and Zalo credentials and a session secret; requests use API keys (good,
tampered, revoked), passwords (right and wrong), session tokens and webhook secrets; operators
log in and open live-feed WebSockets and SSE streams (with the session in the cookie, in the
header and — as an old client would — in the URL) against the gateway started like the others
(``--no-access-log``) and against a second gateway with uvicorn's access log on; then every
captured log line and every error body is searched for each secret's value, and the first
gateway's log for any access line."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ioc_common.db import create_engine, session_factory
from ioc_common.events import Family
from ioc_common.infra.process import free_port, stop_process, tail
from ioc_gateway.testing import create_user_command
from ioc_ingest.keys import PgKeyStore
from tests.reliability.chaos import SERVICES, Platform

pytestmark = [pytest.mark.connected, pytest.mark.slow]


def _spawn_gateway_with_access_log(
    env: dict[str, str], port: int, log: Path
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "ioc_gateway.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"gateway exited:\n{tail(log)}")
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"gateway not healthy:\n{tail(log)}")


async def _live_sessions(url: str, token: str, errors: list[str]) -> None:
    """A WebSocket on the cookie and one on the header (each gets its hello), an old-style one
    with the token in the URL (refused: 4401), and SSE streams with stray tokens in the URL."""
    ws_url = url.replace("http://", "ws://") + "/v1/live"
    for headers in (
        {"Cookie": f"ioc_session={token}", "Origin": url},
        {"Authorization": f"Bearer {token}"},
    ):
        async with connect(f"{ws_url}?type=alert&after=0", additional_headers=headers) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
    ws = await connect(f"{ws_url}?token={token}&type=metric")
    error = await ws.recv()
    errors.append(str(error))
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for headers in ({"Authorization": f"Bearer {token}"}, {}):
            async with client.stream(
                "GET", f"/v1/live/sse?token={token}&type=alert", headers=headers
            ) as r:
                if r.status_code != 200:
                    errors.append((await r.aread()).decode())


async def test_no_secret_appears_in_logs_or_error_bodies() -> None:
    s = {
        "service_token": "svc-" + secrets.token_urlsafe(24),
        "smtp_password": "smtp-" + secrets.token_urlsafe(24),
        "zalo_secret_key": "zsk-" + secrets.token_urlsafe(24),
        "zalo_refresh_token": "zrt-" + secrets.token_urlsafe(24),
        "session_secret": "sess-" + secrets.token_urlsafe(24),
        "password": "pw-" + secrets.token_urlsafe(18),
        "wrong_password": "wrong-" + secrets.token_urlsafe(18),
        "webhook_secret": "whsec_" + secrets.token_urlsafe(30).replace("-", "A").replace("_", "B"),
    }
    work = Path(tempfile.mkdtemp(prefix="ioc-secrets-"))
    platform = Platform(work, services=(*SERVICES, "gateway"))
    errors: list[str] = []
    access_log = work / "gateway-with-access-log.log"
    second: subprocess.Popen[bytes] | None = None
    try:
        database_url = await platform.start_infra()
        engine = create_engine(database_url)
        try:
            keys = PgKeyStore(session_factory(engine))
            _, key = await keys.create(
                provider="hygiene", families=[f.value for f in Family], units=["08"], actor="t"
            )
            revoked_key = (
                await keys.create(provider="old", families=["bts"], units=["08"], actor="t")
            )[1]
            await keys.revoke(revoked_key.split("_")[1], actor="t")
        finally:
            await engine.dispose()
        s["api_key"] = key.split("_", 2)[2]  # the secret part (the prefix is public)
        s["revoked_key"] = revoked_key.split("_", 2)[2]
        platform.configure(database_url)
        platform.env.update(
            {
                "IOC_ALERTS_SERVICE_TOKEN": s["service_token"],
                "IOC_ALERTS_SMTP_PASSWORD": s["smtp_password"],
                "IOC_ALERTS_SMTP_USERNAME": "ioc",
                "IOC_ALERTS_ZALO_APP_ID": "123",
                "IOC_ALERTS_ZALO_SECRET_KEY": s["zalo_secret_key"],
                "IOC_ALERTS_ZALO_REFRESH_TOKEN": s["zalo_refresh_token"],
                "IOC_GATEWAY_SESSION_SECRET": s["session_secret"],
                "IOC_GATEWAY_METRICS_URL": platform.url("metrics"),
                "IOC_GATEWAY_ALERTS_URL": platform.url("alerts"),
                "IOC_LOG_LEVEL": "DEBUG",
            }
        )
        created = await asyncio.to_thread(
            subprocess.run,
            create_user_command("an.nv", "admin", "08"),
            input=s["password"],
            capture_output=True,
            text=True,
            env=platform.env,
            timeout=120,
        )
        assert created.returncode == 0, created.stderr
        cli_output = created.stdout + created.stderr
        for name in platform.services:
            await platform.start(name)
        second_url = f"http://127.0.0.1:{free_port()}"
        second = _spawn_gateway_with_access_log(
            platform.env, int(second_url.rsplit(":", 1)[1]), access_log
        )
        await _wait_healthy(second_url, second, access_log)

        def check(r: httpx.Response) -> None:
            if r.status_code >= 400:
                errors.append(r.text)

        event = {
            "family": "cashless",
            "unit_code": "08",
            "observed_at": "2026-01",
            "payload": {"channel": "qr", "transactions": 1, "value_vnd": 1000},
        }
        async with httpx.AsyncClient(base_url=platform.url("ingest"), timeout=30) as ingest:
            for auth in (
                {"Authorization": f"Bearer {key}"},
                {"X-API-Key": key},
                {"Authorization": f"Bearer {key[:-4]}abcd"},  # tampered
                {"Authorization": f"Bearer {revoked_key}"},
                {"Authorization": f"Bearer {s['api_key']}"},  # the secret alone, malformed
            ):
                for path, body in (
                    ("/v1/events", event),
                    (
                        "/v1/events:batch",
                        {"events": [event, {**event, "unit_code": "01"}, {**event, "payload": {}}]},
                    ),
                ):
                    check(await ingest.post(path, json=body, headers=auth))
        async with httpx.AsyncClient(base_url=platform.url("alerts"), timeout=30) as alerts:
            for token in (s["service_token"], s["service_token"][::-1], "x"):
                r = await alerts.post(
                    "/v1/recipients",
                    headers={"Authorization": f"Bearer {token}", "X-IOC-Actor": "t"},
                    json={
                        "name": "Sở",
                        "units": ["08"],
                        "channels": [
                            {
                                "channel": "webhook",
                                "url": "http://10.0.0.1/h",
                                "secret": s["webhook_secret"],
                            },
                            {
                                "channel": "webhook",
                                "url": "https://93.184.215.14/h",
                                "secret": s["webhook_secret"],
                            },
                        ],
                    },
                )
                check(r)
            listed = await alerts.get(
                "/v1/recipients", headers={"Authorization": f"Bearer {s['service_token']}"}
            )
            assert listed.status_code == 200
            assert s["webhook_secret"] not in listed.text
        async with httpx.AsyncClient(base_url=platform.url("gateway"), timeout=30) as gateway:
            for password in (s["wrong_password"], s["password"]):
                r = await gateway.post(
                    "/v1/auth/login", json={"username": "an.nv", "password": password}
                )
                check(r)
            assert r.status_code == 200, r.text
            s["session_token"] = r.json()["token"]
            auth = {"Authorization": f"Bearer {s['session_token']}"}
            for path in (
                "/v1/alerts",
                "/v1/overview",
                "/v1/alerts/00000000-0000-0000-0000-000000000000",
                "/v1/units/01/scorecard",
            ):
                check(await gateway.get(path, headers=auth))
            check(
                await gateway.get(
                    "/v1/alerts",
                    headers={"Authorization": "Bearer " + s["session_token"][:-3] + "abc"},
                )
            )
            for url in (platform.url("gateway"), second_url):
                await _live_sessions(url, s["session_token"], errors)
            async with httpx.AsyncClient(base_url=second_url, timeout=30) as other:
                for password in (s["wrong_password"], s["password"]):
                    r = await other.post(
                        "/v1/auth/login", json={"username": "an.nv", "password": password}
                    )
                    check(r)
                check(await other.get(f"/v1/alerts?token={r.json()['token']}"))
            check(await gateway.post("/v1/auth/logout", headers=auth))
            check(await gateway.get("/v1/alerts", headers=auth))  # after logout
    finally:
        stop_process(second, timeout_s=10)
        await asyncio.to_thread(platform.stop_all)
    logs = {name: platform.log(name).read_text(errors="replace") for name in platform.services}
    logs["gateway with access log"] = access_log.read_text(errors="replace")
    logs["ioc users create"] = cli_output
    assert sum(len(text.splitlines()) for text in logs.values()) > 50
    leaks = [
        f"{secret_name} in {where}"
        for secret_name, value in s.items()
        for where, text in {**logs, **{f"error body {i}": e for i, e in enumerate(errors)}}.items()
        if value in text
    ]
    assert errors, "the run produced no error bodies to check"
    assert leaks == []
    # --no-access-log means none: neither HTTP access lines nor WebSocket handshake lines.
    assert '"logger":"uvicorn.access"' not in logs["gateway"]
    assert '"WebSocket ' not in logs["gateway"]
    # With the access log on, the lines are there, their query strings redacted.
    assert '"logger":"uvicorn.access"' in logs["gateway with access log"]
    assert "/v1/live/sse?***" in logs["gateway with access log"]
    shutil.rmtree(work, ignore_errors=True)  # kept (with the logs) when something leaked
