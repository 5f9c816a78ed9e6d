"""Silences in the operator's scope: list, create, expire."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ioc_common.web import ERROR_RESPONSE_SCHEMA
from ioc_gateway.api.deps import ActingUser, CurrentUser, State, check_unit, out_of_scope
from ioc_gateway.api.routes.alerts import _audit
from ioc_gateway.api.schemas import SilenceIn
from ioc_gateway.auth import Operator
from ioc_gateway.scope import within

router = APIRouter(
    prefix="/v1/silences",
    tags=["silences"],
    responses={
        401: ERROR_RESPONSE_SCHEMA,
        403: ERROR_RESPONSE_SCHEMA,
        404: ERROR_RESPONSE_SCHEMA,
        422: ERROR_RESPONSE_SCHEMA,
        503: ERROR_RESPONSE_SCHEMA,
    },
)


def _visible(user: Operator, silence: dict[str, Any]) -> bool:
    unit = silence.get("unit_code")
    # A silence with no unit reaches every unit: only province-wide users see it.
    return within(user.scope, unit) if unit else len(user.scope) == 2


@router.get("", summary="Các lệnh im trong phạm vi / Silences in your scope")
async def list_silences(
    state: State,
    user: CurrentUser,
    active: Annotated[bool | None, Query(description="chỉ đang hiệu lực / only active")] = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": 500}
    if active is not None:
        params["active"] = str(active).lower()
    page = await state.alerts_api.get("/v1/silences", params)
    items = [s for s in page["items"] if _visible(user, s)]
    return {"items": items, "total": len(items)}


@router.post("", status_code=201, summary="Tạo lệnh im / Create a silence")
async def create_silence(body: SilenceIn, state: State, user: ActingUser) -> dict[str, Any]:
    # Never wider than the operator's scope: no unit means the whole scope.
    unit = check_unit(user, body.unit_code or user.scope)
    payload = body.model_dump(mode="json") | {"unit_code": unit}
    result: dict[str, Any] = await state.alerts_api.request(
        "POST", "/v1/silences", json=payload, actor=user.username
    )
    await _audit(state, user, "silence.create", str(result.get("id")), payload)
    return result


@router.delete("/{silence_id}", summary="Kết thúc lệnh im / Expire a silence now")
async def expire_silence(silence_id: uuid.UUID, state: State, user: ActingUser) -> dict[str, Any]:
    silence: dict[str, Any] = await state.alerts_api.get(f"/v1/silences/{silence_id}")
    if not _visible(user, silence):
        raise out_of_scope(user, silence.get("unit_code") or "*")
    result: dict[str, Any] = await state.alerts_api.request(
        "DELETE", f"/v1/silences/{silence_id}", actor=user.username
    )
    await _audit(state, user, "silence.expire", str(silence_id), {})
    return result
