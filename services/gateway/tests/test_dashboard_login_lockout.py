"""In the browser: after five wrong passwords the login form says the account is locked for a
while (the server's reason and its Retry-After), not "wrong password" — even when the right
password is typed — in Vietnamese, and in English after the language switch."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from ioc_gateway.testing import PASSWORD, Gateway, chromium

pytestmark = [pytest.mark.connected, pytest.mark.slow]


async def test_a_locked_username_is_told_to_wait(gateway: Gateway) -> None:
    username = await gateway.user("khoa-trinh-duyet", "viewer", "08")
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        for _ in range(5):
            r = await client.post(
                "/v1/auth/login", json={"username": username, "password": "sai-mat-khau-99"}
            )
            assert r.status_code == 401
    async with chromium() as context:
        page = await context.new_page()
        await page.goto(f"{gateway.url}/dashboard")
        await page.fill("#username", username)
        await page.fill("#password", PASSWORD)
        await page.click("#login-button")
        error = page.locator("#login-error")
        await expect(error).to_contain_text("tài khoản tạm khóa")
        await expect(error).to_contain_text("thử lại sau 5 phút")
        await expect(page.locator("#app")).to_be_hidden()

        await page.click("#lang-switch")
        await page.click("#login-button")
        await expect(error).to_contain_text("Too many failed logins")
        await expect(error).to_contain_text("try again in 5 min")
