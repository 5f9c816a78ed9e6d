"""Silences: while one matches an alert, its notifications are not sent (the alert itself
still changes and is published)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query

from ioc_alerts import lifecycle
from ioc_alerts import tables as t
from ioc_alerts.api.deps import Actor, Limit, Offset, Session, State, audited, insert_audited
from ioc_alerts.api.queries import fetch_by_id, page_of
from ioc_alerts.api.schemas import SilenceIn
from ioc_common.contracts.alerts import Page, SilenceOut
from ioc_common.errors import NotFound
from ioc_common.web import error_responses

router = APIRouter(
    prefix="/v1/silences",
    tags=["silences"],
    responses=error_responses(401, 404, 422),
)


def _no_such_silence() -> NotFound:
    return NotFound("Không tìm thấy im lặng", "No such silence")


def _out(row: Any, now: datetime) -> dict[str, Any]:
    return dict(row) | {"active": row["starts_at"] <= now < row["ends_at"]}


@router.get("", summary="Danh sách im lặng / List silences", response_model=Page[SilenceOut])
async def list_silences(
    session: Session,
    state: State,
    active: Annotated[bool | None, Query(description="chỉ đang hiệu lực / only active")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    now = state.clock()
    s = t.silences
    where: list[Any] = []
    if active is True:
        where += [s.c.starts_at <= now, s.c.ends_at > now]
    elif active is False:
        where.append(sa.or_(s.c.starts_at > now, s.c.ends_at <= now))
    return await page_of(
        session,
        s,
        where=where,
        order_by=[s.c.created_at.desc()],
        limit=limit,
        offset=offset,
        out=lambda r: _out(r, now),
    )


@router.post(
    "", status_code=201, summary="Tạo im lặng / Create a silence", response_model=SilenceOut
)
async def create_silence(
    body: SilenceIn, session: Session, actor: Actor, state: State
) -> dict[str, Any]:
    now = state.clock()
    row = {
        "id": uuid.uuid4(),
        "indicator": body.indicator,
        "unit_code": body.unit_code,
        "pillar": body.pillar.value if body.pillar else None,
        "severity": body.severity.value if body.severity else None,
        "starts_at": body.starts_at or now,
        "ends_at": body.ends_at,
        "created_by": actor.actor,
        "reason": body.reason,
        "created_at": now,
    }
    detail = {k: str(v) for k, v in row.items() if k != "id"}
    await insert_audited(session, actor, t.silences, row, "silence.create", detail)
    await lifecycle.record_silence(session, row, actor.actor, now)
    return _out(row, now)


@router.get("/{silence_id}", summary="Một im lặng / One silence", response_model=SilenceOut)
async def get_silence(silence_id: uuid.UUID, session: Session, state: State) -> dict[str, Any]:
    row = await fetch_by_id(session, t.silences, silence_id, _no_such_silence())
    return _out(row, state.clock())


@router.delete(
    "/{silence_id}",
    summary="Kết thúc im lặng ngay / Expire a silence now",
    response_model=SilenceOut,
)
async def expire_silence(
    silence_id: uuid.UUID, session: Session, actor: Actor, state: State
) -> dict[str, Any]:
    now = state.clock()
    row = (
        (
            await session.execute(
                sa.update(t.silences)
                .where(t.silences.c.id == silence_id)
                .values(ends_at=sa.func.least(t.silences.c.ends_at, now))
                .returning(*t.silences.c)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise _no_such_silence()
    await audited(session, actor, action="silence.expire", target=str(silence_id))
    return _out(row, now)
