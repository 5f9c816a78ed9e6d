"""The report as a printable page: plain HTML with the print stylesheet ``static/report.css``
(A4, one pillar per page, table headers repeated on each page) and no dashboard around it;
the browser's "Print → Save as PDF" makes the PDF. Everything shown is escaped; the page runs
no inline script or style (the gateway's Content-Security-Policy forbids both)."""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from ioc_common.catalogue import Unit
from ioc_gateway.reports.build import Line, Report, Row
from ioc_gateway.reports.texts import Words


def _fmt(line: Line, value: float | None, words: Words) -> str:
    ind = line.indicator
    if value is None:
        return "–"
    if ind.unit is Unit.PERCENT:
        return words.number(value, 2) + "%"
    return words.number(value, 0 if float(value).is_integer() else 2)


def _badge(status: str, words: Words) -> str:
    return f'<span class="badge {escape(status)}" data-status="{escape(status)}">' + (
        f"{escape(words(status))}</span>"
    )


def _demo(row: Row, words: Words) -> str:
    """A demo target is never shown as the province's own."""
    if not row.demo:
        return ""
    title = escape(words("demo"))
    return f' <span class="demo" title="{title}">({escape(words("demo_short"))})</span>'


def _td(text: str, cls: str = "") -> str:
    return f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>"


def _th(text: str, cls: str = "") -> str:
    return f'<th class="{cls}">{escape(text)}</th>' if cls else f"<th>{escape(text)}</th>"


def _summary_table(report: Report, lines: list[Line], words: Words) -> str:
    head = "".join(
        [
            _th(words("indicator")),
            _th(words("value"), "num"),
            _th(words("goal"), "num"),
            _th(words("deadline")),
            _th(words("expected"), "num"),
            _th(words("status")),
            _th(words("lagging_count"), "num"),
            _th(words("missing_count"), "num"),
        ]
    )
    body = []
    for line in lines:
        r = line.subject
        body.append(
            f'<tr data-indicator="{escape(line.indicator.code)}" data-status="{escape(r.status)}">'
            + _td(f"{escape(words.name(line.indicator))} ({escape(words.measure(line.indicator))})")
            + _td(_fmt(line, r.value, words), "num value")
            + _td(_fmt(line, r.goal, words) + _demo(r, words), "num")
            + _td(escape(words.day(r.deadline)))
            + _td(_fmt(line, r.expected, words), "num expected")
            + _td(_badge(r.status, words))
            + _td(str(len(line.lagging)), "num")
            + _td(str(len(line.missing)), "num")
            + "</tr>"
        )
    return (
        f'<table class="summary"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _row(line: Line, row: Row, name: str, words: Words) -> str:
    return (
        f'<tr data-unit="{escape(row.unit_code)}" data-status="{escape(row.status)}">'
        + _td(str(row.rank) if row.rank is not None else "–", "num")
        + _td(f"{escape(name)} ({escape(row.unit_code)})")
        + _td(_fmt(line, row.value, words), "num value")
        + _td(_fmt(line, row.expected, words) + _demo(row, words), "num")
        + _td(_fmt(line, row.gap, words), "num")
        + _td(_badge(row.status, words))
        + "</tr>"
    )


def _units(rows: list[Row], words: Words) -> str:
    if not rows:
        return escape(words("none"))
    return "; ".join(f"{escape(r.name)} ({escape(r.unit_code)})" for r in rows)


def _district_table(report: Report, line: Line, words: Words) -> str:
    head = "".join(
        [
            _th(words("rank"), "num"),
            _th(words("unit")),
            _th(words("value"), "num"),
            _th(words("expected"), "num"),
            _th(words("gap"), "num"),
            _th(words("status")),
        ]
    )
    rows = []
    if report.subject == report.province:
        rows.append(_row(line, line.subject, words("whole_province"), words))
    rows += [_row(line, r, r.name, words) for r in line.districts]
    ind = line.indicator
    return (
        f'<div class="indicator" data-indicator="{escape(ind.code)}">'
        f"<h3>{escape(words.name(ind))} ({escape(words.measure(ind))})</h3>"
        f'<table class="districts"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        f'<p class="units lagging"><strong>{escape(words("lagging"))}:</strong> '
        f"{_units(line.lagging, words)}</p>"
        f'<p class="units missing"><strong>{escape(words("missing"))}:</strong> '
        f"{_units(line.missing, words)}</p></div>"
    )


def render_html(report: Report, words: Words, query: dict[str, str]) -> str:
    """``query``: the report's own parameters, for the download links and the language switch."""
    title = words.title(report.period_start, report.granularity)
    where = f"{report.province_name} ({report.province})"
    if report.subject != report.province:
        where += f" · {words('scope')}: {report.subject_name} ({report.subject})"
    meta = (
        f"{escape(words('province'))}: {escape(where)} · "
        f"{escape(words('judged_on'))} {escape(words.day(report.judged_on))} · "
        f"{escape(words('generated_at'))} {escape(words.moment(report.generated_at))}"
    )

    def link(**changes: str) -> str:
        return escape("/v1/reports/province?" + urlencode(query | changes))

    other = "en" if words.lang == "vi" else "vi"
    toolbar = (
        '<nav class="toolbar no-print">'
        f'<button id="print-report" type="button">{escape(words("print"))}</button> '
        f'<a id="report-xlsx" href="{link(format="xlsx")}">{escape(words("download_xlsx"))}</a> '
        f'<a id="report-csv" href="{link(format="csv")}">{escape(words("download_csv"))}</a> '
        f'<a id="report-lang" href="{link(lang=other)}">{escape(words("other_lang"))}</a>'
        "</nav>"
    )
    warning = (
        f'<p class="unavailable">{escape(words("unavailable") + ", ".join(report.unavailable))}</p>'
        if report.unavailable
        else ""
    )
    sections = []
    for section in report.sections:
        name = escape(words.pick(section.name_vi, section.name_en))
        tables = "".join(_district_table(report, line, words) for line in section.lines)
        sections.append(
            f'<section class="pillar" data-pillar="{escape(section.pillar.value)}">'
            f'<header class="report-head"><p class="report-title">{escape(title)}</p>'
            f'<p class="meta">{meta}</p></header>'
            f"<h2>{escape(words('pillar'))}: {name}</h2>"
            f"{_summary_table(report, section.lines, words)}{tables}</section>"
        )
    return (
        f'<!doctype html><html lang="{words.lang}"><head><meta charset="utf-8">'
        f"<title>{escape(title)} – {escape(report.province_name)}</title>"
        '<link rel="stylesheet" href="/static/report.css"><link rel="icon" href="data:,">'
        '<script type="module" src="/static/js/report-page.js"></script></head>'
        f'<body class="report" data-period="{escape(report.period)}">{toolbar}'
        f"<h1>{escape(title)}</h1>"
        f'<p class="meta">{meta}</p>{warning}'
        f"{''.join(sections)}"
        f'<p class="note">{escape(words("page_note"))}</p></body></html>'
    )
