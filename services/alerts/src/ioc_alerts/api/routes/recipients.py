"""Recipients: who is told, through which channels, of which units, pillars and severities.
Webhook URLs are refused when they point at loopback or private networks (unless allowed by
``IOC_ALERTS_WEBHOOK_ALLOW_NETWORKS``); a webhook secret is shown once, when created."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter

from ioc_alerts import tables as t
from ioc_alerts.api.deps import Actor, Limit, Offset, Session, State, audited, insert_audited
from ioc_alerts.api.queries import fetch_by_id, page_of
from ioc_alerts.api.schemas import RecipientIn, RecipientOut
from ioc_alerts.channels.webhook import new_secret
from ioc_alerts.ssrf import UnsafeTarget, check_webhook_url
from ioc_common.contracts.alerts import Page
from ioc_common.errors import FieldError, InvalidInput, NotFound
from ioc_common.web import error_responses

router = APIRouter(
    prefix="/v1/recipients",
    tags=["recipients"],
    responses=error_responses(401, 404, 422),
)


def _masked(row: Any) -> dict[str, Any]:
    channels = [
        {k: ("whsec_…" if k == "secret" else v) for k, v in c.items()} for c in row["channels"]
    ]
    return dict(row) | {"channels": channels}


async def _channels(
    body: RecipientIn, state: State, keep: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for index, channel in enumerate(body.channels):
        data = channel.model_dump(exclude_none=True)
        if data["channel"] == "webhook":
            try:
                await check_webhook_url(data["url"], state.allowed_networks)
            except UnsafeTarget as err:
                raise InvalidInput(
                    "Địa chỉ webhook không được phép (mạng nội bộ hoặc loopback)",
                    "Webhook target refused (loopback or private network)",
                    [FieldError(f"channels.{index}.url", str(err))],
                ) from None
            if "secret" not in data:
                # Keep the secret of the same URL on update; otherwise make one.
                old = next((c for c in keep if c.get("url") == data["url"] and "secret" in c), None)
                data["secret"] = old["secret"] if old else new_secret()
        out.append(data)
    return out


@router.get("", summary="Danh sách người nhận / List recipients", response_model=Page[RecipientOut])
async def list_recipients(
    session: Session,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    return await page_of(
        session,
        t.recipients,
        order_by=[t.recipients.c.name, t.recipients.c.id],
        limit=limit,
        offset=offset,
        out=_masked,
    )


@router.post(
    "",
    status_code=201,
    summary="Thêm người nhận / Add a recipient (webhook secrets shown once)",
    response_model=RecipientOut,
)
async def create_recipient(
    body: RecipientIn, session: Session, actor: Actor, state: State
) -> dict[str, Any]:
    now = state.clock()
    row = {
        "id": uuid.uuid4(),
        "name": body.name,
        "units": list(body.units),
        "pillars": [p.value for p in body.pillars],
        "min_severity": body.min_severity.value,
        "channels": await _channels(body, state, []),
        "enabled": body.enabled,
        "created_at": now,
        "updated_at": now,
    }
    detail = _masked(row) | {
        "id": str(row["id"]),
        "created_at": now.isoformat(),
        "updated_at": now.isoformat(),
    }
    await insert_audited(session, actor, t.recipients, row, "recipient.create", detail)
    return row


async def _get(session: Any, recipient_id: uuid.UUID) -> dict[str, Any]:
    missing = NotFound("Không tìm thấy người nhận", "No such recipient")
    return dict(await fetch_by_id(session, t.recipients, recipient_id, missing))


@router.get(
    "/{recipient_id}", summary="Một người nhận / One recipient", response_model=RecipientOut
)
async def get_recipient(recipient_id: uuid.UUID, session: Session) -> dict[str, Any]:
    return _masked(await _get(session, recipient_id))


@router.put(
    "/{recipient_id}", summary="Sửa người nhận / Replace a recipient", response_model=RecipientOut
)
async def replace_recipient(
    recipient_id: uuid.UUID, body: RecipientIn, session: Session, actor: Actor, state: State
) -> dict[str, Any]:
    current = await _get(session, recipient_id)
    values = {
        "name": body.name,
        "units": list(body.units),
        "pillars": [p.value for p in body.pillars],
        "min_severity": body.min_severity.value,
        "channels": await _channels(body, state, current["channels"]),
        "enabled": body.enabled,
        "updated_at": state.clock(),
    }
    await session.execute(
        sa.update(t.recipients).where(t.recipients.c.id == recipient_id).values(**values)
    )
    await audited(session, actor, action="recipient.update", target=str(recipient_id))
    return _masked(await _get(session, recipient_id))


@router.delete("/{recipient_id}", status_code=204, summary="Xoá người nhận / Delete a recipient")
async def delete_recipient(recipient_id: uuid.UUID, session: Session, actor: Actor) -> None:
    result = await session.execute(sa.delete(t.recipients).where(t.recipients.c.id == recipient_id))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound("Không tìm thấy người nhận", "No such recipient")
    await audited(session, actor, action="recipient.delete", target=str(recipient_id))
