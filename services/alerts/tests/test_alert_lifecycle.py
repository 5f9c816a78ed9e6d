"""The alert lifecycle on the real database: one open alert per fingerprint, acknowledgement
with a note, severity changes, automatic and manual resolution, missing data suppressing
lagging, no flapping, and an ``AlertChanged`` event for every change."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from ioc_alerts import tables as t
from ioc_alerts.testing import INDICATOR, Harness, dossiers, metric_update
from ioc_common.events import AlertChanged

pytestmark = pytest.mark.connected


async def alerts_of(h: Harness, unit: str, rule: str = "lagging") -> list[dict[str, Any]]:
    return await h.rows(
        sa.select(t.alerts)
        .where(t.alerts.c.unit_code == unit, t.alerts.c.rule == rule)
        .order_by(t.alerts.c.opened_at)
    )


async def events(h: Harness) -> list[AlertChanged]:
    rows = await h.rows(sa.select(t.event_outbox).order_by(t.event_outbox.c.id))
    return [AlertChanged.model_validate_json(r["value"]) for r in rows]


async def test_a_lagging_district_gets_one_alert_however_often_it_is_evaluated(
    harness: Harness,
) -> None:
    h = harness
    await h.feed(dossiers(h, "071", 62.0))
    await h.feed(dossiers(h, "071", 61.0, version=2))
    await h.sweep()
    alerts = await alerts_of(h, "071")
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert["state"], alert["severity"], alert["version"]) == ("firing", "critical", 1)
    assert "Lâm Bình" in alert["summary_vi"]
    assert "61%" in alert["summary_vi"]
    published = await events(h)
    assert [(e.unit_code, e.state, e.version) for e in published] == [("071", "firing", 1)]
    listed = (await h.client.get("/v1/alerts", params={"unit": "071", "state": "firing"})).json()
    assert listed["total"] == 1
    assert listed["items"][0]["id"] == str(alert["id"])


async def test_acknowledge_with_a_note_and_escalation_calls_for_attention_again(
    harness: Harness,
) -> None:
    h = harness
    await h.feed(dossiers(h, "072", 73.0))  # 7 behind: warning
    (alert,) = await alerts_of(h, "072")
    url = f"/v1/alerts/{alert['id']}/acknowledge"
    no_actor = await h.client.post(url, json={"note": "x"}, headers={"X-IOC-Actor": ""})
    assert no_actor.status_code == 401
    acked = await h.client.post(url, json={"note": "Đã gọi điện cho huyện"})
    assert acked.status_code == 200, acked.text
    body = acked.json()
    assert body["state"] == "acknowledged"
    assert body["acknowledged_by"] == "operator@test"
    assert body["acknowledged_note"] == "Đã gọi điện cho huyện"
    assert [e["change"] for e in body["history"]] == ["opened", "acknowledged"]
    again = await h.client.post(url, json={"note": "again"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"

    await h.feed(dossiers(h, "072", 65.0, version=2))  # 15 behind: critical
    (alert,) = await alerts_of(h, "072")
    assert (alert["state"], alert["severity"], alert["version"]) == ("firing", "critical", 3)
    assert [(e.state, e.severity) for e in await events(h)] == [
        ("firing", "warning"),
        ("acknowledged", "warning"),
        ("firing", "critical"),
    ]


async def test_back_on_track_resolves_automatically_and_by_hand(harness: Harness) -> None:
    h = harness
    await h.feed(dossiers(h, "073", 60.0))
    await h.feed(dossiers(h, "073", 79.0, version=2))  # 1 behind: back on track
    (alert,) = await alerts_of(h, "073")
    assert (alert["state"], alert["resolved_by"]) == ("resolved", "system")

    await h.feed(dossiers(h, "073", 60.0, version=3))  # lagging again: a new alert
    alerts = await alerts_of(h, "073")
    assert [a["state"] for a in alerts] == ["resolved", "firing"]
    response = await h.client.post(
        f"/v1/alerts/{alerts[1]['id']}/resolve", json={"note": "Số liệu nhập sai"}
    )
    assert response.status_code == 200
    assert response.json()["resolved_by"] == "operator@test"
    assert (
        await h.client.post(f"/v1/alerts/{alerts[1]['id']}/resolve", json={})
    ).status_code == 409


async def test_missing_data_suppresses_lagging_until_figures_arrive_again(
    harness: Harness,
) -> None:
    h = harness
    await h.feed(dossiers(h, "074", 60.0))
    assert [a["state"] for a in await alerts_of(h, "074")] == ["firing"]

    h.clock.advance(days=4)  # the indicator is expected every 3 days
    await h.sweep()
    (missing,) = await alerts_of(h, "074", "missing_data")
    assert (missing["state"], missing["severity"]) == ("firing", "warning")
    assert "không nhận được số liệu" in missing["summary_vi"]
    (lagging,) = await alerts_of(h, "074")
    assert lagging["state"] == "resolved"  # stale data is not evidence of lagging
    history = (await h.client.get(f"/v1/alerts/{lagging['id']}")).json()["history"]
    assert "thiếu số liệu" in history[-1]["note"]

    await h.sweep()  # still silent: nothing changes
    assert len(await alerts_of(h, "074", "missing_data")) == 1
    assert [a["state"] for a in await alerts_of(h, "074")] == ["resolved"]

    await h.feed(dossiers(h, "074", 60.0, version=2))  # figures again, still lagging
    (missing,) = await alerts_of(h, "074", "missing_data")
    assert missing["state"] == "resolved"
    assert [a["state"] for a in await alerts_of(h, "074")] == ["resolved", "firing"]


async def test_a_value_hovering_at_the_threshold_does_not_flap(harness: Harness) -> None:
    h = harness
    # Warning beyond 5 points behind 80; the hysteresis margin is 1 point.
    for version, pct in enumerate([74.9, 75.1, 74.8, 75.3, 74.9, 75.6, 74.95], start=1):
        await h.feed(dossiers(h, "075", pct, version=version))
    alerts = await alerts_of(h, "075")
    assert len(alerts) == 1
    assert (alerts[0]["state"], alerts[0]["version"]) == ("firing", 1)
    await h.feed(dossiers(h, "075", 76.5, version=99))  # 3.5 behind: past the margin
    (alert,) = await alerts_of(h, "075")
    assert alert["state"] == "resolved"
    assert len(await events(h)) == 2


async def test_a_target_judges_only_its_own_indicator_when_updates_arrive_together(
    harness: Harness,
) -> None:
    # One batch carries the target's indicator and another one for the same district: only
    # the target's indicator may raise a lagging alert.
    h = harness
    today = h.clock().date()
    other = metric_update(
        "online_payment_rate",
        "073",
        numerator=10,
        denominator=1000,
        period_start=today.replace(day=1),
        version=1,
        updated_at=h.clock(),
    )
    await h.feed(dossiers(h, "073", 60.0), other)
    alerts = await alerts_of(h, "073")
    assert [a["indicator"] for a in alerts] == [INDICATOR]
