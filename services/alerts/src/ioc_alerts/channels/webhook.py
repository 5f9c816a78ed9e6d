"""A generic webhook signed as Standard Webhooks does: ``webhook-id`` (the idempotency key),
``webhook-timestamp`` (unix seconds) and ``webhook-signature`` = ``v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`` keyed with the secret ``whsec_<base64>``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

import httpx

from ioc_alerts.channels import EXCERPT_READ_BYTES, TRUNCATED, Outcome, SendResult
from ioc_alerts.ssrf import IPNetwork, PinnedRequest, UnsafeTarget, check_webhook_url, pinned

SECRET_PREFIX = "whsec_"  # noqa: S105 — a prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, *, tolerance_s: int = 300) -> bool:
    """What a receiver does: the timestamp is recent and one of the signatures matches."""
    try:
        msg_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        given = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    expected = sign(secret, msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, g) for g in given)


def body_of(idempotency_key: str, payload: dict[str, Any]) -> bytes:
    document = {
        "type": "ioc.alerts.notification",
        "timestamp": payload.get("created_at"),
        "data": {
            "idempotency_key": idempotency_key,
            "recipient": payload.get("recipient"),
            "subject_vi": payload["subject_vi"],
            "subject_en": payload["subject_en"],
            "alerts": payload["items"],
        },
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


class WebhookChannel:
    def __init__(
        self, client: httpx.AsyncClient, allowed: Sequence[IPNetwork], timeout_s: float
    ) -> None:
        self.client = client
        self.allowed = allowed
        self.timeout_s = timeout_s

    async def send(
        self, idempotency_key: str, address: dict[str, Any], payload: dict[str, Any]
    ) -> SendResult:
        url = address["url"]
        try:
            # Checked again at send time: a name may resolve elsewhere than when it was saved;
            # and the request goes to an address checked now, not to a fresh resolution.
            addresses = await check_webhook_url(url, self.allowed)
        except UnsafeTarget as err:
            return SendResult(Outcome.DEAD, f"refused target: {err}")
        body = body_of(idempotency_key, payload)
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json; charset=utf-8",
            "webhook-id": idempotency_key,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(address["secret"], idempotency_key, timestamp, body),
            "user-agent": "ioc-alerts/1",
            # Only the start of an error answer is read, as sent (no decompression).
            "accept-encoding": "identity",
        }
        for index, checked in enumerate(addresses):
            try:
                return await self._post(pinned(url, checked), body, headers)
            except httpx.ConnectError as err:
                if index + 1 < len(addresses):
                    continue  # the name's next address, as a resolver-following client would
                return SendResult(Outcome.RETRY, f"{type(err).__name__}: {err}")
            except httpx.HTTPError as err:
                return SendResult(Outcome.RETRY, f"{type(err).__name__}: {err}")
        raise AssertionError("check_webhook_url returns at least one address")

    async def _post(
        self, target: PinnedRequest, body: bytes, headers: dict[str, str]
    ) -> SendResult:
        async with self.client.stream(
            "POST",
            target.url,
            content=body,
            headers=headers | target.headers,
            extensions=target.extensions,
            timeout=self.timeout_s,
        ) as response:
            status = response.status_code
            if 200 <= status < 300:
                return SendResult(Outcome.SENT)
            error = f"HTTP {status}: {await _head(response)}"
        if status in (408, 409, 425, 429) or status >= 500:
            return SendResult(Outcome.RETRY, error, _retry_after(response))
        # Other 4xx (and redirects, which are not followed) will not change by retrying.
        return SendResult(Outcome.DEAD, error)


async def _head(response: httpx.Response) -> str:
    """The start of a receiver's answer (never more than ``EXCERPT_READ_BYTES`` are read);
    the dispatcher keeps only an :func:`~ioc_alerts.channels.excerpt` of it."""
    head = b""
    async for chunk in response.aiter_raw():
        head += chunk
        if len(head) >= EXCERPT_READ_BYTES:
            break
    head, cut = head[:EXCERPT_READ_BYTES], len(head) >= EXCERPT_READ_BYTES
    try:
        text = head.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        text = head.decode("utf-8", errors="replace")
    return text + (TRUNCATED if cut else "")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
