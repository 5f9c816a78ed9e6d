"""The report as an Excel workbook (openpyxl): a summary sheet, one sheet per pillar with each
indicator's district table, and the lagging and missing units.

Numbers are written as numbers and dates as dates, with format codes (``#,##0.00``,
``dd/mm/yyyy``) that Excel shows in the reader's own locale (1.060,5 in Vietnamese); every
text cell goes through :func:`~ioc_gateway.reports.cells.neutralise`."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from ioc_common.catalogue import Indicator, Unit
from ioc_gateway.reports.build import Line, Report, Row
from ioc_gateway.reports.cells import neutralise
from ioc_gateway.reports.texts import Words

Cell = str | float | int | date | None

DATE_FORMAT = "dd/mm/yyyy"
_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_HEAD_FILL = PatternFill("solid", fgColor="DDE4EC")
_PILLAR_FILL = PatternFill("solid", fgColor="B8CCE4")
#: The dashboard's colours, lightened for paper.
_STATUS_FILL = {
    "on_track": PatternFill("solid", fgColor="C6EFCE"),
    "warning": PatternFill("solid", fgColor="FFEB9C"),
    "critical": PatternFill("solid", fgColor="FFC7CE"),
}

#: The columns' headings (``Words`` keys) of the summary sheet, of each district table of a
#: pillar's sheet, and of the lagging and missing sheet.
_SUMMARY_COLUMNS = (
    "code", "indicator", "measure", "value", "goal", "deadline", "expected", "gap", "status",
    "lagging_count", "missing_count", "note",
)  # fmt: skip
_DISTRICT_COLUMNS = ("rank", "unit_code", "unit", "value", "expected", "gap", "status", "note")
_LAGGING_COLUMNS = (
    "pillar", "indicator", "unit_code", "unit", "value", "expected", "gap", "status",
)  # fmt: skip


def number_format(indicator: Indicator, value: float) -> str:
    """Percentages with two decimals like the dashboard (the value is already ×100), whole
    counts with a thousands separator, anything else with up to two decimals."""
    if indicator.unit is Unit.PERCENT:
        return "#,##0.00"
    return "#,##0" if float(value).is_integer() else "#,##0.0#"


class _Sheet:
    """Appends rows to a worksheet, one typed cell at a time."""

    def __init__(self, ws: Worksheet) -> None:
        self.ws = ws
        self.row = 0

    def put(
        self,
        values: Sequence[Cell],
        *,
        indicator: Indicator | None = None,
        font: Font | None = None,
        fill: PatternFill | None = None,
    ) -> int:
        self.row += 1
        for col, value in enumerate(values, start=1):
            cell = self.ws.cell(row=self.row, column=col)
            if isinstance(value, str):
                cell.value = neutralise(value)
            elif isinstance(value, bool):  # a bool is an int: never meant as one here
                cell.value = str(value)
            elif isinstance(value, int | float):
                cell.value = value
                if indicator is not None:
                    cell.number_format = number_format(indicator, value)
            elif isinstance(value, date):
                cell.value = value
                cell.number_format = DATE_FORMAT
            if font is not None:
                cell.font = font
            if fill is not None:
                cell.fill = fill
        return self.row

    def header(self, words: Words, keys: Sequence[str], *, freeze: bool = False) -> None:
        """A bold, shaded row of column headings (``words`` of ``keys``); ``freeze``: the rows
        down to it stay in view while scrolling."""
        row = self.put([words(key) for key in keys], font=_BOLD, fill=_HEAD_FILL)
        if freeze:
            self.ws.freeze_panes = f"A{row + 1}"

    def status(self, col: int, status: str, words: Words) -> None:
        cell = self.ws.cell(row=self.row, column=col)
        cell.value = neutralise(words(status))
        if status in _STATUS_FILL:
            cell.fill = _STATUS_FILL[status]

    def skip(self) -> None:
        self.row += 1

    def widths(self, *widths: float) -> None:
        for col, width in enumerate(widths, start=1):
            self.ws.column_dimensions[get_column_letter(col)].width = width


def _setup(ws: Worksheet) -> None:
    """A4 landscape, one page wide: what leaders print."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)


def _sheet_title(text: str) -> str:
    """Excel's rule for a sheet's name: at most 31 characters, none of ``[]:*?/\\``."""
    for bad in "[]:*?/\\":
        text = text.replace(bad, " ")
    return text[:31]


def _sheet(ws: Worksheet, report: Report, words: Words, title: str) -> _Sheet:
    """``ws`` set up for print, with the report's heading under ``title``."""
    _setup(ws)
    sheet = _Sheet(ws)
    _heading(sheet, report, words, title)
    return sheet


def _heading(sheet: _Sheet, report: Report, words: Words, title: str) -> None:
    sheet.put([title], font=_TITLE)
    sheet.put([words("province"), f"{report.province_name} ({report.province})"])
    if report.subject != report.province:
        sheet.put([words("scope"), f"{report.subject_name} ({report.subject})"])
    sheet.put([words("period"), words.period(report.period_start, report.granularity)])
    sheet.put([words("judged_on"), report.judged_on])
    sheet.put([words("generated"), report.generated_at.date()])
    if report.unavailable:
        sheet.put([words("unavailable") + ", ".join(report.unavailable)], font=_BOLD)
    sheet.skip()


def _summary(wb: Workbook, report: Report, words: Words) -> None:
    ws = wb.active
    assert ws is not None
    ws.title = _sheet_title(words("summary"))
    sheet = _sheet(ws, report, words, words.title(report.period_start, report.granularity))
    sheet.header(words, _SUMMARY_COLUMNS, freeze=True)
    for section in report.sections:
        sheet.put([words.pick(section.name_vi, section.name_en)], font=_BOLD, fill=_PILLAR_FILL)
        for line in section.lines:
            head, ind = line.subject, line.indicator
            sheet.put(
                [
                    ind.code,
                    words.name(ind),
                    words.measure(ind),
                    head.value,
                    head.goal,
                    head.deadline,
                    head.expected,
                    head.gap,
                    None,
                    len(line.lagging),
                    len(line.missing),
                    words("demo") if head.demo else None,
                ],
                indicator=ind,
            )
            sheet.status(9, head.status, words)
            for col in (10, 11):  # counts, not the indicator's own unit
                ws.cell(row=sheet.row, column=col).number_format = "0"
    sheet.widths(30, 48, 12, 14, 14, 12, 14, 14, 16, 12, 12, 40)


def _district_table(sheet: _Sheet, line: Line, report: Report, words: Words) -> None:
    ind = line.indicator
    sheet.put([f"{words.name(ind)} ({words.measure(ind)})"], font=_BOLD, fill=_PILLAR_FILL)
    sheet.header(words, _DISTRICT_COLUMNS)
    rows: list[tuple[str, Row]] = [(words("whole_province"), line.subject)]
    if report.subject != report.province:
        rows = []  # a district operator's own row is in the table
    rows += [(r.name, r) for r in line.districts]
    for name, row in rows:
        note = words("demo") if row.demo else None
        sheet.put(
            [row.rank, row.unit_code, name, row.value, row.expected, row.gap, None, note],
            indicator=ind,
        )
        sheet.status(7, row.status, words)
    for key, found in (("lagging", line.lagging), ("missing", line.missing)):
        names = "; ".join(f"{r.name} ({r.unit_code})" for r in found) or words("none")
        sheet.put([words(key), names])
    sheet.skip()


def _pillars(wb: Workbook, report: Report, words: Words) -> None:
    for section in report.sections:
        name = words.pick(section.name_vi, section.name_en)
        sheet = _sheet(
            wb.create_sheet(_sheet_title(name)), report, words, f"{words('pillar')}: {name}"
        )
        for line in section.lines:
            _district_table(sheet, line, report, words)
        sheet.widths(14, 12, 34, 16, 16, 16, 18, 40)


def _lagging_and_missing(wb: Workbook, report: Report, words: Words) -> None:
    title = words("lagging_missing")
    sheet = _sheet(wb.create_sheet(_sheet_title(title)), report, words, title)
    sheet.header(words, _LAGGING_COLUMNS, freeze=True)
    for section in report.sections:
        pillar = words.pick(section.name_vi, section.name_en)
        for line in section.lines:
            for row in line.lagging + line.missing:
                sheet.put(
                    [
                        pillar,
                        words.name(line.indicator),
                        row.unit_code,
                        row.name,
                        row.value,
                        row.expected,
                        row.gap,
                    ],
                    indicator=line.indicator,
                )
                sheet.status(8, row.status, words)
    sheet.widths(22, 48, 12, 30, 14, 14, 14, 16)


def render_xlsx(report: Report, words: Words) -> bytes:
    wb = Workbook()
    wb.properties.title = words.title(report.period_start, report.granularity)
    wb.properties.creator = "IOC"
    _summary(wb, report, words)
    _pillars(wb, report, words)
    _lagging_and_missing(wb, report, words)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
