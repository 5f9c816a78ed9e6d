"""Alerts in the operator's scope: list, one, acknowledge, resolve, silence. Actions are
routed to the alerts service with the operator's identity (``X-IOC-Actor``) and audited."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ioc_common import audit
from ioc_common.catalogue import Pillar
from ioc_common.contracts.alerts import AlertDetailOut, AlertOut
from ioc_common.db import transaction
from ioc_common.events import AlertSeverity, AlertState
from ioc_common.reference.units import unit_name, within
from ioc_common.timeutil import utc_now
from ioc_common.web import error_responses
from ioc_gateway.api.deps import ActingUser, CurrentUser, State, check_unit, out_of_scope
from ioc_gateway.api.schemas import AcknowledgeIn, AlertSilenceIn, ResolveIn
from ioc_gateway.auth import SERVICE, Operator
from ioc_gateway.state import GatewayState

router = APIRouter(
    prefix="/v1/alerts",
    tags=["alerts"],
    responses=error_responses(401, 403, 404, 409, 422, 503),
)

#: Alerts fetched from the alerts service per list request, before the scope filter.
_FETCH = 500


def _named(alert: AlertOut) -> dict[str, Any]:
    return alert.model_dump(mode="json") | {"unit_name": unit_name(alert.unit_code)}


@router.get(
    "",
    summary="Cảnh báo trong phạm vi / Alerts in your scope",
    description="Mới cập nhật trước. Lọc theo phạm vi trên 500 cảnh báo gần nhất khớp bộ lọc. / "
    "Most recently updated first; the scope filter applies to the latest 500 matching alerts.",
)
async def list_alerts(
    state: State,
    user: CurrentUser,
    alert_state: Annotated[list[AlertState] | None, Query(alias="state")] = None,
    severity: AlertSeverity | None = None,
    pillar: Pillar | None = None,
    indicator: Annotated[str | None, Query(max_length=64)] = None,
    unit: Annotated[str | None, Query(pattern=r"^(\d{2}|\d{3}|\d{5})$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    if unit is not None:
        check_unit(user, unit)
    page = await state.alerts_api.alerts(
        states=alert_state or (),
        severity=severity,
        pillar=pillar,
        indicator=indicator,
        limit=_FETCH,
    )
    inside = unit or user.scope
    found = [_named(a) for a in page.items if within(inside, a.unit_code)]
    return {
        "items": found[offset : offset + limit],
        "total": len(found),
        "limit": limit,
        "offset": offset,
    }


async def _visible(state: GatewayState, user: Operator, alert_id: uuid.UUID) -> AlertDetailOut:
    alert = await state.alerts_api.alert(alert_id)
    if not within(user.scope, alert.unit_code):
        raise out_of_scope(user, alert.unit_code)
    return alert


async def _audit(
    state: GatewayState, user: Operator, action: str, target: str, detail: dict[str, Any]
) -> None:
    async with transaction(state.sessions) as session:
        await audit.record(
            session,
            service=SERVICE,
            actor=user.username,
            action=action,
            target=target,
            detail=detail | {"role": user.role.value, "scope": user.scope},
        )


async def _noted(
    state: GatewayState,
    user: Operator,
    request: Request,
    alert_id: uuid.UUID,
    action: str,
    act: Callable[..., Awaitable[AlertDetailOut]],
    note: str | None,
) -> dict[str, Any]:
    """An operator's action with a note on an alert in their scope: done by the alerts service
    (``act``) in their name, audited here."""
    await _visible(state, user, alert_id)
    result = await act(alert_id, note, actor=user, origin=request)
    await _audit(state, user, action, str(alert_id), {"note": note})
    return _named(result)


@router.get("/{alert_id}", summary="Một cảnh báo và lịch sử / One alert with its history")
async def get_alert(alert_id: uuid.UUID, state: State, user: CurrentUser) -> dict[str, Any]:
    return _named(await _visible(state, user, alert_id))


@router.post(
    "/{alert_id}/acknowledge",
    summary="Xác nhận đã tiếp nhận / Acknowledge (operators and admins)",
)
async def acknowledge(
    alert_id: uuid.UUID, body: AcknowledgeIn, state: State, user: ActingUser, request: Request
) -> dict[str, Any]:
    act = state.alerts_api.acknowledge
    return await _noted(state, user, request, alert_id, "alert.acknowledge", act, body.note)


@router.post("/{alert_id}/resolve", summary="Đóng cảnh báo / Resolve by hand")
async def resolve(
    alert_id: uuid.UUID, body: ResolveIn, state: State, user: ActingUser, request: Request
) -> dict[str, Any]:
    act = state.alerts_api.resolve
    return await _noted(state, user, request, alert_id, "alert.resolve", act, body.note)


@router.post(
    "/{alert_id}/silence",
    status_code=201,
    summary="Tạm im thông báo của cảnh báo này / Silence this alert's notifications",
    description="Tạo một lệnh im cho chỉ tiêu và đơn vị của cảnh báo. / Creates a silence for "
    "the alert's indicator and unit.",
)
async def silence_alert(
    alert_id: uuid.UUID, body: AlertSilenceIn, state: State, user: ActingUser, request: Request
) -> dict[str, Any]:
    alert = await _visible(state, user, alert_id)
    check_unit(user, alert.unit_code)
    payload = {
        "indicator": alert.indicator,
        "unit_code": alert.unit_code,
        "ends_at": (utc_now() + timedelta(minutes=body.minutes)).isoformat(),
        "reason": body.reason,
    }
    result = await state.alerts_api.create_silence(payload, actor=user, origin=request)
    await _audit(
        state,
        user,
        "silence.create",
        str(result.id),
        {"alert_id": str(alert_id), **payload},
    )
    return result.model_dump(mode="json")
