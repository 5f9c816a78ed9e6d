"""HTTP hardening: security headers on the dashboard, its assets and the API; HSTS only when
configured; the live feed refuses a page of another origin and a token in the URL, and takes
the session from the cookie or the Authorization header."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ioc_gateway.security import CSP
from ioc_gateway.testing import Gateway, gateway_harness

pytestmark = pytest.mark.connected

HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


async def test_every_response_carries_the_security_headers(gateway: Gateway) -> None:
    user = await gateway.user("hdr", "viewer", "08")
    async with await gateway.client(user) as api:
        for path in (
            "/dashboard",
            "/static/js/app.js",
            "/static/style.css",
            "/v1/auth/me",
            "/v1/indicators",
            "/healthz",
            "/v1/nowhere",  # 404
        ):
            r = await api.get(path)
            assert {k: r.headers.get(k) for k in HEADERS} == HEADERS, path
            assert "strict-transport-security" not in r.headers, path
        r = await api.get("/v1/auth/me", headers={"Authorization": "Bearer x.y"})
        assert r.status_code == 401
        assert {k: r.headers.get(k) for k in HEADERS} == HEADERS
    csp = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"


async def test_hsts_only_when_served_over_https(database_url: str) -> None:
    async with (
        gateway_harness(database_url, hsts_seconds=31_536_000) as gateway,
        httpx.AsyncClient(base_url=gateway.url) as client,
    ):
        r = await client.get("/dashboard")
    assert r.headers["strict-transport-security"] == "max-age=31536000"


async def _first_message(ws_url: str, headers: dict[str, str]) -> tuple[dict[str, object], int]:
    """The first message and, for a refused session, the close code."""
    ws = await connect(ws_url, additional_headers=headers)
    message = json.loads(await ws.recv())
    if message["type"] == "hello":
        await ws.close()
        return message, 1000
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None
    return message, closed.value.rcvd.code


async def test_the_live_feed_checks_origin_and_never_takes_a_token_from_the_url(
    gateway: Gateway,
) -> None:
    user = await gateway.user("origin", "viewer", "08")
    token = await gateway.token(user)
    url = f"ws://{gateway.address}/v1/live"
    cookie = {"Cookie": f"ioc_session={token}"}
    own = {"Origin": gateway.url}

    hello, _ = await _first_message(url, cookie | own)
    assert hello["user"] == user
    hello, _ = await _first_message(url, {"Authorization": f"Bearer {token}"})  # no Origin
    assert hello["user"] == user
    for foreign in ("http://evil.example", f"http://{gateway.address}.evil.example", "null"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, additional_headers=cookie | {"Origin": foreign})
        assert refused.value.response.status_code == 403, foreign
    error, code = await _first_message(f"{url}?token={token}", own)
    assert code == 4401
    assert "URL" in str(error["error"])
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        r = await client.get(
            f"/v1/live/sse?token={token}", headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 401
    assert "URL" in r.json()["error"]["message_en"]


async def test_allowed_origins_replace_the_same_origin_rule(database_url: str) -> None:
    portal = "https://ioc.tuyenquang.gov.vn"
    async with gateway_harness(database_url, allowed_origins=[portal]) as gateway:
        user = await gateway.user("portal", "viewer", "08")
        headers = {"Cookie": f"ioc_session={await gateway.token(user)}"}
        url = f"ws://{gateway.address}/v1/live"
        hello, _ = await _first_message(url, headers | {"Origin": portal})
        assert hello["user"] == user
        with pytest.raises(InvalidStatus):
            await connect(url, additional_headers=headers | {"Origin": gateway.url})
