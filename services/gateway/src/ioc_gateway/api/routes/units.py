"""GET /v1/units/{code} — what an official code named before and after the 1 July 2025 reform:
name, level, validity, parent, successors (a legacy unit) or predecessors (a 2025 unit) through
the crosswalk with the split flag, and a warning when the code was re-used for another unit.

Scoped like every other read: a unit within the operator's scope, which for a 2025 province
includes the former provinces it absorbed (08 Tuyên Quang reads 02 Hà Giang and its units)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from ioc_common.errors import NotFound
from ioc_common.reference.units import (
    Level,
    UnitLink,
    UnitVersion,
    UnknownUnitError,
    unit_history,
)
from ioc_common.web import ERROR_RESPONSE_SCHEMA
from ioc_gateway.api.deps import CurrentUser, check_unit

router = APIRouter(tags=["units"])


class UnitLinkOut(BaseModel):
    code: str
    name: str
    level: Level
    is_split: bool = Field(
        description="chỉ một phần đơn vị này chuyển sang / only part of this unit went across"
    )


class UnitVersionOut(BaseModel):
    name: str
    level: Level
    valid_from: date
    valid_to: date | None = Field(description="null: còn hiệu lực / still valid")
    parent: UnitLinkOut | None
    successors: list[UnitLinkOut] = Field(
        description="đơn vị cũ: thành đơn vị nào từ 01/07/2025 / a legacy unit: what it became "
        "on 1 July 2025"
    )
    predecessors: list[UnitLinkOut] = Field(
        description="đơn vị mới: được lập từ những đơn vị cũ nào / a 2025 unit: the legacy units "
        "it was made of"
    )
    former_district: bool = Field(
        description="huyện cũ vẫn dùng để tổng hợp sau cải cách / a legacy district still used "
        "to aggregate its area after the reform"
    )
    former_district_code: str | None = Field(
        description="đơn vị mới: huyện cũ dùng để tổng hợp / a 2025 commune's former district"
    )


class UnitOut(BaseModel):
    code: str
    versions: list[UnitVersionOut] = Field(description="trước cải cách trước / legacy first")
    reused: bool = Field(description="mã dùng cho đơn vị khác sau cải cách / code re-used")
    warning_vi: str | None
    warning_en: str | None


def _link(link: UnitLink) -> UnitLinkOut:
    return UnitLinkOut(code=link.code, name=link.name, level=link.level, is_split=link.is_split)


def _version(v: UnitVersion) -> UnitVersionOut:
    return UnitVersionOut(
        name=v.unit.name,
        level=v.unit.level,
        valid_from=v.unit.valid_from,
        valid_to=v.unit.valid_to,
        parent=_link(v.parent) if v.parent else None,
        successors=[_link(s) for s in v.successors],
        predecessors=[_link(p) for p in v.predecessors],
        former_district=v.former_district,
        former_district_code=v.unit.former_district_code,
    )


@router.get(
    "/v1/units/{code}",
    summary="Đơn vị hành chính qua cải cách 2025 / An administrative unit across the 2025 reform",
    responses={403: ERROR_RESPONSE_SCHEMA, 404: ERROR_RESPONSE_SCHEMA, 422: ERROR_RESPONSE_SCHEMA},
)
async def unit(
    user: CurrentUser, code: Annotated[str, Path(pattern=r"^(\d{2}|\d{3}|\d{5})$")]
) -> UnitOut:
    try:
        history = unit_history(code)
    except UnknownUnitError:
        raise NotFound(
            f"Không có đơn vị hành chính mã {code}", f"No administrative unit {code}"
        ) from None
    check_unit(user, code)
    return UnitOut(
        code=code,
        versions=[_version(v) for v in history.versions],
        reused=history.reused,
        warning_vi=history.warning_vi,
        warning_en=history.warning_en,
    )
