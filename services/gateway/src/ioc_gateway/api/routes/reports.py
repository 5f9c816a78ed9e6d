"""GET /v1/reports/province — the monthly or quarterly province report as XLSX, CSV or a
printable page (:mod:`ioc_gateway.reports`), scoped like every other read."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Final

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from ioc_common.errors import FieldError, InvalidInput, NotFound
from ioc_common.logs import get_logger
from ioc_common.reference.units import Level, province_of, unit_tree
from ioc_common.timeutil import (
    Granularity,
    check_query_period,
    parse_observed,
    period_start,
    vietnam_today,
)
from ioc_common.web import error_responses
from ioc_gateway.api.deps import CurrentUser, State, check_unit
from ioc_gateway.reports.build import build_report
from ioc_gateway.reports.csvfile import render_csv
from ioc_gateway.reports.page import render_html
from ioc_gateway.reports.texts import LANGS, Lang, Words
from ioc_gateway.reports.xlsx import render_xlsx

log = get_logger("ioc.gateway.reports")

router = APIRouter(tags=["reports"], responses=error_responses(401, 403, 404, 422, 503))

GRAINS: Final = {"month": Granularity.MONTH, "quarter": Granularity.QUARTER}
FORMATS: Final = ("xlsx", "csv", "html")
XLSX_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PERIOD_FORMS: Final = {
    Granularity.MONTH: (re.compile(r"\d{4}-\d{2}", re.ASCII), "2026-11"),
    Granularity.QUARTER: (re.compile(r"\d{4}-Q[1-4]", re.ASCII), "2026-Q4"),
}


def _refused(field: str, reason_vi: str, reason_en: str) -> InvalidInput:
    return InvalidInput(
        "Tham số báo cáo không hợp lệ",
        "Invalid report parameter",
        [FieldError(field, f"{reason_vi} / {reason_en}")],
    )


def _choice(field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        listed = ", ".join(allowed)
        raise _refused(field, f"chọn một trong: {listed}", f"choose one of: {listed}")
    return value


def _period(text: str | None, granularity: Granularity) -> date:
    """The start of the period asked for (default: the current one); not one still to come."""
    today = period_start(vietnam_today(), granularity)
    if text is None:
        return today
    form, example = _PERIOD_FORMS[granularity]
    if len(text) > 16 or not form.fullmatch(text):
        kind_vi = "tháng" if granularity is Granularity.MONTH else "quý"
        raise _refused(
            "period",
            f"kỳ báo cáo theo {kind_vi} viết dạng {example}",
            f"a {granularity.value}ly report's period is written like {example}",
        )
    try:
        start = parse_observed(text)[0]
    except ValueError:
        raise _refused(
            "period", "tháng phải từ 01 đến 12", "the month must be between 01 and 12"
        ) from None
    check_query_period(start, "period")
    if start > today:
        raise _refused("period", "kỳ này chưa bắt đầu", "that period has not started yet")
    return start


def _province(user_scope: str, asked: str | None) -> str:
    """The province reported on: the operator's own by default. Another province is refused
    like any unit outside the scope (403); a code that names no province today is a 404."""
    own = province_of(user_scope)
    if asked is None or asked == own:
        return own
    if not re.fullmatch(r"\d{2}", asked, re.ASCII):
        raise _refused("province", "mã tỉnh gồm 2 chữ số", "a province code has 2 digits")
    unit = unit_tree().get(asked, vietnam_today())
    if unit is None or unit.level is not Level.PROVINCE:
        raise NotFound(f"Không có tỉnh mã {asked}", f"No province {asked}")
    return asked


@router.get(
    "/v1/reports/province",
    response_class=Response,  # a file or a page, never JSON
    summary="Báo cáo tỉnh theo tháng/quý / Monthly or quarterly province report",
    description="Mỗi trụ cột: giá trị từng chỉ tiêu, chỉ tiêu kế hoạch, giá trị kế hoạch của kỳ, "
    "trạng thái, bảng các huyện, đơn vị chậm và thiếu số liệu. `format`: xlsx (Excel), csv "
    "(UTF-8 có BOM; tiếng Việt: dấu `;` và dấu phẩy thập phân) hoặc html (trang in, "
    "A4). Cán bộ cấp huyện chỉ thấy huyện mình. / Per pillar: each indicator's value, target, "
    "the value expected for the period, status, the districts' table and the lagging and "
    "missing units. `format`: xlsx, csv (UTF-8 with BOM; Vietnamese: `;` and a decimal "
    "comma) or html (a printable A4 page). A district operator sees their district only.",
    responses={
        200: {
            "content": {XLSX_TYPE: {}, "text/csv": {}, "text/html": {}},
            "description": "Báo cáo / the report",
        }
    },
)
async def province_report(
    state: State,
    user: CurrentUser,
    period: Annotated[
        str | None, Query(description="2026-11 (tháng / month), 2026-Q4 (quý / quarter)")
    ] = None,
    grain: Annotated[str, Query(description="month | quarter")] = "month",
    format: Annotated[str, Query(description="xlsx | csv | html")] = "xlsx",
    lang: Annotated[str, Query(description="vi | en")] = "vi",
    province: Annotated[
        str | None, Query(description="mặc định: tỉnh của bạn / default: your province")
    ] = None,
) -> Response:
    granularity = GRAINS[_choice("grain", grain, tuple(GRAINS))]
    kind = _choice("format", format, FORMATS)
    language: Lang = "en" if _choice("lang", lang, LANGS) == "en" else "vi"
    start = _period(period, granularity)
    code = _province(user.scope, province)
    if code != province_of(user.scope):
        check_unit(user, code)
    report = await build_report(state, user, code, granularity, start)
    words = Words(language)
    log.info(
        "gateway.report",
        user=user.username,
        province=code,
        period=report.period,
        format=kind,
        lang=language,
    )
    name = f"{'bao-cao' if language == 'vi' else 'report'}-{code}-{report.period}"
    if kind == "html":
        query = {"period": report.period, "grain": grain, "lang": language, "province": code}
        return HTMLResponse(render_html(report, words, query))
    if kind == "csv":
        body, media = render_csv(report, words), "text/csv; charset=utf-8"
    else:
        body, media = render_xlsx(report, words), XLSX_TYPE
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{kind}"',
            "Cache-Control": "no-store",
        },
    )
