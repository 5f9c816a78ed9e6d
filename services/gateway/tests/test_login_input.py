"""A login with control characters in the username is refused as invalid input (422), never a
database error: PostgreSQL text cannot hold NUL. Found by schemathesis (tests/reliability)."""

from __future__ import annotations

import httpx
import pytest

from ioc_gateway.testing import Gateway

pytestmark = pytest.mark.connected


async def test_a_username_with_control_characters_is_a_422(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        # NUL is refused at the door for any body (RejectNulMiddleware), other control
        # characters by the username's own rule.
        for username, field in (("an\x00nv", "body"), ("an\nnv", "username"), ("\x7f", "username")):
            r = await client.post(
                "/v1/auth/login", json={"username": username, "password": "mat-khau-dai-123"}
            )
            assert r.status_code == 422, (username, r.text)
            assert r.json()["error"]["details"][0]["field"] == field
        r = await client.post(
            "/v1/auth/login", json={"username": "khong-co", "password": "mat-khau-dai-123"}
        )
        assert r.status_code == 401


async def test_nul_in_any_body_is_a_422_before_the_audit_log(gateway: Gateway) -> None:
    # Found by the body injection sweep (tests/reliability): a silence whose reason held NUL
    # went to the alerts service and then into the audit log's JSONB — a 500.
    admin = await gateway.user("nul-admin", "admin", "08")
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"Authorization": f"Bearer {await gateway.token(admin)}"}
    ) as client:
        for body in (
            {"unit_code": "071", "ends_at": "2030-01-01T00:00:00+07:00", "reason": "a\x00b"},
            {"indicator": "\x00", "ends_at": "2030-01-01T00:00:00+07:00", "reason": "x"},
        ):
            r = await client.post("/v1/silences", json=body)
            assert r.status_code == 422, r.text
            assert r.json()["error"]["details"][0]["field"] == "body"
