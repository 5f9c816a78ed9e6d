"""The province report from the dashboard, in a real headless Chromium against the real
platform (ingest, metrics, alerts and the gateway on their own Apache Kafka and a fresh
PostgreSQL).

Districts of Tuyên Quang report figures that put them on track, lagging and critical against
their targets. The operator clicks the dashboard's Excel button: the downloaded workbook,
opened with openpyxl, carries the report's headings and the very figures and statuses the
metrics service aggregated and the gateway's district table shows. The print view, emulated
as print media, is the report alone (no toolbar, one pillar per page) and prints to an A4
PDF. Artifacts go to ``test-artifacts/``."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from playwright.async_api import expect

from ioc_common.catalogue import load_catalogue
from ioc_common.timeutil import vietnam_today
from ioc_gateway.platform_testing import (
    FIGURES,
    RATE,
    RECORD_CSP_VIOLATIONS,
    STATUSES,
    Platform,
    create_dashboard_user,
    feed_districts,
    flat_target,
    log_in,
)
from ioc_gateway.reports.texts import Words
from ioc_gateway.testing import chromium

pytestmark = [pytest.mark.connected, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
USER, PASSWORD = "bao-cao-tq", "bao-cao-ioc-2026"


async def _aggregates(platform: Platform, period: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the report must agree with: the metrics service's ranking of the districts and the
    gateway's own district table (the dashboard's statuses)."""
    async with httpx.AsyncClient(base_url=platform.urls["metrics"]) as metrics:
        params = {"indicator": RATE, "province": "08", "granularity": "month", "period": period}
        ranking = (await metrics.get("/v1/rankings", params=params)).json()
    async with httpx.AsyncClient(base_url=platform.urls["gateway"]) as gateway:
        r = await gateway.post("/v1/auth/login", json={"username": USER, "password": PASSWORD})
        token = r.json()["token"]
        table = (
            await gateway.get(
                "/v1/districts",
                params={"indicator": RATE, "period": period},
                headers={"Authorization": f"Bearer {token}"},
            )
        ).json()
    return ranking, table


async def test_the_dashboard_button_downloads_the_report_with_the_aggregated_figures(
    platform: Platform,
) -> None:
    create_dashboard_user(platform.database_url, USER, "operator", "08", PASSWORD)
    today = vietnam_today()
    period = today.strftime("%Y-%m")
    prefix = f"report-{RATE.replace('_', '-')}"
    await feed_districts(platform, period, prefix, flat_target(RATE, ["08"], 80, id_prefix=prefix))
    ranking, table = await _aggregates(platform, period)
    figures = {row["unit_code"]: row["value"] for row in ranking["items"]}
    statuses = {row["unit_code"]: row["status"] for row in table["items"]}
    # The figures behind the report are what was pushed: (905 + 730 + 500 + 905) / 4,000.
    assert ranking["province_value"] == pytest.approx(76.0)
    assert {d: figures[d] for d in FIGURES} == pytest.approx(
        {d: n / 10 for d, n in FIGURES.items()}
    )
    assert {d: statuses[d] for d in FIGURES} == STATUSES
    vi = Words("vi")
    name = load_catalogue().require(RATE).name_vi
    ARTIFACTS.mkdir(exist_ok=True)

    async with chromium() as context:
        await context.add_init_script(RECORD_CSP_VIOLATIONS)
        page = await context.new_page()
        await log_in(page, platform.urls["gateway"], USER, PASSWORD)
        await expect(page.locator("#report-period")).to_have_value(period)
        await page.locator("#report-bar").screenshot(path=str(ARTIFACTS / "report-bar.png"))
        async with page.expect_download() as downloading:
            await page.click("#report-xlsx")
        download = await downloading.value
        assert download.suggested_filename == f"bao-cao-08-{period}.xlsx"
        saved = ARTIFACTS / "report.xlsx"
        await download.save_as(saved)

        wb = load_workbook(io.BytesIO(saved.read_bytes()))
        assert wb.sheetnames == [
            "Tổng hợp",
            "Hạ tầng số",
            "Chính quyền số",
            "Kinh tế số",
            "Xã hội số",
            "Chậm và thiếu số liệu",
        ]
        summary = [list(r) for r in wb["Tổng hợp"].iter_rows(values_only=True)]
        assert summary[0][0] == f"Báo cáo chuyển đổi số tháng {today.month:02d}/{today.year}"
        (rate,) = [r for r in summary if r[0] == RATE]
        assert rate[1] == name
        assert rate[3] == pytest.approx(ranking["province_value"])
        assert rate[8] == vi(table["province_status"]["status"])
        assert rate[9:11] == [2, len(ranking["items"]) - len(FIGURES)]  # 071, 072 lag
        pillar = [list(r) for r in wb["Chính quyền số"].iter_rows(values_only=True)]
        start = pillar.index(next(r for r in pillar if r[0] == f"{name} (%)"))
        rows = {r[1]: r for r in pillar[start + 3 : start + 3 + len(ranking["items"])]}
        assert list(rows) == [row["unit_code"] for row in ranking["items"]]
        for code, value in figures.items():
            assert rows[code][3] == (pytest.approx(value) if value is not None else None)
            assert rows[code][6] == vi(statuses[code])

        # The print view: the report alone, one pillar per page, an A4 PDF.
        async with context.expect_page() as opening:
            await page.click("#report-html")
        printed = await opening.value
        await printed.wait_for_load_state()
        assert printed.url.startswith(platform.urls["gateway"] + "/v1/reports/province?")
        await printed.emulate_media(media="print")
        await expect(printed.locator(".toolbar")).to_be_hidden()
        await expect(printed.locator("section.pillar")).to_have_count(4)
        await expect(printed.locator("section.pillar .report-head").first).to_be_visible()
        breaks = await printed.eval_on_selector_all(
            "section.pillar", "els => els.map(e => getComputedStyle(e).breakBefore)"
        )
        assert breaks == ["auto", "page", "page", "page"]
        row = printed.locator(
            f'section[data-pillar="digital_government"] tr[data-indicator="{RATE}"]'
        )
        await expect(row.locator(".value")).to_have_text(
            vi.number(ranking["province_value"], 2) + "%"
        )
        await printed.screenshot(path=str(ARTIFACTS / "report-print.png"), full_page=True)
        pdf = await printed.pdf(path=str(ARTIFACTS / "report.pdf"), format="A4")
        assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 4  # a page at least per pillar
        for seen in (page, printed):
            assert await seen.evaluate("window.__cspViolations") == []

        await page.click("#lang-switch")
        await expect(page.locator("#report-xlsx")).to_have_attribute("href", re.compile("lang=en"))
