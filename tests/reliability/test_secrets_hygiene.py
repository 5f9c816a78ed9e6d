"""Secrets never reach the logs or the error bodies: the four services run as processes with a
service token, SMTP and Zalo credentials and a session secret; requests use API keys (good,
tampered, revoked), passwords (right and wrong), session tokens and webhook secrets; then every
captured log line and every error body is searched for each secret's value."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from ioc_common.db import create_engine, session_factory
from ioc_common.events import Family
from ioc_ingest.keys import PgKeyStore
from tests.reliability.chaos import SERVICES, Platform

pytestmark = [pytest.mark.connected, pytest.mark.slow]


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
            [
                sys.executable,
                "-m",
                "ioc_common.cli",
                "users",
                "create",
                "--username",
                "an.nv",
                "--role",
                "admin",
                "--scope",
                "08",
                "--password-stdin",
            ],
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
            check(await gateway.post("/v1/auth/logout", headers=auth))
            check(await gateway.get("/v1/alerts", headers=auth))  # after logout
    finally:
        await asyncio.to_thread(platform.stop_all)
    logs = {name: platform.log(name).read_text(errors="replace") for name in platform.services}
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
    shutil.rmtree(work, ignore_errors=True)  # kept (with the logs) when something leaked
