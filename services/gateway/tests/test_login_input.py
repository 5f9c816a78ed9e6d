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
