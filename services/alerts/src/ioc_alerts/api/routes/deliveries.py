"""Deliveries: each notification sent (or being retried, or dead) with its attempts; dead
deliveries can be retried by an operator."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query

from ioc_alerts import tables as t
from ioc_alerts.api.deps import Actor, Limit, Offset, Session, State, audited
from ioc_alerts.api.queries import fetch_with_children, page_of
from ioc_alerts.api.schemas import AttemptOut, DeliveryDetailOut, DeliveryOut
from ioc_common.contracts.alerts import Page
from ioc_common.errors import Conflict, NotFound
from ioc_common.web import error_responses

router = APIRouter(
    prefix="/v1/deliveries",
    tags=["deliveries"],
    responses=error_responses(401, 404, 409, 422),
)


def _out(row: Any) -> dict[str, Any]:
    return dict(row) | {"subject_vi": row["payload"].get("subject_vi", "")}


async def _page(session: Any, where: list[Any], limit: int, offset: int) -> dict[str, Any]:
    o = t.outbox
    return await page_of(
        session,
        o,
        where=where,
        order_by=[o.c.created_at.desc(), o.c.id],
        limit=limit,
        offset=offset,
        out=_out,
    )


@router.get(
    "", summary="Danh sách gửi thông báo / List deliveries", response_model=Page[DeliveryOut]
)
async def list_deliveries(
    session: Session,
    status: Annotated[str | None, Query(pattern="^(pending|sent|dead)$")] = None,
    channel: Annotated[str | None, Query(pattern="^(email|zalo|webhook)$")] = None,
    recipient_id: uuid.UUID | None = None,
    alert_id: uuid.UUID | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    o = t.outbox
    where: list[Any] = []
    if status is not None:
        where.append(o.c.status == status)
    if channel is not None:
        where.append(o.c.channel == channel)
    if recipient_id is not None:
        where.append(o.c.recipient_id == recipient_id)
    if alert_id is not None:
        where.append(sa.literal(alert_id, sa.Uuid) == sa.any_(o.c.alert_ids))
    return await _page(session, where, limit, offset)


@router.get(
    "/dead", summary="Thông báo gửi thất bại / Dead deliveries", response_model=Page[DeliveryOut]
)
async def list_dead(
    session: Session,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    return await _page(session, [t.outbox.c.status == "dead"], limit, offset)


async def _detail(session: Any, delivery_id: uuid.UUID) -> dict[str, Any]:
    a = t.delivery_attempts
    missing = NotFound("Không tìm thấy lần gửi", "No such delivery")
    row, attempts = await fetch_with_children(
        session, t.outbox, delivery_id, missing, a.c.outbox_id, a.c.attempt
    )
    return _out(row) | {"attempts_log": [AttemptOut.model_validate(dict(a)) for a in attempts]}


@router.get(
    "/{delivery_id}",
    summary="Một lần gửi và các lần thử / One delivery with its attempts",
    response_model=DeliveryDetailOut,
)
async def get_delivery(delivery_id: uuid.UUID, session: Session) -> dict[str, Any]:
    return await _detail(session, delivery_id)


@router.post(
    "/{delivery_id}/retry",
    summary="Gửi lại thông báo thất bại / Retry a dead delivery",
    response_model=DeliveryDetailOut,
)
async def retry_delivery(
    delivery_id: uuid.UUID, session: Session, actor: Actor, state: State
) -> dict[str, Any]:
    row = (
        await session.execute(
            sa.update(t.outbox)
            .where(t.outbox.c.id == delivery_id, t.outbox.c.status == "dead")
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=state.clock(),
                updated_at=state.clock(),
            )
            .returning(t.outbox.c.id)
        )
    ).first()
    if row is None:
        await _detail(session, delivery_id)  # 404 when absent
        raise Conflict("Chỉ gửi lại được thông báo thất bại", "Only a dead delivery can be retried")
    await audited(session, actor, action="delivery.retry", target=str(delivery_id))
    return await _detail(session, delivery_id)
