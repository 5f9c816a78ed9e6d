"""Targets: the shipped provinces' targets (seeded) and those admins add; validated on write.
Deleting disables a target (its history stays; a seeded one is not re-seeded)."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ioc_alerts import tables as t
from ioc_alerts.api.deps import (
    CODE_PATTERN,
    Actor,
    Limit,
    Offset,
    Session,
    State,
    TargetId,
    audited,
)
from ioc_alerts.api.queries import fetch_by_id, page_of
from ioc_alerts.targets import TargetSpec
from ioc_common.contracts.alerts import Page, TargetOut
from ioc_common.errors import Conflict, FieldError, InvalidInput, NotFound
from ioc_common.web import error_responses

router = APIRouter(
    prefix="/v1/targets",
    tags=["targets"],
    responses=error_responses(401, 404, 409, 422),
)


@router.get("", summary="Danh sách chỉ tiêu / List targets", response_model=Page[TargetOut])
async def list_targets(
    session: Session,
    indicator: Annotated[str | None, Query(max_length=64, pattern=CODE_PATTERN)] = None,
    enabled: Annotated[bool | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    where: list[Any] = []
    if indicator is not None:
        where.append(t.targets.c.indicator == indicator)
    if enabled is not None:
        where.append(t.targets.c.enabled == enabled)
    return await page_of(
        session, t.targets, where=where, order_by=[t.targets.c.id], limit=limit, offset=offset
    )


async def _get(session: Any, target_id: str) -> dict[str, Any]:
    missing = NotFound("Không tìm thấy chỉ tiêu", "No such target")
    return dict(await fetch_by_id(session, t.targets, target_id, missing))


@router.get("/{target_id}", summary="Một chỉ tiêu / One target", response_model=TargetOut)
async def get_target(target_id: TargetId, session: Session) -> dict[str, Any]:
    return await _get(session, target_id)


@router.post("", status_code=201, summary="Thêm chỉ tiêu / Add a target", response_model=TargetOut)
async def create_target(
    body: TargetSpec, session: Session, actor: Actor, state: State
) -> dict[str, Any]:
    now = state.clock()
    result = await session.execute(
        pg_insert(t.targets)
        .values(
            id=body.id,
            indicator=body.indicator,
            definition=body.model_dump(mode="json"),
            origin="api",
            enabled=True,
            created_at=now,
            updated_at=now,
            version=1,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise Conflict("Mã chỉ tiêu đã tồn tại", f"A target with id {body.id!r} already exists")
    await audited(
        session,
        actor,
        action="target.create",
        target=body.id,
        detail=body.model_dump(mode="json"),
    )
    return await _get(session, body.id)


@router.put("/{target_id}", summary="Sửa chỉ tiêu / Replace a target", response_model=TargetOut)
async def replace_target(
    target_id: TargetId, body: TargetSpec, session: Session, actor: Actor, state: State
) -> dict[str, Any]:
    if body.id != target_id:
        raise InvalidInput(
            "Mã chỉ tiêu trong nội dung khác đường dẫn",
            "The body's id differs from the path's",
            [FieldError("id", "must equal the id in the path")],
        )
    current = await _get(session, target_id)
    await session.execute(
        sa.update(t.targets)
        .where(t.targets.c.id == target_id)
        .values(
            indicator=body.indicator,
            definition=body.model_dump(mode="json"),
            enabled=True,
            updated_at=state.clock(),
            version=current["version"] + 1,
        )
    )
    await audited(
        session,
        actor,
        action="target.update",
        target=target_id,
        detail=body.model_dump(mode="json"),
    )
    return await _get(session, target_id)


@router.delete("/{target_id}", summary="Tắt chỉ tiêu / Disable a target", response_model=TargetOut)
async def disable_target(
    target_id: TargetId, session: Session, actor: Actor, state: State
) -> dict[str, Any]:
    current = await _get(session, target_id)
    await session.execute(
        sa.update(t.targets)
        .where(t.targets.c.id == target_id)
        .values(enabled=False, updated_at=state.clock(), version=current["version"] + 1)
    )
    await audited(session, actor, action="target.disable", target=target_id)
    return await _get(session, target_id)
