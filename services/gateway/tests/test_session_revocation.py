"""Sessions end on the server: a token carries the user's ``token_version`` and is refused once
the version moved — after logout, an admin's password reset, the user's own password change,
disabling (even when enabled again) and a change of role or scope, from the API or the CLI.

The gateway here caches users for five minutes: the replica that made the change must still
refuse the old token at once (it forgets its cached entry)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ioc_common.testing import run_ioc
from ioc_gateway.testing import PASSWORD, Gateway, gateway_harness

pytestmark = pytest.mark.connected

NEW_PASSWORD = "mat-khau-moi-2026-xyz"


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[Gateway]:
    async with gateway_harness(database_url, user_cache_ttl_s=300) as g:
        yield g


async def _login(gateway: Gateway, username: str, password: str = PASSWORD) -> str:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        r = await client.post("/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


async def _me(gateway: Gateway, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        return await client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


async def _refused(gateway: Gateway, token: str) -> None:
    """401 over HTTP (bearer and cookie) and 4401 on the live feed."""
    r = await _me(gateway, token)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["message_en"] == "Session revoked; please log in again"
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        r = await client.get("/v1/auth/me", headers={"Cookie": f"ioc_session={token}"})
    assert r.status_code == 401
    ws = await connect(
        f"ws://{gateway.address}/v1/live", additional_headers={"Cookie": f"ioc_session={token}"}
    )
    message = json.loads(await ws.recv())
    assert message["type"] == "error"
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_logout_ends_the_session_everywhere(gateway: Gateway) -> None:
    user = await gateway.user("logout", "viewer", "08")
    laptop, wall_screen = await _login(gateway, user), await _login(gateway, user)
    assert (await _me(gateway, laptop)).status_code == 200
    assert (await _me(gateway, wall_screen)).status_code == 200  # now cached for 5 minutes
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        r = await client.post("/v1/auth/logout", headers={"Authorization": f"Bearer {laptop}"})
    assert r.status_code == 204
    assert "ioc_session=" in r.headers["set-cookie"]
    await _refused(gateway, laptop)
    await _refused(gateway, wall_screen)
    assert (await _me(gateway, await _login(gateway, user))).status_code == 200


async def test_an_admin_password_reset_ends_the_users_sessions(gateway: Gateway) -> None:
    admin = await gateway.user("reset-admin", "admin", "08")
    user = await gateway.user("reset-user", "operator", "071")
    token = await _login(gateway, user)
    assert (await _me(gateway, token)).status_code == 200
    async with await gateway.client(admin) as api:
        r = await api.post(f"/v1/users/{user}/password", json={"password": NEW_PASSWORD})
        assert r.status_code == 200, r.text
    await _refused(gateway, token)
    assert (await _me(gateway, await _login(gateway, user, NEW_PASSWORD))).status_code == 200


async def test_changing_ones_own_password_ends_the_old_sessions(gateway: Gateway) -> None:
    user = await gateway.user("own-pw", "viewer", "08")
    other_device = await _login(gateway, user)
    async with httpx.AsyncClient(base_url=gateway.url) as browser:
        r = await browser.post("/v1/auth/login", json={"username": user, "password": PASSWORD})
        old = r.json()["token"]
        r = await browser.post(
            "/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert r.status_code == 200, r.text
        # The browser that changed it got a fresh cookie and stays logged in.
        assert browser.cookies["ioc_session"] != old
        assert (await browser.get("/v1/auth/me")).status_code == 200
    await _refused(gateway, old)
    await _refused(gateway, other_device)


async def test_disable_and_a_new_role_or_scope_end_sessions(gateway: Gateway) -> None:
    admin = await gateway.user("acc-admin", "admin", "08")
    user = await gateway.user("acc-user", "operator", "071")
    async with await gateway.client(admin) as api:
        token = await _login(gateway, user)
        assert (await api.post(f"/v1/users/{user}/disable")).status_code == 200
        assert (await api.post(f"/v1/users/{user}/enable")).status_code == 200
        await _refused(gateway, token)  # enabling again does not revive it

        token = await _login(gateway, user)
        r = await api.patch(f"/v1/users/{user}", json={"role": "viewer", "scope": "072"})
        assert r.status_code == 200, r.text
        assert (r.json()["role"], r.json()["scope"]) == ("viewer", "072")
        await _refused(gateway, token)
        me = await _me(gateway, await _login(gateway, user))
        assert (me.json()["role"], me.json()["scope"]) == ("viewer", "072")

        r = await api.patch(f"/v1/users/{admin}", json={"role": "viewer"})
        assert r.status_code == 409  # not oneself
        r = await api.patch(f"/v1/users/{user}", json={"scope": "01"})
        assert r.status_code == 403  # beyond the admin's province


async def test_the_users_cli_ends_sessions_too(database_url: str) -> None:
    # Another process changes the database: this replica notices at its next lookup.
    async with gateway_harness(database_url, user_cache_ttl_s=0) as gateway:
        user = await gateway.user("cli-acc", "operator", "071")
        db = ("--database-url", database_url)
        token = await _login(gateway, user)
        done = run_ioc("users", "access", user, "--role", "viewer", *db)
        assert done.returncode == 0, done.stderr
        await _refused(gateway, token)
        token = await _login(gateway, user)
        done = run_ioc("users", "logout", user, *db)
        assert done.returncode == 0, done.stderr
        await _refused(gateway, token)
        assert run_ioc("users", "access", user, *db).returncode == 2  # neither role nor scope
