"""The dashboard tells the operator what happened and speaks their language, in a real
headless Chromium against the real platform (Apache Kafka, PostgreSQL, the four services):

* the login page shows no connection status before anyone logs in (no red "Mất kết nối");
* silencing an alert says so, until when, and the silence — like an acknowledgement — is in
  the alert's history, shown under its row;
* the ticker names what arrived in words, never a family code ("cashless");
* money carries its unit (₫), the user is shown as name (role) · area in both languages;
* a flat count is charted on an axis from zero, not stretched over the panel.

The screenshot is saved to ``test-artifacts/dashboard-operator-feedback.png``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from ioc_common.testing import bts_event, eventually
from ioc_common.timeutil import vietnam_today
from ioc_gateway.platform_testing import (
    Platform,
    create_dashboard_user,
    department_key,
    flat_target,
    ingest_client,
    post_targets,
    public_service_event,
    push_events,
)
from ioc_gateway.testing import chromium

pytestmark = [pytest.mark.connected, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
ARTIFACT = REPO / "test-artifacts" / "dashboard-operator-feedback.png"
PASSWORD = "van-hanh-ioc-2026"
#: Two communes of Tuyên Quang (08) after the reform; the second is in Quản Bạ (029), which lags.
COMMUNE, LAGGING_COMMUNE, LAGGING_DISTRICT = "02212", "00874", "029"


def _payments(unit: str, day: str, value_vnd: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "family": "cashless",
        "unit_code": unit,
        "observed_at": day,
        "payload": {"channel": "qr", "transactions": 10, "value_vnd": value_vnd},
    }


async def test_operator_sees_feedback_history_labels_and_units(platform: Platform) -> None:
    urls = platform.urls
    operator = "truc-ban-tq"
    create_dashboard_user(platform.database_url, operator, "admin", "08", PASSWORD)
    key = await department_key(platform.database_url, ["bts", "public_service", "cashless"])
    today = vietnam_today()
    period, day = today.strftime("%Y-%m"), today.isoformat()
    rate = "dossiers_processed_online_rate"
    await post_targets(
        urls["alerts"],
        flat_target(rate, [LAGGING_DISTRICT], 80, id_prefix="feedback-quan-ba", demo=True),
    )

    async with ingest_client(urls["ingest"], key) as ingest:
        await push_events(
            ingest,
            [
                public_service_event(COMMUNE, period, 905),
                public_service_event(LAGGING_COMMUNE, period, 500),
                _payments(COMMUNE, day, 1_250_000),
                bts_event(COMMUNE, observed_at=day, sites=1240),
            ],
        )

        async def alert_open() -> bool:
            async with httpx.AsyncClient(base_url=urls["alerts"]) as alerts:
                found = await alerts.get("/v1/alerts", params={"unit": LAGGING_DISTRICT})
            return bool(found.json()["total"] == 1)

        await eventually(alert_open, timeout_s=60, interval_s=0.5)

        async with chromium() as context:
            page = await context.new_page()
            await page.goto(f"{urls['gateway']}/dashboard")
            await expect(page.locator("#login")).to_be_visible()
            # Nobody logged in: no connection status at all, so no red "Mất kết nối".
            await expect(page.locator("#live-status")).to_be_hidden()
            assert "Mất kết nối" not in await page.locator("body").inner_text()

            await page.fill("#username", operator)
            await page.fill("#password", PASSWORD)
            await page.click("#login-button")
            await expect(page.locator("#live-status")).to_have_attribute(
                "data-state", "online", timeout=30_000
            )
            await expect(page.locator("#user-info")).to_have_text(
                f"{operator} (Quản trị viên) · Tỉnh Tuyên Quang"
            )
            money = page.locator('.tile[data-indicator="cashless_value_vnd"] .tile-value')
            await expect(money).to_have_text("1.250.000\u00a0₫")

            # The table opens on the indicator with a district target; its target is a demo.
            await expect(page.locator("#district-indicator")).to_have_value(rate)
            lagging_row = page.locator(f'#districts tr[data-unit="{LAGGING_DISTRICT}"]')
            await expect(lagging_row).to_contain_text("(minh hoạ)")

            # A flat count (1,240 sites) is drawn on an axis from zero.
            await page.select_option("#district-indicator", "bts_sites")
            ticks = page.locator("#chart text.y-tick")
            await expect(ticks.first).to_have_text("0")
            labels = await ticks.all_inner_texts()
            assert "1.238,8" not in labels

            # Silence: the operator is told, until when; the history shows it under the row.
            row = page.locator(f'#alerts tr[data-unit="{LAGGING_DISTRICT}"]')
            await row.locator(".silence-btn").click()
            await expect(page.locator("#notice")).to_contain_text("Đã tạm im thông báo đến")
            await expect(page.locator("#notice")).to_be_visible()
            history = page.locator("#alerts tr.alert-history li")
            silenced = page.locator("#alerts tr.alert-history li[data-change='silenced']")
            await expect(silenced).to_contain_text(operator)
            await row.locator(".ack-btn").click()
            await expect(row).to_have_attribute("data-state", "acknowledged")
            await expect(history).to_have_count(3)  # opened, silenced, acknowledged
            await expect(history.nth(2)).to_contain_text("Đã xác nhận")

            # The ticker names what arrived, in words.
            await ingest.post(
                "/v1/events:batch", json={"events": [_payments(COMMUNE, day, 90_000)]}
            )
            first = page.locator("#ticker li").first
            await expect(first).to_contain_text("Thanh toán không dùng tiền mặt", timeout=30_000)
            assert "cashless" not in await page.locator("#ticker").inner_text()

            ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACT), full_page=True)

            await page.click("#lang-switch")
            await expect(page.locator("#user-info")).to_have_text(
                f"{operator} (Administrator) · Tỉnh Tuyên Quang"
            )
            await expect(money).to_have_text("₫1,250,000")
            await expect(history.nth(1)).to_contain_text("Silenced")

            # Logged out: the status goes with the session.
            await page.click("#logout")
            await expect(page.locator("#login")).to_be_visible()
            await expect(page.locator("#live-status")).to_be_hidden()

    async with httpx.AsyncClient(base_url=urls["alerts"]) as alerts:
        (alert,) = (await alerts.get("/v1/alerts", params={"unit": LAGGING_DISTRICT})).json()[
            "items"
        ]
        detail = (await alerts.get(f"/v1/alerts/{alert['id']}")).json()
    assert [(h["change"], h["actor"]) for h in detail["history"]] == [
        ("opened", "system"),
        ("silenced", operator),
        ("acknowledged", operator),
    ]
