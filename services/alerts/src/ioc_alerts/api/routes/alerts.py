"""Alerts: list and filter, one alert with its history, acknowledge, resolve."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ioc_alerts import lifecycle
from ioc_alerts import tables as t
from ioc_alerts.api.deps import CODE_PATTERN, Actor, Limit, Offset, Session, State, audited
from ioc_alerts.api.queries import fetch_with_children, page_of
from ioc_alerts.api.schemas import AcknowledgeIn, ResolveIn
from ioc_common.catalogue import Pillar
from ioc_common.contracts.alerts import AlertDetailOut, AlertOut, HistoryOut, Page
from ioc_common.errors import NotFound
from ioc_common.events import AlertSeverity, AlertState
from ioc_common.web import error_responses

router = APIRouter(
    prefix="/v1/alerts",
    tags=["alerts"],
    responses=error_responses(401, 404, 409, 422),
)


@router.get("", summary="Danh sách cảnh báo / List alerts", response_model=Page[AlertOut])
async def list_alerts(
    session: Session,
    state: Annotated[list[AlertState] | None, Query(description="trạng thái / state")] = None,
    severity: Annotated[AlertSeverity | None, Query(description="mức độ / severity")] = None,
    indicator: Annotated[str | None, Query(max_length=64, pattern=CODE_PATTERN)] = None,
    unit: Annotated[str | None, Query(pattern=r"^(\d{2}|\d{3}|\d{5})$")] = None,
    pillar: Annotated[Pillar | None, Query()] = None,
    rule: Annotated[str | None, Query(max_length=32, pattern=CODE_PATTERN)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    a = t.alerts
    where: list[Any] = []
    if state:
        where.append(a.c.state.in_([s.value for s in state]))
    if severity is not None:
        where.append(a.c.severity == severity.value)
    if indicator is not None:
        where.append(a.c.indicator == indicator)
    if unit is not None:
        where.append(a.c.unit_code == unit)
    if pillar is not None:
        where.append(a.c.pillar == pillar.value)
    if rule is not None:
        where.append(a.c.rule == rule)
    return await page_of(
        session,
        a,
        where=where,
        order_by=[a.c.updated_at.desc(), a.c.id],
        limit=limit,
        offset=offset,
    )


async def _detail(session: Any, alert_id: uuid.UUID) -> dict[str, Any]:
    missing = NotFound("Không tìm thấy cảnh báo", "No such alert")
    row, history = await fetch_with_children(
        session, t.alerts, alert_id, missing, t.history.c.alert_id, t.history.c.id
    )
    return dict(row) | {"history": [HistoryOut.model_validate(dict(h)) for h in history]}


async def _noted(
    session: Any, actor: Actor, action: str, alert_id: uuid.UUID, note: str | None
) -> dict[str, Any]:
    """Audits an operator's ``action`` on an alert, with their note, and answers its detail."""
    await audited(session, actor, action=action, target=str(alert_id), detail={"note": note})
    return await _detail(session, alert_id)


@router.get(
    "/{alert_id}",
    summary="Một cảnh báo và lịch sử / One alert with its history",
    response_model=AlertDetailOut,
)
async def get_alert(alert_id: uuid.UUID, session: Session) -> dict[str, Any]:
    return await _detail(session, alert_id)


@router.post(
    "/{alert_id}/acknowledge",
    summary="Xác nhận đã biết / Acknowledge (operator, with a note)",
    response_model=AlertDetailOut,
)
async def acknowledge(
    alert_id: uuid.UUID, body: AcknowledgeIn, session: Session, actor: Actor, state: State
) -> dict[str, Any]:
    await lifecycle.acknowledge(session, alert_id, actor.actor, body.note, state.clock())
    return await _noted(session, actor, "alert.acknowledge", alert_id, body.note)


@router.post(
    "/{alert_id}/resolve",
    summary="Đóng cảnh báo thủ công / Resolve by hand",
    response_model=AlertDetailOut,
)
async def resolve(
    alert_id: uuid.UUID, body: ResolveIn, session: Session, actor: Actor, state: State
) -> dict[str, Any]:
    await lifecycle.resolve_by_hand(session, alert_id, actor.actor, body.note, state.clock())
    return await _noted(session, actor, "alert.resolve", alert_id, body.note)
