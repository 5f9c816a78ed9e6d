"""The report as one CSV table, a row per unit and indicator (the province's row first), for
Excel: UTF-8 with a BOM so Vietnamese reads right, and — in Vietnamese — ``;`` between cells and
a decimal comma, the way Excel set to vi-VN opens a CSV file by double-click (English: ``,`` and
a decimal point). Numbers carry no thousands separator, so Excel reads them as numbers; dates
are dd/mm/yyyy; every text cell goes through :func:`~ioc_gateway.reports.cells.neutralise`."""

from __future__ import annotations

import csv
import io

from ioc_gateway.reports.build import Report
from ioc_gateway.reports.cells import neutralise, plain_number
from ioc_gateway.reports.texts import Words

BOM = "\ufeff"


def render_csv(report: Report, words: Words) -> bytes:
    vietnamese = words.lang == "vi"
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if vietnamese else ",", lineterminator="\r\n")

    def num(value: float | None) -> str:
        return "" if value is None else plain_number(value, decimal_comma=vietnamese)

    writer.writerow(
        neutralise(words(key))
        for key in (
            "period",
            "pillar",
            "code",
            "indicator",
            "measure",
            "level",
            "unit_code",
            "unit",
            "value",
            "goal",
            "deadline",
            "expected",
            "gap",
            "status",
            "note",
        )
    )
    period = words.period(report.period_start, report.granularity)
    for section in report.sections:
        pillar = words.pick(section.name_vi, section.name_en)
        for line in section.lines:
            ind = line.indicator
            rows = line.districts
            if report.subject == report.province:
                rows = [line.subject, *rows]
            for row in rows:
                text = [
                    period,
                    pillar,
                    ind.code,
                    words.name(ind),
                    words.measure(ind),
                    words(f"level_{row.level}"),
                    row.unit_code,
                    row.name,
                ]
                writer.writerow(
                    [neutralise(t) for t in text]
                    + [num(row.value), num(row.goal), words.day(row.deadline)]
                    + [num(row.expected), num(row.gap), neutralise(words(row.status))]
                    + [neutralise(words("demo")) if row.demo else ""]
                )
    return (BOM + out.getvalue()).encode("utf-8")
