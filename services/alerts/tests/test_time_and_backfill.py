"""Time: a period is judged in its own time (against the plan for that period, a missed
deadline only for periods ending after it), the live alert follows a unit's most recent
period, ``GET /v1/assessments`` answers "who was lagging at a date" without touching any
alert, and a back-filled history updates the alert history but notifies only the present."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from ioc_alerts import tables as t
from ioc_alerts.testing import (
    INDICATOR,
    Harness,
    MailSink,
    alerts_harness,
    district_target,
    metric_update,
)

pytestmark = pytest.mark.connected

NOW = datetime(2026, 5, 20, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam, after the 2025 deadline


def monthly(h: Harness, unit: str, start: date, pct: float, version: int = 1) -> Any:
    return metric_update(
        INDICATOR,
        unit,
        numerator=pct * 10,
        denominator=1000,
        period_start=start,
        version=version,
        updated_at=h.clock(),
    )


def months(first: date, count: int) -> list[date]:
    return [date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
            for i in range(count)]  # fmt: skip


async def add_recipient(h: Harness, email: str, units: list[str]) -> None:
    body = {"name": "Lãnh đạo", "channels": [{"channel": "email", "address": email}]}
    response = await h.client.post("/v1/recipients", json=body | {"units": units})
    assert response.status_code == 201, response.text


async def lagging_alert(h: Harness, unit: str) -> dict[str, Any]:
    (alert,) = await h.rows(
        sa.select(t.alerts).where(t.alerts.c.unit_code == unit, t.alerts.c.rule == "lagging")
    )
    return alert


async def test_a_may_2024_figure_is_judged_against_the_plan_for_may_2024(
    fresh_database_url: str, mail_sink: MailSink
) -> None:
    """The issue's example: 100 % by 2025-12-31 from a 2022 baseline; in May 2024 the plan
    expected ≈ 98 %, so 90 % is lagging by ≈ 8 points for 2024-05 — not a missed deadline,
    though today is past it."""
    async with alerts_harness(
        fresh_database_url, smtp_port=mail_sink.port, seed_targets=False
    ) as h:
        h.clock.now = NOW
        target = district_target(
            NOW.date(),
            id="tq-dossiers-100-by-2025",
            scope={"units": ["071"]},
            baseline={"value": 95, "date": "2022-01-01"},
            goal=100,
            deadline="2025-12-31",
            tolerance={"warning": 2, "critical": 5},
        )
        assert (await h.client.post("/v1/targets", json=target)).status_code == 201

        await h.feed(monthly(h, "071", date(2024, 5, 1), 90.0))
        alert = await lagging_alert(h, "071")
        detail = alert["detail"]
        assert detail["reason"] == "behind"  # not deadline_missed
        assert detail["period"] == "2024-05"
        assert detail["as_of"] == "2024-05-31"
        assert detail["expected"] == pytest.approx(95 + 5 * 881 / 1460)  # ≈ 98.02
        assert detail["gap"] == pytest.approx(detail["expected"] - 90)
        assert alert["severity"] == "critical"  # 8 points behind, critical beyond 5
        assert (
            "lagging by 8.02 percentage points against the plan for 2024-05"
            in (alert["summary_en"])
        )
        assert "(expected 98.02%)" in alert["summary_en"]
        assert "kỳ 2024-05" in alert["summary_vi"]
        assert "thấp hơn 8,02 điểm phần trăm so với kế hoạch của kỳ này" in alert["summary_vi"]

        # A period ending after the deadline and short of the goal: deadline missed.
        await h.feed(monthly(h, "071", date(2026, 1, 1), 99.0))
        alert = await lagging_alert(h, "071")
        assert alert["detail"]["reason"] == "deadline_missed"
        assert alert["detail"]["period"] == "2026-01"
        assert "2026-01" in alert["summary_en"]
        assert "after the deadline 2025-12-31" in (alert["summary_en"])
        assert "1 percentage points short of the goal 100%" in alert["summary_en"]

        # The goal met in the most recent period resolves it; a late, older and worse figure
        # does not flip the live alert back.
        await h.feed(monthly(h, "071", date(2026, 5, 1), 100.0))
        assert await h.rows(sa.select(t.alerts).where(t.alerts.c.state != "resolved")) == []
        assert await h.feed(monthly(h, "071", date(2024, 5, 1), 50.0, version=2)) == []
        assert await h.rows(sa.select(t.alerts).where(t.alerts.c.state != "resolved")) == []


async def test_a_two_year_import_tells_the_present_once_and_the_past_stays_queryable(
    fresh_database_url: str, mail_sink: MailSink
) -> None:
    async with alerts_harness(
        fresh_database_url, smtp_port=mail_sink.port, seed_targets=False
    ) as h:
        h.clock.now = NOW
        # 80 % in every district of Tuyên Quang (flat), warning 5 and critical 10 behind.
        target = district_target(NOW.date())
        assert (await h.client.post("/v1/targets", json=target)).status_code == 201
        await add_recipient(h, "tinh@tq.gov.vn", ["08"])

        # Two years of monthly history, May 2024 – April 2026, imported today in order:
        # Lâm Bình (071) lagging throughout, TP Tuyên Quang (070) on track.
        past = months(date(2024, 5, 1), 24)
        for i, start in enumerate(past):
            await h.feed(monthly(h, "071", start, 60.0 + (i % 3)), monthly(h, "070", start, 85.0))
        await h.sweep()
        await h.deliver()
        assert mail_sink.received() == []  # nobody is told about the past
        alert = await lagging_alert(h, "071")
        assert alert["detail"]["period"] == "2026-04"
        history = await h.rows(
            sa.select(t.history).where(t.history.c.alert_id == alert["id"]).order_by(t.history.c.id)
        )
        assert [row["detail"]["period"] for row in history] == [f"{m:%Y-%m}" for m in past]
        assert history[0]["change"] == "opened"
        assert {row["change"] for row in history[1:]} == {"period"}

        # The present arrives: one message, about the current period.
        await h.feed(
            monthly(h, "071", date(2026, 5, 1), 61.0), monthly(h, "070", date(2026, 5, 1), 85.0)
        )
        await h.sweep()
        await h.deliver()
        (mail,) = mail_sink.received()
        text = mail.get_body(preferencelist=("plain",))
        assert text is not None
        body = str(text.get_content())
        assert "2026-05" in body
        assert "2024-05" not in body
        await h.sweep()
        await h.deliver()
        assert len(mail_sink.received()) == 1

        # As of 15 June 2024: the period containing that date, judged against its own plan;
        # the districts that never reported are missing. Nothing is raised or sent.
        before = (
            len(await h.rows(sa.select(t.history))),
            len(await h.rows(sa.select(t.notifications))),
            len(await h.rows(sa.select(t.event_outbox))),
        )
        r = await h.client.get(
            "/v1/assessments",
            params={"as_of": "2024-06-15", "indicator": INDICATOR, "level": "district"},
        )
        assert r.status_code == 200, r.text
        found = {i["unit_code"]: i for i in r.json()["items"]}
        assert set(found) == {"070", "071", "072", "073", "074", "075", "076"}
        assert found["071"]["status"] == "lagging"
        assert found["071"]["severity"] == "critical"
        assert (found["071"]["period"], found["071"]["judged_on"]) == ("2024-06", "2024-06-30")
        assert found["071"]["value"] == pytest.approx(61.0)
        assert found["071"]["expected"] == pytest.approx(80.0)
        assert found["070"]["status"] == "on_track"
        assert {found[u]["status"] for u in ("072", "073", "074", "075", "076")} == {"missing"}
        assert r.json()["counts"] == {
            "on_track": 1, "lagging": 1, "deadline_missed": 0, "missing": 5
        }  # fmt: skip
        one = await h.client.get(
            "/v1/assessments",
            params={"as_of": "2024-04-15", "indicator": INDICATOR, "unit": "071"},
        )
        assert [i["status"] for i in one.json()["items"]] == ["missing"]  # before the import
        after = (
            len(await h.rows(sa.select(t.history))),
            len(await h.rows(sa.select(t.notifications))),
            len(await h.rows(sa.select(t.event_outbox))),
        )
        assert after == before

        # Bounded input, 422 naming the field.
        for params, field in (
            ({"as_of": "1899-12-31", "indicator": INDICATOR, "level": "district"}, "as_of"),
            ({"as_of": "2024-06-15", "indicator": "no_such", "level": "district"}, "indicator"),
            ({"as_of": "2024-06-15", "indicator": INDICATOR}, "level"),
            (
                {"as_of": "2024-06-15", "indicator": INDICATOR, "level": "district", "unit": "071"},
                "unit",
            ),
        ):
            bad = await h.client.get("/v1/assessments", params=params)
            assert bad.status_code == 422, bad.text
            assert bad.json()["error"]["details"][0]["field"] == field
