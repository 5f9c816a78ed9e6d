"""Who is told, and how: subscriptions by unit and severity, silences, digests that group
alerts firing together for one recipient, "resolved" messages, repeat reminders, and the
email itself as a real SMTP server receives it."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa

from ioc_alerts import tables as t
from ioc_alerts.testing import (
    Harness,
    MailSink,
    dossiers,
    targeted_harness,
)

pytestmark = pytest.mark.connected


async def add_recipient(h: Harness, name: str, email: str, **extra: Any) -> dict[str, Any]:
    body = {"name": name, "channels": [{"channel": "email", "address": email}], **extra}
    response = await h.client.post("/v1/recipients", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def mails_to(sink: MailSink, address: str) -> list[EmailMessage]:
    return [m for m in sink.received() if m["To"] == address]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def test_alerts_firing_together_reach_each_recipient_as_one_digest(
    fresh_database_url: str, mail_sink: MailSink
) -> None:

    async with targeted_harness(fresh_database_url, smtp_port=mail_sink.port, group_wait_s=30) as h:
        await add_recipient(h, "Lãnh đạo tỉnh", "tinh@tq.gov.vn", units=["08"])
        await add_recipient(h, "Chủ tịch UBND huyện Lâm Bình", "lambinh@tq.gov.vn", units=["071"])
        await h.feed(dossiers(h, "071", 60.0), dossiers(h, "072", 72.0))
        assert await h.deliver() == 0  # still within the group wait
        h.clock.advance(seconds=31)
        assert await h.deliver() == 2

        (province,) = mails_to(mail_sink, "tinh@tq.gov.vn")
        assert "2 thay đổi cảnh báo" in province["Subject"]
        body = text_of(province)
        assert "Lâm Bình (071)" in body
        assert "Na Hang (072)" in body
        (district,) = mails_to(mail_sink, "lambinh@tq.gov.vn")
        assert "Na Hang" not in text_of(district)

        # Back on track: one "resolved" message, to those who were told.
        await h.feed(dossiers(h, "071", 80.0, version=2))
        h.clock.advance(seconds=31)
        await h.deliver()
        resolved = mails_to(mail_sink, "lambinh@tq.gov.vn")[1]
        assert resolved["Subject"].startswith("[IOC] Đã khắc phục")
        assert len(mails_to(mail_sink, "tinh@tq.gov.vn")) == 2


async def test_the_email_is_vietnamese_text_and_html_with_its_idempotency_key(
    harness: Harness, mail_sink: MailSink
) -> None:
    h = harness
    await add_recipient(h, "Sở KH&CN", "sokhcn@tq.gov.vn", min_severity="critical")
    await h.feed(dossiers(h, "073", 72.0))  # warning: below this recipient's minimum
    await h.feed(dossiers(h, "074", 60.0))  # critical
    await h.deliver()
    (mail,) = mail_sink.received()
    assert mail["Subject"].startswith("[IOC] Cảnh báo mới – Nghiêm trọng: ")
    assert "Tỷ lệ" in mail["Subject"]
    assert mail["X-IOC-Idempotency-Key"].startswith("ntf_")
    assert mail["Message-ID"]
    assert mail.get_content_type() == "multipart/alternative"
    assert "Kính gửi Sở KH&CN" in text_of(mail)
    html = mail.get_body(preferencelist=("html",))
    assert html is not None
    assert "Sở KH&amp;CN" in str(html.get_content())
    (delivery,) = (await h.client.get("/v1/deliveries", params={"status": "sent"})).json()["items"]
    detail = (await h.client.get(f"/v1/deliveries/{delivery['id']}")).json()
    assert [a["outcome"] for a in detail["attempts_log"]] == ["sent"]


async def test_a_silence_mutes_matching_alerts_only_while_it_lasts(
    harness: Harness, mail_sink: MailSink
) -> None:
    h = harness
    await add_recipient(h, "Lãnh đạo tỉnh", "tinh@tq.gov.vn", units=["08"])
    bad = await h.client.post(
        "/v1/silences", json={"ends_at": "2030-01-01T00:00:00+07:00", "reason": "x"}
    )
    assert bad.status_code == 422
    ends = (h.clock() + timedelta(hours=2)).isoformat()
    created = await h.client.post(
        "/v1/silences",
        json={"unit_code": "071", "ends_at": ends, "reason": "Huyện đang nâng cấp hệ thống"},
    )
    assert created.status_code == 201, created.text
    silence = created.json()
    assert silence["active"] is True
    assert silence["created_by"] == "operator@test"

    await h.feed(dossiers(h, "071", 60.0), dossiers(h, "072", 60.0))
    await h.deliver()
    (mail,) = mail_sink.received()
    assert "Na Hang" in mail["Subject"]
    assert "Lâm Bình" not in text_of(mail)
    firing = (await h.client.get("/v1/alerts", params={"unit": "071"})).json()
    assert firing["items"][0]["state"] == "firing"  # silenced, not suppressed

    expired = await h.client.delete(f"/v1/silences/{silence['id']}")
    assert expired.json()["active"] is False
    await h.feed(dossiers(h, "071", 45.0, version=2))  # stays critical: no change, no message
    await h.feed(dossiers(h, "075", 60.0))
    await h.deliver()
    assert len(mail_sink.received()) == 2
    assert "Yên Sơn (075)" in mail_sink.received()[1]["Subject"]


async def test_an_unacknowledged_alert_is_repeated_after_the_repeat_interval(
    fresh_database_url: str, mail_sink: MailSink
) -> None:

    async with targeted_harness(
        fresh_database_url, smtp_port=mail_sink.port, repeat_interval_s=3600
    ) as h:
        await add_recipient(h, "Lãnh đạo tỉnh", "tinh@tq.gov.vn", units=["08"])
        await h.feed(dossiers(h, "071", 60.0))
        await h.deliver()
        h.clock.advance(minutes=30)
        await h.sweep()
        await h.deliver()
        assert len(mail_sink.received()) == 1
        h.clock.advance(minutes=31)
        await h.sweep()
        await h.deliver()
        assert len(mail_sink.received()) == 2
        assert mail_sink.received()[1]["Subject"].startswith("[IOC] Nhắc lại")
        notes = await h.rows(sa.select(t.notifications.c.kind).order_by(t.notifications.c.id))
        assert [n["kind"] for n in notes] == ["firing", "repeat"]
