"""Zalo Official Account (API v3): an OA customer-service text message to a follower
(``user_id``), or a ZNS template message to a phone number (``phone`` + ``template_id``).

The access token lives about 25 hours and is refreshed with the refresh token (which Zalo
rotates on every refresh, so both are kept in ``alerts_zalo_tokens``). Error codes handled:

* -216, -124, -201 — invalid or expired access token: refresh, then retry once;
* -213 — the user does not follow the OA (and -207 invalid user id, -108 invalid phone,
  -109 invalid template, -203/-204 invalid request): permanent, the delivery goes dead;
* -32 — rate limit or quota exceeded: retry later (back-off, at least a minute);
* any other non-zero code: retry later.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_alerts import tables as t
from ioc_alerts.channels import Outcome, SendResult
from ioc_alerts.config import AlertsSettings
from ioc_common.db import transaction
from ioc_common.logs import get_logger
from ioc_common.timeutil import utc_now

log = get_logger("ioc.alerts.zalo")

TOKEN_ERRORS = frozenset({-216, -124, -201})
PERMANENT_ERRORS = frozenset({-213, -207, -203, -204, -108, -109})
QUOTA_ERRORS = frozenset({-32})
QUOTA_RETRY_S = 60.0


class TokenRefreshFailed(Exception):
    pass


class ZaloChannel:
    def __init__(
        self,
        settings: AlertsSettings,
        client: httpx.AsyncClient,
        sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        self.settings = settings
        self.client = client
        self.sessions = sessions
        self._lock = asyncio.Lock()

    # --- tokens

    async def _stored(self) -> tuple[str | None, str | None, datetime | None]:
        async with self.sessions() as session:
            row = (
                (await session.execute(sa.select(t.zalo_tokens).where(t.zalo_tokens.c.id == 1)))
                .mappings()
                .first()
            )
        if row is None:
            return self.settings.zalo_access_token, self.settings.zalo_refresh_token, None
        return row["access_token"], row["refresh_token"], row["expires_at"]

    async def access_token(self) -> str:
        token, _, expires_at = await self._stored()
        if token and (expires_at is None or expires_at > utc_now() + timedelta(minutes=5)):
            return token
        return await self.refresh(stale=token)

    async def refresh(self, *, stale: str | None) -> str:
        """Exchange the refresh token for a new pair, once even if several sends ask."""
        async with self._lock:
            token, refresh_token, _ = await self._stored()
            if token and token != stale:
                return token  # another send refreshed it meanwhile
            if not (refresh_token and self.settings.zalo_app_id and self.settings.zalo_secret_key):
                raise TokenRefreshFailed("no Zalo refresh token / app id / secret key configured")
            url = self.settings.zalo_oauth_url.rstrip("/") + "/v4/oa/access_token"
            response = await self.client.post(
                url,
                headers={"secret_key": self.settings.zalo_secret_key},
                data={
                    "refresh_token": refresh_token,
                    "app_id": self.settings.zalo_app_id,
                    "grant_type": "refresh_token",
                },
                timeout=self.settings.send_timeout_s,
            )
            body = _json(response)
            if "access_token" not in body:
                raise TokenRefreshFailed(
                    f"refresh refused: {body.get('error')} {body.get('error_description', '')}"
                )
            expires_in = float(body.get("expires_in", 90000))
            now = utc_now()
            values = {
                "access_token": body["access_token"],
                "refresh_token": body.get("refresh_token", refresh_token),
                "expires_at": now + timedelta(seconds=expires_in),
                "updated_at": now,
            }
            async with transaction(self.sessions) as session:
                await session.execute(
                    pg_insert(t.zalo_tokens)
                    .values(id=1, **values)
                    .on_conflict_do_update(index_elements=["id"], set_=values)
                )
            log.info("alerts.zalo_token_refreshed", expires_in=expires_in)
            return str(body["access_token"])

    # --- sending

    async def _post(
        self, token: str, address: dict[str, Any], payload: dict[str, Any], key: str
    ) -> dict[str, Any]:
        if address.get("user_id"):
            url = self.settings.zalo_openapi_url.rstrip("/") + "/v3.0/oa/message/cs"
            body: dict[str, Any] = {
                "recipient": {"user_id": address["user_id"]},
                "message": {"text": payload["zalo_text"]},
            }
        else:
            url = self.settings.zalo_zns_url.rstrip("/") + "/message/template"
            body = {
                "phone": address["phone"],
                "template_id": address["template_id"],
                "template_data": {
                    "title": payload["subject_vi"][:100],
                    "count": str(len(payload["items"])),
                },
                "tracking_id": key,
            }
        response = await self.client.post(
            url,
            headers={"access_token": token},
            json=body,
            timeout=self.settings.send_timeout_s,
        )
        if response.status_code >= 500:
            return {"error": -1, "message": f"HTTP {response.status_code}"}
        return _json(response)

    async def send(
        self, idempotency_key: str, address: dict[str, Any], payload: dict[str, Any]
    ) -> SendResult:
        try:
            token = await self.access_token()
            result = await self._post(token, address, payload, idempotency_key)
            code = int(result.get("error", -1))
            if code in TOKEN_ERRORS:
                token = await self.refresh(stale=token)
                result = await self._post(token, address, payload, idempotency_key)
                code = int(result.get("error", -1))
        except TokenRefreshFailed as err:
            return SendResult(Outcome.RETRY, f"zalo token: {err}")
        except httpx.HTTPError as err:
            return SendResult(Outcome.RETRY, f"{type(err).__name__}: {err}")
        if code == 0:
            return SendResult(Outcome.SENT)
        error = f"zalo {code}: {result.get('message', '')}"
        if code in PERMANENT_ERRORS:
            return SendResult(Outcome.DEAD, error)
        if code in QUOTA_ERRORS:
            return SendResult(Outcome.RETRY, error, QUOTA_RETRY_S)
        return SendResult(Outcome.RETRY, error)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"error": -1, "message": f"HTTP {response.status_code}: not JSON"}
    return body if isinstance(body, dict) else {"error": -1, "message": "unexpected body"}
