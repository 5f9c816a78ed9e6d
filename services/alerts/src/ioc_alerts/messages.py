"""What people read: alert summaries and notification digests, Vietnamese first, English too."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ioc_alerts.evaluation import LaggingOutcome, MissingOutcome, Reason
from ioc_common.catalogue import Indicator, Unit
from ioc_common.events import AlertSeverity
from ioc_common.reference.units import unit_name

SEVERITY_VI = {AlertSeverity.WARNING: "Cảnh báo", AlertSeverity.CRITICAL: "Nghiêm trọng"}
SEVERITY_EN = {AlertSeverity.WARNING: "Warning", AlertSeverity.CRITICAL: "Critical"}
KIND_VI = {
    "firing": "Cảnh báo mới",
    "changed": "Thay đổi mức độ",
    "resolved": "Đã khắc phục",
    "repeat": "Nhắc lại",
}
KIND_EN = {
    "firing": "New alert",
    "changed": "Severity changed",
    "resolved": "Resolved",
    "repeat": "Reminder",
}
#: Zalo OA text messages are limited to 2,000 characters.
ZALO_TEXT_LIMIT = 2000


def num_vi(value: float) -> str:
    """``1234.5`` → ``1.234,5`` (Vietnamese separators), at most two decimals."""
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def num_en(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _with_unit(text: str, indicator: Indicator, *, english: bool) -> str:
    if indicator.unit is Unit.PERCENT:
        return f"{text}%"
    return f"{text} {indicator.unit.value if english else indicator.unit_vi}"


def _gap_unit(indicator: Indicator, *, english: bool) -> str:
    if indicator.unit is Unit.PERCENT:
        return "percentage points" if english else "điểm phần trăm"
    return indicator.unit.value if english else indicator.unit_vi


def lagging_summary(
    indicator: Indicator, unit_code: str, outcome: LaggingOutcome, deadline: date | None
) -> tuple[str, str]:
    """The period judged, what the plan expected for it and the gap, in both languages:
    "… đạt 90% kỳ 2024-05, thấp hơn 8 điểm phần trăm so với kế hoạch của kỳ này (98%)" /
    "… is 90% for 2024-05, lagging by 8 percentage points against the plan for 2024-05
    (expected 98%)"."""
    on = outcome.as_of or date.today()
    where = unit_name(unit_code, on, with_code=True)
    actual = outcome.actual if outcome.actual is not None else 0.0
    expected = outcome.expected if outcome.expected is not None else 0.0
    gap = abs(outcome.gap or 0.0)
    period = outcome.period or on.isoformat()
    actual_vi = _with_unit(num_vi(actual), indicator, english=False)
    actual_en = _with_unit(num_en(actual), indicator, english=True)
    expected_vi = _with_unit(num_vi(expected), indicator, english=False)
    expected_en = _with_unit(num_en(expected), indicator, english=True)
    gap_vi = f"{num_vi(gap)} {_gap_unit(indicator, english=False)}"
    gap_en = f"{num_en(gap)} {_gap_unit(indicator, english=True)}"
    if outcome.reason is Reason.DEADLINE_MISSED and deadline is not None:
        vi = (
            f"{where}: {indicator.name_vi} đạt {actual_vi} kỳ {period} (sau hạn "
            f"{deadline:%d/%m/%Y}), còn thiếu {gap_vi} so với mục tiêu {expected_vi}."
        )
        en = (
            f"{where}: {indicator.name_en} is {actual_en} for {period} (after the deadline "
            f"{deadline.isoformat()}), {gap_en} short of the goal {expected_en}."
        )
        return vi, en
    worse_vi = "thấp hơn" if expected >= actual else "cao hơn"
    vi = (
        f"{where}: {indicator.name_vi} đạt {actual_vi} kỳ {period}, {worse_vi} {gap_vi} so với "
        f"kế hoạch của kỳ này ({expected_vi} theo lộ trình)."
    )
    en = (
        f"{where}: {indicator.name_en} is {actual_en} for {period}, lagging by {gap_en} "
        f"against the plan for {period} (expected {expected_en})."
    )
    return vi, en


def missing_summary(
    indicator: Indicator, unit_code: str, outcome: MissingOutcome, today: date
) -> tuple[str, str]:
    where = unit_name(unit_code, today, with_code=True)
    days = int(outcome.silent_for_days)
    if outcome.demo_day_s is not None:
        # The demo reporting interval of ioc dev: say so, in seconds, never as real days.
        seconds = outcome.interval_days * outcome.demo_day_s
        vi = (
            f"{where}: không nhận được số liệu {indicator.name_vi} "
            f"(chu kỳ báo cáo minh hoạ của ioc dev: {seconds:g} giây)."
        )
        en = (
            f"{where}: no {indicator.name_en} figures "
            f"(ioc dev demo reporting interval: {seconds:g} seconds)."
        )
        return vi, en
    if outcome.last_report_at is None:
        vi = (
            f"{where}: chưa nhận được số liệu {indicator.name_vi} "
            f"(chu kỳ báo cáo {outcome.interval_days} ngày)."
        )
        en = (
            f"{where}: no {indicator.name_en} figures received yet "
            f"(reporting interval {outcome.interval_days} days)."
        )
        return vi, en
    vi = (
        f"{where}: không nhận được số liệu {indicator.name_vi} trong {days} ngày "
        f"(chu kỳ báo cáo {outcome.interval_days} ngày)."
    )
    en = (
        f"{where}: no {indicator.name_en} figures for {days} days "
        f"(reporting interval {outcome.interval_days} days)."
    )
    return vi, en


@dataclass(frozen=True, slots=True)
class DigestItem:
    alert_id: str
    alert_version: int
    kind: str  # firing | changed | resolved | repeat
    rule: str
    state: str
    severity: AlertSeverity
    indicator: str
    unit_code: str
    pillar: str
    summary_vi: str
    summary_en: str

    def as_json(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "version": self.alert_version,
            "change": self.kind,
            "rule": self.rule,
            "state": self.state,
            "severity": self.severity.value,
            "indicator": self.indicator,
            "unit_code": self.unit_code,
            "pillar": self.pillar,
            "summary_vi": self.summary_vi,
            "summary_en": self.summary_en,
        }


def _label_vi(item: DigestItem) -> str:
    if item.kind == "resolved":
        return KIND_VI["resolved"]
    return f"{KIND_VI[item.kind]} – {SEVERITY_VI[item.severity]}"


def _label_en(item: DigestItem) -> str:
    if item.kind == "resolved":
        return KIND_EN["resolved"]
    return f"{KIND_EN[item.kind]} – {SEVERITY_EN[item.severity]}"


def digest(recipient_name: str, items: Sequence[DigestItem], dashboard_url: str) -> dict[str, Any]:
    """Every rendering of one notification: email subject/text/HTML, Zalo text, webhook JSON."""
    resolved = sum(1 for i in items if i.kind == "resolved")
    active = len(items) - resolved
    if len(items) == 1:
        only = items[0]
        subject_vi = f"[IOC] {_label_vi(only)}: {only.summary_vi}"[:200]
        subject_en = f"[IOC] {_label_en(only)}: {only.summary_en}"[:200]
    else:
        subject_vi = (
            f"[IOC] {len(items)} thay đổi cảnh báo: {active} đang cảnh báo, {resolved} đã khắc phục"
        )
        subject_en = f"[IOC] {len(items)} alert changes: {active} active, {resolved} resolved"
    link = dashboard_url.rstrip("/") + "/alerts/"
    lines_vi = [f"Kính gửi {recipient_name},", "", "Hệ thống IOC thông báo:", ""]
    lines_en = ["", "---", "English:", ""]
    for item in items:
        lines_vi.append(f"- [{_label_vi(item)}] {item.summary_vi}")
        lines_vi.append(f"  Chi tiết: {link}{item.alert_id}")
        lines_en.append(f"- [{_label_en(item)}] {item.summary_en}")
    lines_vi += ["", "Trân trọng,", "Trung tâm Điều hành thông minh (IOC)"]
    text = "\n".join(lines_vi + lines_en) + "\n"
    rows = "".join(
        f"<tr><td><strong>{html.escape(_label_vi(i))}</strong></td>"
        f'<td>{html.escape(i.summary_vi)}<br><small lang="en">{html.escape(i.summary_en)}'
        f'</small></td><td><a href="{html.escape(link + i.alert_id)}">Chi tiết</a></td></tr>'
        for i in items
    )
    body_html = (
        f'<!doctype html><html lang="vi"><meta charset="utf-8"><body>'
        f"<p>Kính gửi {html.escape(recipient_name)},</p><p>Hệ thống IOC thông báo:</p>"
        f'<table border="1" cellpadding="6" cellspacing="0">{rows}</table>'
        f"<p>Trân trọng,<br>Trung tâm Điều hành thông minh (IOC)</p></body></html>"
    )
    zalo = "\n".join([subject_vi] + [f"- {i.summary_vi}" for i in items])
    if len(zalo) > ZALO_TEXT_LIMIT:
        zalo = zalo[: ZALO_TEXT_LIMIT - 1] + "…"
    return {
        "subject_vi": subject_vi,
        "subject_en": subject_en,
        "text": text,
        "html": body_html,
        "zalo_text": zalo,
        "items": [i.as_json() for i in items],
    }
