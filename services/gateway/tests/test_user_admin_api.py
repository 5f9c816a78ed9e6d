"""Admins manage operators from the API, inside their own scope: create, list, disable (which
ends the user's sessions), enable, set a password; everyone changes their own password with
the current one. Every change is audited; bad input is a 422 naming the field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ioc_gateway.testing import PASSWORD, Gateway

pytestmark = pytest.mark.connected

NEW_PASSWORD = "mat-khau-moi-rat-dai-456"


async def _login(gateway: Gateway, username: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        return await client.post(
            "/v1/auth/login", json={"username": username, "password": password}
        )


def _new_user(username: str, scope: str, **overrides: Any) -> dict[str, Any]:
    return {"username": username, "role": "operator", "scope": scope, "password": PASSWORD} | (
        overrides
    )


async def _usernames(api: httpx.AsyncClient) -> set[str]:
    r = await api.get("/v1/users")
    assert r.status_code == 200, r.text
    return {u["username"] for u in r.json()["items"]}


async def test_a_province_admin_creates_lists_disables_and_enables_an_operator(
    gateway: Gateway,
) -> None:
    admin_name = await gateway.user("qt-tinh", "admin", "08")
    username = f"{gateway.prefix}-an.nv"
    async with await gateway.client(admin_name) as admin:
        created = await admin.post("/v1/users", json=_new_user(username, "071"))
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["username"], body["role"], body["scope"]) == (username, "operator", "071")
        assert body["disabled"] is False
        assert "Lâm Bình" in body["scope_name"]
        assert username in await _usernames(admin)

        async with await gateway.client(username) as session:
            assert (await session.get("/v1/auth/me")).status_code == 200
            disabled = await admin.post(f"/v1/users/{username}/disable")
            assert disabled.status_code == 200
            assert disabled.json()["disabled"] is True
            # The cache holds users for 0 s in tests: the next request is already refused.
            assert (await session.get("/v1/auth/me")).status_code == 401
        assert (await _login(gateway, username, PASSWORD)).status_code == 401

        enabled = await admin.post(f"/v1/users/{username}/enable")
        assert enabled.json()["disabled"] is False
        assert (await _login(gateway, username, PASSWORD)).status_code == 200

    async with gateway.state.sessions() as db:
        rows = await db.execute(
            sa.text("SELECT action, actor FROM audit_log WHERE target = :t ORDER BY id"),
            {"t": username},
        )
        actions = [tuple(r) for r in rows]
    assert actions == [
        ("user.create", admin_name),
        ("user.disable", admin_name),
        ("user.enable", admin_name),
    ]


async def test_a_district_admin_manages_only_its_own_district(gateway: Gateway) -> None:
    neighbour = await gateway.user("op-072", "operator", "072")
    own = await gateway.user("op-071", "operator", "071")
    async with await gateway.client(await gateway.user("qt-071", "admin", "071")) as api:
        outside = await api.post("/v1/users", json=_new_user(f"{gateway.prefix}-x", "072"))
        assert outside.status_code == 403, outside.text
        assert (await api.post(f"/v1/users/{neighbour}/disable")).status_code == 403
        reset = await api.post(f"/v1/users/{neighbour}/password", json={"password": NEW_PASSWORD})
        assert reset.status_code == 403
        listed = await _usernames(api)
        assert own in listed
        assert neighbour not in listed
        items = (await api.get("/v1/users")).json()["items"]
        assert {u["scope"] for u in items} == {"071"}
    assert (await _login(gateway, neighbour, PASSWORD)).status_code == 200  # untouched


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_only_admins_manage_users(gateway: Gateway, role: str) -> None:
    async with await gateway.client(await gateway.user(f"khong-qt-{role}", role, "08")) as api:
        assert (await api.get("/v1/users")).status_code == 403
        body = _new_user(f"{gateway.prefix}-y-{role}", "08", role="admin")
        assert (await api.post("/v1/users", json=body)).status_code == 403
    assert (await _login(gateway, body["username"], PASSWORD)).status_code == 401


async def test_an_admin_cannot_disable_themselves(gateway: Gateway) -> None:
    name = await gateway.user("qt-tu-khoa", "admin", "08")
    async with await gateway.client(name) as admin:
        refused = await admin.post(f"/v1/users/{name}/disable")
    assert refused.status_code == 409
    assert refused.json()["error"]["message_en"] == "You cannot disable your own account"
    assert (await _login(gateway, name, PASSWORD)).status_code == 200


async def test_bad_user_input_names_the_field_and_changes_nothing(gateway: Gateway) -> None:
    username = f"{gateway.prefix}-ngan"
    cases = [
        (_new_user(username, "071", password="ngan"), "password"),
        (_new_user(username, "071", role="boss"), "role"),
        (_new_user("có dấu", "071"), "username"),
        (_new_user(username, "71"), "scope"),
        (_new_user(username, "071", extra=1), "extra"),
    ]
    existing = await gateway.user("da-co", "viewer", "071")
    async with await gateway.client(await gateway.user("qt-loi", "admin", "08")) as admin:
        for body, field in cases:
            r = await admin.post("/v1/users", json=body)
            assert r.status_code == 422, r.text
            assert [d["field"] for d in r.json()["error"]["details"]] == [field], r.text
        assert username not in await _usernames(admin)
        again = await admin.post("/v1/users", json=_new_user(existing, "071"))
        assert again.status_code == 409


async def test_an_admin_sets_a_password_and_a_user_changes_their_own(gateway: Gateway) -> None:
    username = await gateway.user("doi-mk", "operator", "073")
    async with await gateway.client(await gateway.user("qt-mk", "admin", "08")) as admin:
        r = await admin.post(f"/v1/users/{username}/password", json={"password": NEW_PASSWORD})
        assert r.status_code == 200, r.text
    assert (await _login(gateway, username, PASSWORD)).status_code == 401
    token = (await _login(gateway, username, NEW_PASSWORD)).json()["token"]

    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"Authorization": f"Bearer {token}"}
    ) as me:
        wrong = await me.post(
            "/v1/auth/password",
            json={"current_password": "khong-phai-mat-khau", "new_password": PASSWORD},
        )
        assert wrong.status_code == 422
        assert wrong.json()["error"]["details"][0]["field"] == "current_password"
        ok = await me.post(
            "/v1/auth/password",
            json={"current_password": NEW_PASSWORD, "new_password": PASSWORD},
        )
        assert ok.status_code == 200, ok.text
    assert (await _login(gateway, username, PASSWORD)).status_code == 200
