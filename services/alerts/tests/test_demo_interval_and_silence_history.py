"""``ioc dev``'s demo reporting interval (a day of a reporting interval lasts seconds, for the
missing-data rule only, labelled in the alert, refused outside ``ioc dev``) and an alert's
history showing who silenced and who acknowledged it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from ioc_alerts import tables as t
from ioc_alerts.config import AlertsSettings
from ioc_alerts.evaluation import evaluate_missing
from ioc_alerts.testing import INDICATOR, Harness, dossiers, targeted_harness

DAY_S = 10.0  # dossiers are reported every 3 days: 30 s in this demo


@pytest.fixture
async def demo(fresh_database_url: str) -> AsyncIterator[Harness]:
    async with targeted_harness(fresh_database_url, demo_day_s=DAY_S) as h:
        yield h


async def open_alerts(h: Harness, unit: str, rule: str) -> list[dict[str, Any]]:
    return await h.rows(
        sa.select(t.alerts).where(
            t.alerts.c.unit_code == unit, t.alerts.c.rule == rule, t.alerts.c.state != "resolved"
        )
    )


@pytest.mark.connected
async def test_a_silent_unit_is_missing_after_the_demo_interval_and_the_alert_says_demo(
    demo: Harness,
) -> None:
    h = demo
    await h.feed(dossiers(h, "071", 85.0))
    h.clock.advance(seconds=3 * DAY_S - 1)
    await h.sweep()
    assert await open_alerts(h, "071", "missing_data") == []
    h.clock.advance(seconds=2)
    await h.sweep()
    (alert,) = await open_alerts(h, "071", "missing_data")
    assert "minh hoạ" in alert["summary_vi"]
    assert "30 giây" in alert["summary_vi"]
    assert "demo reporting interval: 30 seconds" in alert["summary_en"]
    # Fresh figures end it, as with real days.
    await h.feed(dossiers(h, "071", 85.0, version=2))
    assert await open_alerts(h, "071", "missing_data") == []


def test_without_the_demo_interval_days_stay_days() -> None:
    now = datetime(2026, 12, 3, 9, tzinfo=UTC)
    since = now - timedelta(seconds=31)
    real = evaluate_missing(since, expected_since=since, interval_days=3, now=now)
    demo = evaluate_missing(since, expected_since=since, interval_days=3, now=now, demo_day_s=10)
    assert (real.missing, demo.missing) == (False, True)
    late = evaluate_missing(
        now - timedelta(days=3, seconds=1), expected_since=since, interval_days=3, now=now
    )
    assert late.missing


def test_the_demo_interval_is_refused_outside_ioc_dev() -> None:
    common: dict[str, Any] = {
        "database_url": "postgresql+asyncpg://ioc@db.example/ioc",
        "dashboard_url": "https://ioc.example.gov.vn",
    }
    AlertsSettings(environment="production", **common)  # fine without it
    with pytest.raises(ValidationError, match="IOC_ALERTS_DEMO_DAY_S"):
        AlertsSettings(environment="production", demo_day_s=20, **common)
    assert AlertsSettings(environment="dev", demo_day_s=20, **common).demo_day_s == 20


@pytest.mark.connected
async def test_silences_and_acknowledgements_appear_in_the_alerts_history(
    demo: Harness,
) -> None:
    h = demo
    await h.feed(dossiers(h, "071", 61.0), dossiers(h, "072", 61.0))
    (alert,) = await open_alerts(h, "071", "lagging")
    (other,) = await open_alerts(h, "072", "lagging")
    ends = (h.clock() + timedelta(hours=4)).isoformat()
    silence = await h.client.post(
        "/v1/silences",
        json={"indicator": INDICATOR, "unit_code": "071", "ends_at": ends, "reason": "đang xử lý"},
        headers={"X-IOC-Actor": "van-hanh@test"},
    )
    assert silence.status_code == 201, silence.text
    ack = await h.client.post(
        f"/v1/alerts/{alert['id']}/acknowledge",
        json={"note": "đã gọi huyện"},
        headers={"X-IOC-Actor": "truc-ban@test"},
    )
    assert ack.status_code == 200, ack.text

    history = (await h.client.get(f"/v1/alerts/{alert['id']}")).json()["history"]
    assert [(e["change"], e["actor"], e["note"]) for e in history] == [
        ("opened", "system", None),
        ("silenced", "van-hanh@test", "đang xử lý"),
        ("acknowledged", "truc-ban@test", "đã gọi huyện"),
    ]
    assert history[1]["detail"]["silence_id"] == silence.json()["id"]
    assert datetime.fromisoformat(history[1]["detail"]["silence_ends_at"]) == (
        datetime.fromisoformat(ends)
    )
    # The silence names 071 only: 072's history is untouched.
    other_history = (await h.client.get(f"/v1/alerts/{other['id']}")).json()["history"]
    assert [e["change"] for e in other_history] == ["opened"]
