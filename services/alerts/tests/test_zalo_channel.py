"""Zalo OA against a local stand-in following its documented endpoints and error codes: the
message arrives; an expired access token is refreshed (the rotated refresh token kept) and the
message retried; a user who does not follow the OA makes the delivery dead; a quota error is
retried later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from ioc_alerts import tables as t
from ioc_alerts.testing import (
    Harness,
    ZaloStandIn,
    dossiers,
    targeted_harness,
)

pytestmark = pytest.mark.connected


@pytest.fixture
async def zalo() -> AsyncIterator[ZaloStandIn]:
    stand_in = ZaloStandIn(app_id="4242", secret_key="app-secret", refresh_token="refresh-0")
    stand_in.followers = {"u-chairman"}
    await stand_in.server.start()
    yield stand_in
    await stand_in.server.stop()


@pytest.fixture
async def zh(fresh_database_url: str, zalo: ZaloStandIn) -> AsyncIterator[Harness]:
    async with targeted_harness(
        fresh_database_url,
        zalo_oauth_url=zalo.url,
        zalo_openapi_url=zalo.url,
        zalo_app_id="4242",
        zalo_secret_key="app-secret",
        zalo_refresh_token="refresh-0",
        zalo_access_token="expired-token",
    ) as h:
        yield h


async def add_zalo(h: Harness, user_id: str, unit: str) -> None:
    response = await h.client.post(
        "/v1/recipients",
        json={
            "name": f"Zalo {user_id}",
            "units": [unit],
            "channels": [{"channel": "zalo", "user_id": user_id}],
        },
    )
    assert response.status_code == 201, response.text


async def alert_by_zalo(h: Harness, user_id: str, unit: str) -> dict[str, Any]:
    """A Zalo recipient for ``unit``, a critical alert there, one delivery run: its outbox row."""
    await add_zalo(h, user_id, unit)
    await h.feed(dossiers(h, unit, 60.0))
    await h.deliver()
    (row,) = await h.rows(sa.select(t.outbox))
    return row


async def test_an_expired_token_is_refreshed_and_the_message_retried(
    zh: Harness, zalo: ZaloStandIn
) -> None:
    row = await alert_by_zalo(zh, "u-chairman", "071")
    assert zalo.rejected_tokens == ["expired-token"]
    assert zalo.refreshes == 1
    (message,) = zalo.messages
    assert message["recipient"] == {"user_id": "u-chairman"}
    assert "Lâm Bình" in message["message"]["text"]
    assert (row["status"], row["attempts"]) == ("sent", 1)
    (tokens,) = await zh.rows(sa.select(t.zalo_tokens))
    assert tokens["refresh_token"] == "refresh-1"  # the rotated one is kept for next time

    # The next message uses the stored token: no further refresh.
    await zh.feed(dossiers(zh, "071", 80.0, version=2))
    await zh.deliver()
    assert zalo.refreshes == 1
    assert len(zalo.messages) == 2
    assert zalo.messages[1]["message"]["text"].startswith("[IOC] Đã khắc phục")


async def test_a_user_who_does_not_follow_the_oa_makes_the_delivery_dead(
    zh: Harness, zalo: ZaloStandIn
) -> None:
    row = await alert_by_zalo(zh, "u-stranger", "072")
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert row["last_error"].startswith("zalo -213")
    assert zalo.messages == []


async def test_a_quota_error_is_retried_later(zh: Harness, zalo: ZaloStandIn) -> None:
    zalo.quota_left = 0
    row = await alert_by_zalo(zh, "u-chairman", "073")
    assert row["status"] == "pending"
    assert row["last_error"].startswith("zalo -32")
    assert (row["next_attempt_at"] - zh.clock()).total_seconds() >= 60  # quota: a minute at least
    zalo.quota_left = 5
    zh.clock.advance(seconds=61)
    await zh.deliver()
    (row,) = await zh.rows(sa.select(t.outbox))
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len(zalo.messages) == 1
