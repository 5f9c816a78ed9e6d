"""As-of assessments: which units were on track, lagging, past the deadline or missing an
indicator at a date — read from the stored figures, nothing raised, changed or notified."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from ioc_alerts.api.deps import CODE_PATTERN, Session, State
from ioc_alerts.assessments import Standing, assess
from ioc_common.catalogue import load_catalogue
from ioc_common.contracts.alerts import AssessmentsOut
from ioc_common.errors import FieldError, InvalidInput
from ioc_common.timeutil import check_query_period
from ioc_common.web import ERROR_RESPONSE_SCHEMA

router = APIRouter(
    prefix="/v1/assessments",
    tags=["assessments"],
    responses={401: ERROR_RESPONSE_SCHEMA, 422: ERROR_RESPONSE_SCHEMA},
)

Level = Literal["province", "district", "commune"]


def _refused(field: str, vi: str, en: str) -> InvalidInput:
    return InvalidInput(
        "Yêu cầu đánh giá không hợp lệ",
        "Invalid assessment query",
        [FieldError(field, f"{vi} / {en}")],
    )


@router.get(
    "",
    summary="Đánh giá tại một ngày / Standing of units at a date",
    description=(
        "Đơn vị nào đạt, chậm, quá hạn hoặc thiếu số liệu tại ngày `as_of`: số liệu của kỳ gần "
        "nhất bắt đầu không muộn hơn ngày đó, đánh giá theo lộ trình tại ngày cuối kỳ. Chỉ đọc: "
        "không tạo, đổi hay gửi cảnh báo. / Which units were on track, lagging, past the "
        "deadline or missing at `as_of`: the figure of the most recent period starting on or "
        "before it, judged against the trajectory at that period's end. Read-only: nothing is "
        "raised, changed or notified."
    ),
    response_model=AssessmentsOut,
)
async def list_assessments(
    session: Session,
    state: State,
    as_of: Annotated[date, Query(description="ngày đánh giá / the date (YYYY-MM-DD)")],
    indicator: Annotated[str, Query(max_length=64, pattern=CODE_PATTERN)],
    unit: Annotated[str | None, Query(pattern=r"^(\d{2}|\d{3}|\d{5})$")] = None,
    level: Level | None = None,
) -> dict[str, Any]:
    check_query_period(as_of, "as_of")
    found = load_catalogue().get(indicator)
    if found is None:
        raise _refused("indicator", "không có trong danh mục", "not in the catalogue")
    if (unit is None) == (level is None):
        raise _refused(
            "unit" if unit is not None else "level",
            "cần đúng một trong unit hoặc level",
            "give exactly one of unit or level",
        )
    items = await assess(
        session, state.evaluator.targets, found, as_of=as_of, unit=unit, level=level
    )
    counts = Counter(i.status.value for i in items)
    return {
        "as_of": as_of,
        "indicator": indicator,
        "items": [asdict(i) for i in items],
        "counts": {s.value: counts.get(s.value, 0) for s in Standing},
    }
