"""The words of a report, Vietnamese and English (the dashboard's own words where it has them:
``static/js/i18n.js``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Final, Literal

from ioc_common.catalogue import Indicator, Unit
from ioc_common.timeutil import Granularity

Lang = Literal["vi", "en"]
LANGS: Final = ("vi", "en")

_WORDS: Final[dict[str, tuple[str, str]]] = {
    "title_month": (
        "Báo cáo chuyển đổi số tháng {period}",
        "Digital transformation report, {period}",
    ),
    "title_quarter": ("Báo cáo chuyển đổi số {period}", "Digital transformation report, {period}"),
    "province": ("Tỉnh", "Province"),
    "scope": ("Phạm vi", "Scope"),
    "period": ("Kỳ báo cáo", "Period"),
    "judged_on": ("Đánh giá theo kế hoạch ngày", "Judged against the plan on"),
    "generated": ("Ngày lập", "Generated on"),
    "generated_at": ("Lập lúc", "Generated at"),
    "summary": ("Tổng hợp", "Summary"),
    "pillar": ("Trụ cột", "Pillar"),
    "indicator": ("Chỉ tiêu", "Indicator"),
    "code": ("Mã", "Code"),
    "measure": ("Đơn vị tính", "Unit of measure"),
    "unit": ("Đơn vị", "Unit"),
    "unit_code": ("Mã đơn vị", "Unit code"),
    "level": ("Cấp", "Level"),
    "value": ("Giá trị", "Value"),
    "goal": ("Chỉ tiêu kế hoạch", "Target"),
    "deadline": ("Hạn", "Deadline"),
    "expected": ("Kế hoạch của kỳ", "Expected for the period"),
    "status": ("Trạng thái", "Status"),
    "gap": ("Chênh lệch so với kế hoạch", "Shortfall from plan"),
    "rank": ("Hạng", "Rank"),
    "lagging": ("Đơn vị chậm", "Lagging units"),
    "missing": ("Đơn vị thiếu số liệu", "Units missing data"),
    "lagging_count": ("Số huyện chậm", "Districts lagging"),
    "missing_count": ("Số huyện thiếu số liệu", "Districts missing data"),
    "lagging_missing": ("Chậm và thiếu số liệu", "Lagging and missing"),
    "none": ("Không có", "None"),
    "districts": ("Các huyện", "Districts"),
    "whole_province": ("Toàn tỉnh", "Whole province"),
    "unavailable": (
        "Dịch vụ không phản hồi khi lập báo cáo (trạng thái không rõ): ",
        "Service unavailable when the report was made (status unknown): ",
    ),
    "print": ("In / Lưu PDF", "Print / Save as PDF"),
    "download_xlsx": ("Tải Excel (XLSX)", "Download Excel (XLSX)"),
    "download_csv": ("Tải CSV", "Download CSV"),
    "other_lang": ("English", "Tiếng Việt"),
    "page_note": (
        "Giá trị tỷ lệ tính bằng %; trạng thái theo cùng quy tắc với bảng điều khiển và cảnh báo.",
        "Ratios in %; statuses follow the same rule as the dashboard and the alerts.",
    ),
    "note": ("Ghi chú", "Note"),
    "demo": (
        "chỉ tiêu minh hoạ (ioc dev), không phải chỉ tiêu thật của tỉnh",
        "demo target (ioc dev), not the province's own",
    ),
    "demo_short": ("minh hoạ", "demo"),
    "level_province": ("tỉnh", "province"),
    "level_district": ("huyện", "district"),
    "level_commune": ("xã", "commune"),
    # Statuses: the dashboard's words (``i18n.js``).
    "on_track": ("Đạt", "On track"),
    "warning": ("Chậm", "Lagging"),
    "critical": ("Nghiêm trọng", "Critical"),
    "no_target": ("Chưa có chỉ tiêu", "No target"),
    "no_data": ("Chưa có dữ liệu", "No data"),
    "unknown": ("Không rõ", "Unknown"),
}

#: What one unit of an indicator counts, in English (Vietnamese: the catalogue's ``unit_vi``).
_UNITS_EN: Final[dict[Unit, str]] = {
    Unit.SITE: "sites",
    Unit.VILLAGE: "villages",
    Unit.POINT: "points",
    Unit.DOSSIER: "dossiers",
    Unit.DOCUMENT: "documents",
    Unit.SERVICE: "services",
    Unit.DATABASE: "databases",
    Unit.DATASET: "datasets",
    Unit.TASK: "tasks",
    Unit.TRANSACTION: "transactions",
    Unit.VND: "VND",
    Unit.PRODUCT: "products",
    Unit.ENTERPRISE: "enterprises",
    Unit.HOUSEHOLD: "households",
    Unit.PERSON: "people",
    Unit.SUBSCRIBER: "subscribers",
    Unit.PERCENT: "%",
}

_ROMAN: Final = ("I", "II", "III", "IV")
# Spelled out: strftime's month names follow the process locale.
_MONTHS_EN: Final = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


class Words:
    """The report's words in one language."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self._i = LANGS.index(lang)

    def __call__(self, key: str) -> str:
        return _WORDS[key][self._i]

    def name(self, obj: Indicator) -> str:
        return obj.name_en if self.lang == "en" else obj.name_vi

    def pick(self, vi: str, en: str) -> str:
        return en if self.lang == "en" else vi

    def measure(self, indicator: Indicator) -> str:
        return _UNITS_EN[indicator.unit] if self.lang == "en" else indicator.unit_vi

    def period(self, start: date, granularity: Granularity) -> str:
        """``11/2026`` or ``Quý IV/2026``; ``November 2026`` or ``Q4 2026``."""
        quarter = (start.month - 1) // 3
        if self.lang == "en":
            if granularity is Granularity.QUARTER:
                return f"Q{quarter + 1} {start.year}"
            return f"{_MONTHS_EN[start.month - 1]} {start.year}"
        if granularity is Granularity.QUARTER:
            return f"Quý {_ROMAN[quarter]}/{start.year}"
        return f"{start.month:02d}/{start.year}"

    def title(self, start: date, granularity: Granularity) -> str:
        key = "title_quarter" if granularity is Granularity.QUARTER else "title_month"
        return self(key).format(period=self.period(start, granularity))

    def day(self, day: date | None) -> str:
        """dd/mm/yyyy in both languages: the province's way of writing a date."""
        return day.strftime("%d/%m/%Y") if day else ""

    def moment(self, at: datetime) -> str:
        return at.strftime("%d/%m/%Y %H:%M")

    def number(self, value: float | None, digits: int) -> str:
        """1.060 and 90,5 in Vietnamese; 1,060 and 90.5 in English (at most ``digits``
        decimals, no trailing zeros)."""
        if value is None:
            return "–"
        text = f"{value:,.{digits}f}"
        if digits:
            text = text.rstrip("0").rstrip(".")
        if self.lang == "vi":
            text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
        return text
