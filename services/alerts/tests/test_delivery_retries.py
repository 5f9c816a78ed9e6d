"""Delivering through the outbox: a webhook receiver that is down for a while gets every
notification exactly once per idempotency key when it comes back; a delivery that keeps
failing goes dead, is listed, and an operator's retry sends it; SSRF refusal on save."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from ioc_alerts import tables as t
from ioc_alerts.channels import EXCERPT_CHARS, TRUNCATED
from ioc_alerts.testing import (
    Harness,
    MailSink,
    WebhookReceiver,
    alerts_harness,
    dossiers,
    targeted_harness,
)

pytestmark = pytest.mark.connected


async def add_webhook(h: Harness, url: str, secret: str) -> dict[str, Any]:
    response = await h.client.post(
        "/v1/recipients",
        json={
            "name": "Hệ thống điều hành huyện",
            "units": ["08"],
            "channels": [{"channel": "webhook", "url": url, "secret": secret}],
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def drain(h: Harness, rounds: int) -> None:
    for _ in range(rounds):
        h.clock.advance(seconds=1)  # past any back-off (capped at 0.2 s in these tests)
        await h.deliver()


async def test_a_receiver_down_for_a_while_gets_each_notification_once(
    harness: Harness,
) -> None:
    h = harness
    receiver = WebhookReceiver("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")
    await add_webhook(h, receiver.url, receiver.secret)  # not started: connection refused
    await h.feed(dossiers(h, "071", 60.0), dossiers(h, "072", 60.0))
    await h.deliver()
    await h.feed(dossiers(h, "071", 80.0, version=2))  # resolved while the receiver is down
    await drain(h, 3)
    rows = await h.rows(sa.select(t.outbox))
    assert len(rows) == 2
    assert {r["status"] for r in rows} == {"pending"}
    assert all(r["attempts"] >= 2 for r in rows)
    assert all("ConnectError" in (r["last_error"] or "") for r in rows)

    await receiver.server.start()
    try:
        await drain(h, 3)
    finally:
        await receiver.server.stop()
    rows = await h.rows(sa.select(t.outbox))
    assert {r["status"] for r in rows} == {"sent"}
    assert sorted(x.webhook_id for x in receiver.hooks) == sorted(
        r["idempotency_key"] for r in rows
    )
    assert receiver.duplicates == []
    changes = [a["change"] for hook in receiver.hooks for a in hook.body["data"]["alerts"]]
    assert sorted(changes) == ["firing", "firing", "resolved"]


async def test_a_failing_delivery_goes_dead_and_an_operator_retries_it(
    fresh_database_url: str, mail_sink: MailSink
) -> None:
    async with targeted_harness(fresh_database_url, smtp_port=mail_sink.port, max_attempts=3) as h:
        receiver = WebhookReceiver("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")
        receiver.fail_with = 503
        await receiver.server.start()
        try:
            await add_webhook(h, receiver.url, receiver.secret)
            await h.feed(dossiers(h, "073", 60.0))
            await drain(h, 5)
            dead = (await h.client.get("/v1/deliveries/dead")).json()
            assert dead["total"] == 1
            delivery = dead["items"][0]
            assert delivery["attempts"] == 3
            assert "HTTP 503" in delivery["last_error"]
            detail = (await h.client.get(f"/v1/deliveries/{delivery['id']}")).json()
            assert [a["outcome"] for a in detail["attempts_log"]] == ["retry", "retry", "dead"]

            receiver.fail_with = None
            retried = await h.client.post(f"/v1/deliveries/{delivery['id']}/retry")
            assert retried.status_code == 200
            assert retried.json()["status"] == "pending"
            again = await h.client.post(f"/v1/deliveries/{delivery['id']}/retry")
            assert again.status_code == 409
            await h.deliver()
        finally:
            await receiver.server.stop()
        detail = (await h.client.get(f"/v1/deliveries/{delivery['id']}")).json()
        assert detail["status"] == "sent"
        assert [a["outcome"] for a in detail["attempts_log"]] == ["retry", "retry", "dead", "sent"]
        assert [x.webhook_id for x in receiver.hooks] == [delivery["idempotency_key"]]
        metrics = (await h.client.get("/metrics")).text
        assert 'ioc_alerts_deliveries_total{channel="webhook",outcome="dead"} 1.0' in metrics


async def test_webhook_targets_in_private_networks_are_refused_with_default_settings(
    fresh_database_url: str,
) -> None:
    async with alerts_harness(
        fresh_database_url, seed_targets=False, webhook_allow_networks=[]
    ) as h:
        response = await h.client.post(
            "/v1/recipients",
            json={
                "name": "x",
                "channels": [{"channel": "webhook", "url": "http://127.0.0.1:9/hook"}],
            },
        )
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["details"][0]["field"] == "channels.0.url"
        assert "not a public address" in error["details"][0]["reason"]
        assert (await h.client.get("/v1/recipients")).json()["total"] == 0


async def test_a_failing_receiver_s_answer_is_kept_only_as_a_short_clean_excerpt(
    harness: Harness,
) -> None:
    h = harness
    receiver = WebhookReceiver("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")
    receiver.fail_with = 500
    head = "<h1>Lỗi máy chủ</h1>\r\n\x1b[31mstack\x00trace\u202e"
    secret = "SECRET-PAST-THE-EXCERPT"
    receiver.fail_body = (head + "x" * 400 + secret + "Z" * 200_000).encode()
    await receiver.server.start()
    try:
        await add_webhook(h, receiver.url, receiver.secret)
        await h.feed(dossiers(h, "071", 60.0))
        await drain(h, 2)
    finally:
        await receiver.server.stop()

    [row] = await h.rows(sa.select(t.outbox))
    attempts = await h.rows(sa.select(t.delivery_attempts))
    listed = (await h.client.get("/v1/deliveries")).json()["items"]
    detail = (await h.client.get(f"/v1/deliveries/{row['id']}")).json()
    shown = [
        row["last_error"],
        *(a["error"] for a in attempts),
        listed[0]["last_error"],
        detail["last_error"],
        *(a["error"] for a in detail["attempts_log"]),
    ]
    assert len(shown) >= 5
    for error in shown:
        assert error.startswith("HTTP 500: <h1>Lỗi máy chủ</h1> [31mstack trace x")
        assert len(error) <= EXCERPT_CHARS
        assert error.endswith(TRUNCATED)
        assert secret not in error
        assert "Z" not in error
        assert not any(c in error for c in "\r\n\x00\x1b\u202e")
