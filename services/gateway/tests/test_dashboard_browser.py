"""The dashboard in a real headless Chromium against the real platform: ingest, metrics, alerts
and the gateway as uvicorn processes on the session's Apache Kafka and a fresh PostgreSQL.

An operator logs in and sees the tiles filled from aggregated data in Vietnamese number
formats; events pushed through ingest make a district lag; its alert appears live without a
reload; the operator acknowledges it and sees its state change; a viewer sees no buttons. All
of it under the gateway's Content-Security-Policy (no inline script or style): the browser
reports no violation. The screenshot is saved to ``test-artifacts/dashboard.png``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from ioc_common.testing import eventually
from ioc_common.timeutil import vietnam_today
from ioc_gateway.platform_testing import (
    RECORD_CSP_VIOLATIONS,
    Platform,
    bts_sites_event,
    create_dashboard_user,
    department_key,
    flat_target,
    ingest_client,
    log_in,
    post_targets,
    public_service_event,
    push_events,
    scorecard,
)
from ioc_gateway.testing import chromium

pytestmark = [pytest.mark.connected, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
ARTIFACT = REPO / "test-artifacts" / "dashboard.png"
PASSWORD = "van-hanh-ioc-2026"
#: Communes of Tuyên Quang (08) after the reform, one in each of its former districts
#: 070–076, and one in former Hà Giang's Quản Bạ (029), the district that will lag.
COMMUNES = ["02212", "02266", "02221", "02287", "02374", "02434", "02536"]
LAGGING_COMMUNE, LAGGING_DISTRICT = "00874", "029"


async def _login(page: Page, url: str, username: str) -> None:
    """Logged in, the dashboard served under the gateway's Content-Security-Policy."""
    response = await log_in(page, url, username, PASSWORD)
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]


async def test_operator_sees_live_tiles_and_acknowledges_a_lagging_district(
    platform: Platform,
) -> None:
    urls = platform.urls
    operator, viewer = "van-hanh-tq", "xem-tq"
    create_dashboard_user(platform.database_url, operator, "operator", "08", PASSWORD)
    create_dashboard_user(platform.database_url, viewer, "viewer", "08", PASSWORD)
    key = await department_key(platform.database_url)
    period = vietnam_today().strftime("%Y-%m")
    await post_targets(
        urls["alerts"],
        flat_target(
            "dossiers_processed_online_rate", [LAGGING_DISTRICT], 80, id_prefix="browser-quan-ba"
        ),
    )

    async with ingest_client(urls["ingest"], key) as ingest:
        # 905 of 1,000 dossiers processed online in each commune; 150 BTS sites each, 160 in
        # one: the province shows 90,5% and 1.060 sites.
        await push_events(
            ingest,
            [public_service_event(c, period, 905) for c in COMMUNES]
            + [bts_sites_event(c, period, 160 if i == 0 else 150) for i, c in enumerate(COMMUNES)],
        )

        async def aggregated() -> bool:
            values = await scorecard(urls["metrics"])
            return values.get("bts_sites") == 1060 and values.get(
                "dossiers_processed_online_rate"
            ) == pytest.approx(90.5)

        await eventually(aggregated, timeout_s=60, interval_s=0.5)

        async with chromium() as context:
            await context.add_init_script(RECORD_CSP_VIOLATIONS)
            console_csp: list[str] = []
            context.on(
                "console",
                lambda m: (
                    console_csp.append(m.text) if "Content Security Policy" in m.text else None
                ),
            )
            page = await context.new_page()
            await _login(page, urls["gateway"], operator)
            rate_tile = page.locator('.tile[data-indicator="dossiers_processed_online_rate"]')
            await expect(rate_tile.locator(".tile-value")).to_have_text("90,5%")
            await expect(
                page.locator('.tile[data-indicator="bts_sites"] .tile-value')
            ).to_have_text("1.060")
            await expect(page.locator("#live-status")).to_have_attribute("data-state", "online")
            # A marker that a reload would wipe out.
            await page.evaluate("window.__sameDocument = true")
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))

            await push_events(ingest, [public_service_event(LAGGING_COMMUNE, period, 500)])
            row = page.locator(
                f'#alerts tr[data-unit="{LAGGING_DISTRICT}"]'
                '[data-indicator="dossiers_processed_online_rate"]'
            )
            await expect(row).to_have_attribute("data-state", "firing", timeout=60_000)
            await expect(row).to_contain_text("Quản Bạ")
            await expect(page.locator("#ticker li").first).to_contain_text(LAGGING_COMMUNE)
            await expect(
                page.locator(f'#freshness tr[data-unit="{LAGGING_DISTRICT}"]')
            ).to_be_visible(timeout=30_000)
            # The tiles follow too: (7 × 905 + 500) / 8,000 = 85,44%.
            await expect(rate_tile.locator(".tile-value")).to_have_text("85,44%", timeout=30_000)
            await row.locator(".ack-btn").click()
            await expect(row).to_have_attribute("data-state", "acknowledged")
            await expect(row.locator(".alert-state")).to_have_text("Đã xác nhận")
            await expect(row.locator(".ack-btn")).to_have_count(0)
            assert await page.evaluate("window.__sameDocument") is True
            assert navigations == []
            ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACT), full_page=True)

            await page.click("#lang-switch")
            await expect(row.locator(".alert-state")).to_have_text("Acknowledged")

            watcher = await context.new_page()  # a second session, as a viewer
            await context.clear_cookies()
            await _login(watcher, urls["gateway"], viewer)
            viewer_rows = watcher.locator(f'#alerts tr[data-unit="{LAGGING_DISTRICT}"]')
            await expect(viewer_rows.first).to_be_visible()
            await expect(watcher.locator(".ack-btn, .silence-btn")).to_have_count(0)
            for seen in (page, watcher):
                assert await seen.evaluate("window.__cspViolations") == []
            assert console_csp == []

    async with httpx.AsyncClient(base_url=urls["alerts"]) as alerts:
        found = (
            await alerts.get(
                "/v1/alerts",
                params={"unit": LAGGING_DISTRICT, "indicator": "dossiers_processed_online_rate"},
            )
        ).json()
    (alert,) = found["items"]
    assert (alert["state"], alert["acknowledged_by"]) == ("acknowledged", operator)
