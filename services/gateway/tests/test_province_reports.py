"""The province report (GET /v1/reports/province) over the gateway's stand-in services: XLSX
opened with openpyxl, CSV read as Excel would, the printable page; scoped to the operator;
bad parameters refused naming the field; text that looks like a formula never becomes one."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook

from ioc_common.catalogue import load_catalogue
from ioc_common.reference.units import unit_tree
from ioc_common.timeutil import vietnam_today
from ioc_gateway.reports.cells import FORMULA_STARTS
from ioc_gateway.testing import Gateway, target

pytestmark = pytest.mark.connected

RATE = "dossiers_processed_online_rate"
SITES = "bts_sites"
RATE_VI = load_catalogue().require(RATE).name_vi
PERIOD = "2026-11"  # the stand-in metrics service's period
#: Against a flat target of 80 % with tolerances 5 and 10 points: on track, lagging (warning),
#: critical, on track; every other district of 08 has no figure.
FIGURES = {"08": 85.0, "070": 62.0, "071": 72.0, "072": 90.0}
STATUS_VI = {"070": "Nghiêm trọng", "071": "Chậm", "072": "Đạt"}
DISTRICTS = [d.code for d in unit_tree().districts_of_province("08", vietnam_today())]
PILLAR_SHEETS = ["Hạ tầng số", "Chính quyền số", "Kinh tế số", "Xã hội số"]


def _province_with_figures(gateway: Gateway) -> None:
    for unit, value in FIGURES.items():
        gateway.fakes.values[(RATE, unit)] = value
    gateway.fakes.values[(SITES, "08")] = 1060
    gateway.fakes.values[(SITES, "070")] = 160
    gateway.fakes.targets += [
        target("tq-rate", RATE, {"units": ["08"]}),
        target("tq-rate-districts", RATE, {"level": "district", "within": ["08"]}),
    ]


def _workbook(content: bytes) -> Workbook:
    return load_workbook(io.BytesIO(content))


def _rows(wb: Workbook, sheet: str) -> list[list[Any]]:
    return [list(r) for r in wb[sheet].iter_rows(values_only=True)]


def _row_of(rows: list[list[Any]], first: Any) -> list[Any]:
    (found,) = [r for r in rows if r[0] == first]
    return found


async def _get(gateway: Gateway, username: str, **params: str) -> Any:
    async with await gateway.client(username) as api:
        return await api.get("/v1/reports/province", params=params)


async def test_the_xlsx_report_has_each_pillar_with_values_targets_statuses_and_districts(
    gateway: Gateway,
) -> None:
    _province_with_figures(gateway)
    operator = await gateway.user("op08", "operator", "08")
    r = await _get(gateway, operator, period=PERIOD, format="xlsx")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert r.headers["content-disposition"] == f'attachment; filename="bao-cao-08-{PERIOD}.xlsx"'
    wb = _workbook(r.content)
    assert wb.sheetnames == ["Tổng hợp", *PILLAR_SHEETS, "Chậm và thiếu số liệu"]

    summary = _rows(wb, "Tổng hợp")
    assert summary[0][0] == "Báo cáo chuyển đổi số tháng 11/2026"
    assert _row_of(summary, "Tỉnh")[1] == "Tỉnh Tuyên Quang (08)"
    assert _row_of(summary, "Kỳ báo cáo")[1] == "11/2026"
    judged = _row_of(summary, "Đánh giá theo kế hoạch ngày")[1]
    assert judged == datetime(2026, 11, 30)  # the period's last day, a real date
    header = _row_of(summary, "Mã")
    assert header[1:10] == [
        "Chỉ tiêu",
        "Đơn vị tính",
        "Giá trị",
        "Chỉ tiêu kế hoạch",
        "Hạn",
        "Kế hoạch của kỳ",
        "Chênh lệch so với kế hoạch",
        "Trạng thái",
        "Số huyện chậm",
    ]
    rate = _row_of(summary, RATE)
    assert rate[1:9] == [RATE_VI, "%", 85.0, 80.0, datetime(2027, 12, 31),
                         80.0, -5.0, "Đạt"]  # fmt: skip
    assert rate[9:11] == [2, len(DISTRICTS) - 3]  # 070 and 071 lag; the others have no figure
    sites = _row_of(summary, SITES)
    assert (sites[3], sites[4], sites[8]) == (1060, None, "Chưa có chỉ tiêu")
    ws = wb["Tổng hợp"]
    cells = {c.value: c for row in ws.iter_rows() for c in row if c.value is not None}
    assert cells[judged].number_format == "dd/mm/yyyy"
    rate_row = cells[RATE].row
    assert ws.cell(rate_row, 4).number_format == "#,##0.00"
    assert ws.cell(rate_row, 4).data_type == "n"
    assert ws.cell(cells[SITES].row, 4).number_format == "#,##0"

    pillar = _rows(wb, "Chính quyền số")
    start = pillar.index(_row_of(pillar, f"{RATE_VI} (%)"))
    assert pillar[start + 1][:7] == [
        "Hạng",
        "Mã đơn vị",
        "Đơn vị",
        "Giá trị",
        "Kế hoạch của kỳ",
        "Chênh lệch so với kế hoạch",
        "Trạng thái",
    ]
    table = pillar[start + 2 : start + 3 + len(DISTRICTS)]
    assert table[0][1:4] == ["08", "Toàn tỉnh", 85.0]
    by_code = {row[1]: row for row in table[1:]}
    assert list(by_code) == DISTRICTS
    for code, status in STATUS_VI.items():
        assert (by_code[code][3], by_code[code][6]) == (FIGURES[code], status)
    assert by_code["073"][3] is None
    assert by_code["073"][6] == "Chưa có dữ liệu"
    lagging = pillar[start + 3 + len(DISTRICTS)]
    assert lagging[0] == "Đơn vị chậm"
    assert lagging[1] == "Thành phố Tuyên Quang (070); Huyện Lâm Bình (071)"
    assert pillar[start + 4 + len(DISTRICTS)][0] == "Đơn vị thiếu số liệu"

    listed = _rows(wb, "Chậm và thiếu số liệu")
    lag_rows = [r for r in listed if r[1] == RATE_VI and r[4] is not None]
    assert [(r[2], r[7]) for r in lag_rows] == [("070", "Nghiêm trọng"), ("071", "Chậm")]


async def test_the_csv_report_opens_in_vietnamese_excel_and_in_english(gateway: Gateway) -> None:
    _province_with_figures(gateway)
    viewer = await gateway.user("viewer08", "viewer", "08")  # reading, not acting
    r = await _get(gateway, viewer, period=PERIOD, format="csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:4] == ["Kỳ báo cáo", "Trụ cột", "Mã", "Chỉ tiêu"]
    indicators = len(gateway.state.catalogue.indicators)
    assert len(rows) == 1 + indicators * (1 + len(DISTRICTS))
    by_unit = {(row[2], row[6]): row for row in rows[1:]}
    province = by_unit[(RATE, "08")]
    assert province[5] == "tỉnh"
    assert province[8:14] == ["85", "80", "31/12/2027", "80", "-5", "Đạt"]
    assert by_unit[(RATE, "070")][8:14] == ["62", "80", "31/12/2027", "80", "18", "Nghiêm trọng"]
    gateway.fakes.values[(RATE, "072")] = 90.125
    r = await _get(gateway, viewer, period=PERIOD, format="csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert next(row for row in rows if row[2] == RATE and row[6] == "072")[8] == "90,125"

    r = await _get(gateway, viewer, period=PERIOD, format="csv", lang="en")
    assert r.headers["content-disposition"] == f'attachment; filename="report-08-{PERIOD}.csv"'
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=","))
    assert rows[0][:4] == ["Period", "Pillar", "Code", "Indicator"]
    english = next(row for row in rows if row[2] == RATE and row[6] == "072")
    assert (english[0], english[5], english[8], english[13]) == (
        "November 2026",
        "district",
        "90.125",
        "On track",
    )


async def test_the_print_page_is_a_plain_a4_document_per_pillar(gateway: Gateway) -> None:
    _province_with_figures(gateway)
    operator = await gateway.user("op08", "operator", "08")
    r = await _get(gateway, operator, period=PERIOD, format="html")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    page = r.text
    assert '<link rel="stylesheet" href="/static/report.css">' in page
    assert "<script>" not in page
    assert "style=" not in page
    assert page.count('<section class="pillar"') == 4
    assert "<h1>Báo cáo chuyển đổi số tháng 11/2026</h1>" in page
    assert 'data-indicator="dossiers_processed_online_rate" data-status="on_track"' in page
    assert "85,00%" not in page
    assert "85%" in page
    assert 'id="report-xlsx" href="/v1/reports/province?period=2026-11&amp;grain=month' in page
    async with await gateway.client(operator) as api:
        css = (await api.get("/static/report.css")).text
    assert "@page { size: A4" in css
    assert "break-before: page" in css

    r = await _get(gateway, operator, period=PERIOD, format="html", lang="en")
    assert "<h1>Digital transformation report, November 2026</h1>" in r.text
    assert '<html lang="en">' in r.text


async def test_a_quarterly_report_asks_for_quarter_figures(gateway: Gateway) -> None:
    _province_with_figures(gateway)
    operator = await gateway.user("op08", "operator", "08")
    r = await _get(gateway, operator, period="2026-Q4", grain="quarter", format="xlsx")
    assert r.status_code == 200, r.text
    summary = _rows(_workbook(r.content), "Tổng hợp")
    assert summary[0][0] == "Báo cáo chuyển đổi số Quý IV/2026"
    assert _row_of(summary, "Đánh giá theo kế hoạch ngày")[1] == datetime(2026, 12, 31)


async def test_a_district_operator_reports_on_their_district_only(gateway: Gateway) -> None:
    _province_with_figures(gateway)
    operator = await gateway.user("op071", "operator", "071")
    r = await _get(gateway, operator, period=PERIOD, format="xlsx")
    assert r.status_code == 200, r.text
    wb = _workbook(r.content)
    summary = _rows(wb, "Tổng hợp")
    assert _row_of(summary, "Phạm vi")[1] == "Huyện Lâm Bình (071)"
    assert _row_of(summary, RATE)[3] == FIGURES["071"]  # their figure, not the province's
    assert _row_of(summary, RATE)[8] == "Chậm"
    codes = {c for sheet in wb.sheetnames for row in _rows(wb, sheet) for c in row}
    assert "070" not in codes
    assert 85.0 not in codes
    csv_rows = (await _get(gateway, operator, period=PERIOD, format="csv")).text.splitlines()
    assert {line.split(";")[6] for line in csv_rows[1:]} == {"071"}

    for other in ("01", "79"):  # Hà Nội, Hồ Chí Minh City: outside the scope
        r = await _get(gateway, operator, period=PERIOD, province=other)
        assert r.status_code == 403, r.text
        assert "phạm vi" in r.json()["error"]["message"]
    province_operator = await gateway.user("op08", "operator", "08")
    assert (await _get(gateway, province_operator, province="01")).status_code == 403
    r = await _get(gateway, province_operator, province="99")
    assert r.status_code == 404
    assert r.json()["error"]["message_en"] == "No province 99"


BAD_PARAMETERS: list[tuple[dict[str, str], str]] = [
    ({"grain": "year"}, "grain"),
    ({"format": "pdf"}, "format"),
    ({"lang": "fr"}, "lang"),
    ({"period": "2026-13"}, "period"),
    ({"period": "11/2026"}, "period"),
    ({"period": "2026-11", "grain": "quarter"}, "period"),
    ({"period": "2026-Q4"}, "period"),  # a quarter for a monthly report
    ({"period": "1899-12"}, "period"),
    ({"period": "9" * 200}, "period"),
    ({"period": "2026-11\n"}, "period"),
    ({"period": "٢٠٢٦-١١"}, "period"),  # Arabic-Indic digits
    ({"province": "8"}, "province"),
]


async def test_bad_parameters_are_refused_naming_the_field_in_both_languages(
    gateway: Gateway,
) -> None:
    operator = await gateway.user("op08", "operator", "08")
    async with await gateway.client(operator) as api:
        for params, field in BAD_PARAMETERS:
            r = await api.get("/v1/reports/province", params=params)
            assert r.status_code == 422, (params, r.text)
            error = r.json()["error"]
            assert [d["field"] for d in error["details"]] == [field], params
            vi, en = error["details"][0]["reason"].split(" / ")
            assert vi != en
            assert vi
            assert en
            assert error["message"] != error["message_en"]
    assert not [c for c in gateway.fakes.calls if c[1] == "/v1/rankings"]


async def test_a_period_still_to_come_is_refused(gateway: Gateway) -> None:
    operator = await gateway.user("op08", "operator", "08")
    today = vietnam_today()
    following = f"{today.year + 1}-01"
    r = await _get(gateway, operator, period=following)
    assert r.status_code == 422
    assert "has not started" in r.json()["error"]["details"][0]["reason"]
    current = f"{today.year}-{today.month:02d}"  # a month still running is fine
    assert (await _get(gateway, operator, period=current)).status_code == 200


async def test_text_that_looks_like_a_formula_never_becomes_one(gateway: Gateway) -> None:
    _province_with_figures(gateway)
    hostile = {
        "070": '=HYPERLINK("http://evil.example","Lâm Bình")',
        "071": "+cmd|' /C calc'!A0",
        "072": "-2+3+cmd",
        "073": "@SUM(1+1)",
        "074": "\t=1+1",
        "075": "\r=1+1",
    }
    gateway.fakes.unit_names.update(hostile)
    gateway.fakes.values[(RATE, "073")] = -4.0  # a negative figure stays a number
    operator = await gateway.user("op08", "operator", "08")

    r = await _get(gateway, operator, period=PERIOD, format="xlsx")
    wb = _workbook(r.content)
    texts = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.append(cell.value)
                    assert not cell.value.startswith(FORMULA_STARTS), cell.value
    for name in hostile.values():
        assert "'" + name.replace("\r", "\n") in texts  # XML keeps a CR as a line feed
    pillar = _rows(wb, "Chính quyền số")
    assert [r[3] for r in pillar if r[1] == "073" and r[3] is not None] == [-4.0]

    r = await _get(gateway, operator, period=PERIOD, format="csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    for line in rows:
        for value in line:
            if not value.lstrip("-").replace(",", "").isdigit():  # a (negative) number
                assert not value.startswith(FORMULA_STARTS), value
    assert {"'" + n for n in hostile.values()} <= {row[7] for row in rows}
    negative = next(row for row in rows if row[2] == RATE and row[6] == "073")
    assert negative[8] == "-4"

    page = (await _get(gateway, operator, period=PERIOD, format="html")).text
    assert "=HYPERLINK(&quot;http://evil.example&quot;" in page  # escaped, shown as text
    assert '<a href="http://evil.example"' not in page


async def test_a_demo_target_is_labelled_as_such_in_every_format(gateway: Gateway) -> None:
    gateway.fakes.values[(RATE, "08")] = 85.0
    gateway.fakes.values[(RATE, "070")] = 62.0
    demo = target("demo-rate", RATE, {"level": "district", "within": ["08"]})
    demo["definition"]["demo"] = True
    gateway.fakes.targets += [target("tq-rate", RATE, {"units": ["08"]}), demo]
    operator = await gateway.user("op08", "operator", "08")

    wb = _workbook((await _get(gateway, operator, period=PERIOD, format="xlsx")).content)
    summary = _rows(wb, "Tổng hợp")
    assert _row_of(summary, "Mã")[11] == "Ghi chú"
    assert _row_of(summary, RATE)[11] is None  # the province's own target is real
    pillar = _rows(wb, "Chính quyền số")
    (row,) = [r for r in pillar if r[1] == "070" and r[3] == 62.0]
    assert (row[6], row[7]) == (
        "Nghiêm trọng",
        "chỉ tiêu minh hoạ (ioc dev), không phải chỉ tiêu thật của tỉnh",
    )

    r = await _get(gateway, operator, period=PERIOD, format="csv", lang="en")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=","))
    assert rows[0][14] == "Note"
    notes = {row[6]: row[14] for row in rows[1:] if row[2] == RATE}
    assert notes["070"] == "demo target (ioc dev), not the province's own"
    assert notes["08"] == ""

    page = (await _get(gateway, operator, period=PERIOD, format="html")).text
    assert page.count('<span class="demo"') == len(DISTRICTS)  # every district's expected value


async def test_without_the_alerts_service_the_figures_come_with_status_unknown(
    gateway: Gateway,
) -> None:
    _province_with_figures(gateway)
    gateway.fakes.down.add("alerts")
    operator = await gateway.user("op08", "operator", "08")
    r = await _get(gateway, operator, period=PERIOD, format="xlsx")
    assert r.status_code == 200, r.text
    summary = _rows(_workbook(r.content), "Tổng hợp")
    assert any(str(row[0]).startswith("Dịch vụ không phản hồi") for row in summary)
    assert _row_of(summary, RATE)[3:9] == [85.0, None, None, None, None, "Không rõ"]

    gateway.fakes.down.add("metrics")
    r = await _get(gateway, operator, period=PERIOD, format="xlsx")
    assert r.status_code == 503
    assert r.json()["error"]["details"] == [{"field": "service", "reason": "metrics"}]
