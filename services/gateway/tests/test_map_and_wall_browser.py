"""The map and the wall screen in a real headless Chromium against the real platform (ingest,
metrics, alerts and the gateway on their own Apache Kafka and a fresh PostgreSQL).

Districts of Tuyên Quang report figures that put them on track, lagging and critical against
their targets. Before any boundary is imported the map panel is a schematic tile map coloured
by those statuses; after ``ioc geo import`` of a GeoJSON made here, the same statuses fill the
districts' shapes, exactly as the district table has them, and a click opens the district.
``/dashboard?wall=1`` fits map, table, alerts and ticker on 1920×1080 with no scrollbar and
turns the indicator. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from ioc_common.reference.units import unit_tree
from ioc_common.testing import ioc_command
from ioc_common.timeutil import vietnam_today
from ioc_gateway.geo_testing import district_grid, write
from ioc_gateway.platform_testing import (
    RATE,
    RECORD_CSP_VIOLATIONS,
    STATUSES,
    Platform,
    create_dashboard_user,
    feed_districts,
    flat_target,
    log_in,
    run_cli,
)
from ioc_gateway.testing import chromium

pytestmark = [pytest.mark.connected, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
USER, PASSWORD = "van-hanh-ban-do", "ban-do-ioc-2026"
#: The stylesheet's colours (:root --ok, --warn, --crit) as the browser computes them.
COLOURS = {
    "on_track": "rgb(46, 158, 91)",
    "warning": "rgb(224, 161, 0)",
    "critical": "rgb(214, 69, 69)",
}


async def _statuses(page: Page, selector: str) -> dict[str, str]:
    found: dict[str, str] = await page.eval_on_selector_all(
        selector, "els => Object.fromEntries(els.map(e => [e.dataset.unit, e.dataset.status]))"
    )
    return found


async def _expect_coloured(page: Page, mode: str, selector: str, prop: str) -> None:
    """The map panel in ``mode`` with one ``selector`` element per district (18), each with
    its expected status, and the three with a target painted (CSS ``prop``) in its colour."""
    await expect(page.locator(".panel-map")).to_have_attribute("data-mode", mode)
    await expect(page.locator(selector)).to_have_count(18)
    for district, status in STATUSES.items():
        unit = page.locator(f'{selector}[data-unit="{district}"]')
        await expect(unit).to_have_attribute("data-status", status)
    css = re.sub(r"[A-Z]", lambda m: "-" + m.group().lower(), prop)  # backgroundColor → …-color
    for district in ("070", "071", "072"):
        # Polled: the panel may redraw (a live update) between finding a shape and reading it.
        unit = page.locator(f'{selector}[data-unit="{district}"]')
        await expect(unit).to_have_css(css, COLOURS[STATUSES[district]])


async def test_the_map_colours_districts_by_status_from_real_aggregates(
    platform: Platform, tmp_path: Path
) -> None:
    gateway = platform.urls["gateway"]
    create_dashboard_user(platform.database_url, USER, "operator", "08", PASSWORD)
    await feed_districts(
        platform,
        vietnam_today().strftime("%Y-%m"),
        "map-rate",
        flat_target("bts_sites", ["08"], 100, id_prefix="map-bts"),  # a second indicator to turn to
    )
    ARTIFACTS.mkdir(exist_ok=True)

    async with chromium() as context:
        await context.add_init_script(RECORD_CSP_VIOLATIONS)
        page = await context.new_page()
        await log_in(page, gateway, USER, PASSWORD)
        await page.select_option("#district-indicator", RATE)

        # No boundary imported yet: one schematic tile per district, coloured all the same.
        await _expect_coloured(page, "schematic", ".map-tile", "backgroundColor")
        await expect(page.locator("#map-caption")).to_contain_text("sơ đồ ô")
        await page.screenshot(path=str(ARTIFACTS / "map-schematic.png"), full_page=True)

        # The province's boundaries, imported as an administrator would.
        districts = [d.code for d in unit_tree().districts_of_province("08", vietnam_today())]
        geojson = write(tmp_path / "tuyen-quang.geojson", district_grid(districts, columns=6))
        run_cli(ioc_command("geo", "import", str(geojson), "--database-url", platform.database_url))
        await page.reload()
        await page.select_option("#district-indicator", RATE)
        await _expect_coloured(page, "geo", "path.map-unit", "fill")
        # One judgement: every district's colour is its row's status in the table.
        rows = await _statuses(page, "#districts tbody tr[data-unit]")
        table = {unit: status for unit, status in rows.items() if unit != "08"}  # the province
        shapes = await _statuses(page, "path.map-unit")
        assert table
        assert {d: shapes[d] for d in table} == table
        assert all(s == "no_data" for d, s in shapes.items() if d not in table)

        # A click opens the district: its series in the chart, its shape outlined.
        await page.locator('path.map-unit[data-unit="072"]').click()
        await expect(page.locator("#chart-title")).to_contain_text("Na Hang")
        await expect(page.locator('path.map-unit[data-unit="072"]')).to_have_class(
            "map-unit selected"
        )
        await page.screenshot(path=str(ARTIFACTS / "map.png"), full_page=True)
        await page.click("#lang-switch")
        await expect(page.locator('.map-legend-item[data-status="warning"]')).to_have_text(
            "Lagging"
        )
        await page.click("#lang-switch")  # back to Vietnamese for the wall's profile
        assert await page.evaluate("window.__cspViolations") == []

    async with chromium(width=1920, height=1080) as wall:
        await wall.add_init_script(RECORD_CSP_VIOLATIONS)
        page = await wall.new_page()
        await log_in(page, gateway, USER, PASSWORD, "/dashboard?wall=1&rotate=0")
        await page.select_option("#district-indicator", RATE)
        await expect(page.locator(".panel-map")).to_have_attribute("data-mode", "geo")
        await expect(page.locator('path.map-unit[data-unit="072"]')).to_have_attribute(
            "data-status", "critical"
        )
        await expect(page.locator("#districts tbody tr[data-unit]").first).to_be_visible()
        # The lagging and critical districts' alerts are on the wall too.
        await expect(page.locator("#alerts tbody tr").first).to_be_visible(timeout=60_000)
        for shown in (".panel-map", ".panel-districts", ".panel-alerts", ".panel-ticker"):
            await expect(page.locator(shown)).to_be_visible()
        await expect(page.locator("#tiles")).to_be_hidden()
        size = await page.evaluate(
            "({h: document.documentElement.scrollHeight, w: document.documentElement.scrollWidth,"
            " ih: innerHeight, iw: innerWidth,"
            " font: parseFloat(getComputedStyle(document.documentElement).fontSize)})"
        )
        assert (size["ih"], size["iw"]) == (1080, 1920)
        assert size["h"] <= size["ih"], size  # no vertical scrollbar
        assert size["w"] <= size["iw"], size  # nor a horizontal one
        assert size["font"] >= 20  # read from across the room
        # Every district row fits its panel (the wall shrinks the table's type when needed).
        rows_fit = await page.eval_on_selector(
            ".panel-districts", "p => p.scrollHeight <= p.clientHeight + 1"
        )
        assert rows_fit
        await page.screenshot(path=str(ARTIFACTS / "dashboard-wall.png"))

        # The wall turns to another indicator with a target on its own.
        turning = await wall.new_page()  # the same session
        await turning.goto(f"{gateway}/dashboard?wall=1&rotate=5")
        await expect(turning.locator(".panel-map")).to_have_attribute("data-mode", "geo")
        first = await turning.locator("#district-indicator").input_value()
        await expect(turning.locator("#district-indicator")).not_to_have_value(
            first, timeout=30_000
        )
        targeted = await turning.evaluate(
            "fetch('/v1/indicators').then(r => r.json())"
            ".then(b => b.items.filter(i => i.has_target).map(i => i.indicator))"
        )
        assert {RATE, "bts_sites"} <= set(targeted)
        assert await turning.locator("#district-indicator").input_value() in targeted
        for seen in (page, turning):
            assert await seen.evaluate("window.__cspViolations") == []
