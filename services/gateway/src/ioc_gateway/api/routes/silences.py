"""Silences in the operator's scope: list, create, expire."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ioc_common.contracts.alerts import SilenceOut
from ioc_common.reference.units import Level, level_of, within
from ioc_common.web import error_responses
from ioc_gateway.api.deps import ActingUser, CurrentUser, State, check_unit, out_of_scope
from ioc_gateway.api.routes.alerts import _audit
from ioc_gateway.api.schemas import SilenceIn
from ioc_gateway.auth import Operator

router = APIRouter(
    prefix="/v1/silences",
    tags=["silences"],
    responses=error_responses(401, 403, 404, 422, 503),
)


def _visible(user: Operator, silence: SilenceOut) -> bool:
    unit = silence.unit_code
    # A silence with no unit reaches every unit: only province-wide users see it.
    return within(user.scope, unit) if unit else level_of(user.scope) is Level.PROVINCE


@router.get("", summary="Các lệnh im trong phạm vi / Silences in your scope")
async def list_silences(
    state: State,
    user: CurrentUser,
    active: Annotated[bool | None, Query(description="chỉ đang hiệu lực / only active")] = None,
) -> dict[str, Any]:
    page = await state.alerts_api.silences(active=active)
    items = [s.model_dump(mode="json") for s in page.items if _visible(user, s)]
    return {"items": items, "total": len(items)}


@router.post("", status_code=201, summary="Tạo lệnh im / Create a silence")
async def create_silence(
    body: SilenceIn, state: State, user: ActingUser, request: Request
) -> dict[str, Any]:
    # Never wider than the operator's scope: no unit means the whole scope.
    unit = check_unit(user, body.unit_code or user.scope)
    payload = body.model_dump(mode="json") | {"unit_code": unit}
    result = await state.alerts_api.create_silence(payload, actor=user, origin=request)
    await _audit(state, user, "silence.create", str(result.id), payload)
    return result.model_dump(mode="json")


@router.delete("/{silence_id}", summary="Kết thúc lệnh im / Expire a silence now")
async def expire_silence(
    silence_id: uuid.UUID, state: State, user: ActingUser, request: Request
) -> dict[str, Any]:
    silence = await state.alerts_api.silence(silence_id)
    if not _visible(user, silence):
        raise out_of_scope(user, silence.unit_code or "*")
    result = await state.alerts_api.expire_silence(silence_id, actor=user, origin=request)
    await _audit(state, user, "silence.expire", str(silence_id), {})
    return result.model_dump(mode="json")
