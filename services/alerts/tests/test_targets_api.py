"""Targets through the admin API: the shipped ones are seeded once, new ones are validated
(the indicator exists, the deadline follows the baseline date, tolerances are ordered) and
disabling one closes what it opened."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ioc_alerts.targets_store import seed_targets
from ioc_alerts.testing import Harness, alerts_harness, district_target, metric_update
from ioc_common.catalogue.targets import load_targets

pytestmark = pytest.mark.connected


@pytest.fixture
async def h(fresh_database_url: str) -> AsyncIterator[Harness]:
    async with alerts_harness(fresh_database_url) as harness:
        yield harness


def fields(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {d["field"]: d["reason"] for d in response.json()["error"]["details"]}


async def test_the_provinces_targets_are_seeded_once(h: Harness) -> None:
    listed = (await h.client.get("/v1/targets", params={"limit": 500})).json()
    assert listed["total"] == len(load_targets())
    assert {t["origin"] for t in listed["items"]} == {"seed"}
    one = (await h.client.get("/v1/targets/ha-giang-villages-mobile-coverage")).json()
    # Re-expressed on 08, which absorbed Hà Giang; Hà Giang (02) itself before the reform.
    assert one["definition"]["scope"] == {
        "level": None,
        "within": None,
        "units": ["08"],
        "before_reform": ["02"],
    }
    assert one["definition"]["assumed"] == ["deadline"]
    assert await seed_targets(h.state.sessions, h.clock()) == 0


async def test_a_valid_target_is_created_and_replaced(h: Harness) -> None:
    body = district_target(h.clock().date())
    created = await h.client.post("/v1/targets", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["origin"] == "api"
    assert (await h.client.post("/v1/targets", json=body)).status_code == 409
    body["tolerance"] = {"warning": 2, "critical": 4}
    replaced = await h.client.put(f"/v1/targets/{body['id']}", json=body)
    assert replaced.json()["version"] == 2
    assert replaced.json()["definition"]["tolerance"] == {"warning": 2.0, "critical": 4.0}
    wrong_id = await h.client.put("/v1/targets/other", json=body)
    assert "id" in fields(wrong_id)


async def test_a_target_for_an_unknown_indicator_is_refused(h: Harness) -> None:
    body = district_target(h.clock().date(), indicator="dossiers_online_ratee")
    reason = fields(await h.client.post("/v1/targets", json=body))["indicator"]
    assert "unknown indicator" in reason
    assert "did you mean" in reason


async def test_a_deadline_before_the_baseline_is_refused(h: Harness) -> None:
    body = district_target(h.clock().date())
    body["deadline"] = body["baseline"]["date"]
    assert (
        "must be after the baseline date"
        in fields(await h.client.post("/v1/targets", json=body))["deadline"]
    )


async def test_tolerances_out_of_order_are_refused(h: Harness) -> None:
    body = district_target(h.clock().date(), tolerance={"warning": 10, "critical": 5})
    assert (
        "warning < critical" in fields(await h.client.post("/v1/targets", json=body))["tolerance"]
    )


async def test_the_actor_header_is_required_to_write(h: Harness) -> None:
    body = district_target(h.clock().date())
    response = await h.client.post("/v1/targets", json=body, headers={"X-IOC-Actor": ""})
    assert response.status_code == 401
    assert response.json()["error"]["message_en"] == "Missing actor (X-IOC-Actor header)"


async def test_disabling_a_target_closes_its_alerts(h: Harness) -> None:
    body = district_target(h.clock().date())
    assert (await h.client.post("/v1/targets", json=body)).status_code == 201
    today = h.clock().date()
    await h.feed(
        metric_update(
            body["indicator"],
            "071",
            numerator=500,
            denominator=1000,
            period_start=today.replace(day=1),
            updated_at=h.clock(),
        )
    )
    assert (await h.client.get("/v1/alerts", params={"state": "firing"})).json()["total"] == 1
    disabled = await h.client.delete(f"/v1/targets/{body['id']}")
    assert disabled.json()["enabled"] is False
    await h.sweep()
    assert (await h.client.get("/v1/alerts", params={"state": "firing"})).json()["total"] == 0


async def test_operations_endpoints(h: Harness) -> None:
    assert (await h.client.get("/healthz")).json() == {"status": "ok", "service": "alerts"}
    ready = await h.client.get("/readyz")
    assert ready.json()["checks"] == {"database": True}
    await h.deliver()  # refreshes the gauges
    text = (await h.client.get("/metrics")).text
    assert 'ioc_alerts_outbox_depth{status="pending"} 0.0' in text


async def test_an_offset_beyond_what_postgresql_takes_is_a_422_on_every_list(h: Harness) -> None:
    # Found by schemathesis (tests/reliability): a huge offset reached PostgreSQL as a 500.
    for path in (
        "/v1/alerts",
        "/v1/silences",
        "/v1/targets",
        "/v1/recipients",
        "/v1/deliveries",
        "/v1/deliveries/dead",
    ):
        r = await h.client.get(path, params={"offset": 156879190647683121152})
        assert fields(r).keys() == {"offset"}, path
        assert (await h.client.get(path, params={"offset": 2**31 - 1})).status_code == 200


async def test_deliveries_filter_by_alert_without_a_database_error(h: Harness) -> None:
    # Found by schemathesis (tests/reliability): the alert_id filter used SQLAlchemy's
    # deprecated ARRAY.any(), a 500 wherever that warning is an error.
    r = await h.client.get("/v1/deliveries", params={"alert_id": str(uuid.uuid4())})
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 0


async def test_nul_characters_anywhere_are_a_422_not_a_database_error(h: Harness) -> None:
    # Found by the injection sweep (tests/reliability): PostgreSQL text cannot hold NUL.
    ends = "2030-01-01T00:00:00+07:00"
    for method, path, params, body in (
        ("GET", "/v1/alerts", {"indicator": "a\x00"}, None),
        ("GET", "/v1/alerts", {"rule": "\x00"}, None),
        ("GET", "/v1/targets", {"indicator": "\x00"}, None),
        ("GET", "/v1/targets/a%00b", None, None),
        ("POST", "/v1/silences", None, {"ends_at": ends, "reason": "a\x00b"}),
        ("POST", "/v1/silences", None, {"ends_at": ends, "reason": "x", "indicator": "\x00"}),
    ):
        r = await h.client.request(method, path, params=params, json=body)
        assert r.status_code == 422, (method, path, params, body, r.text)
        assert r.json()["error"]["code"] == "invalid_input"
    good = {"ends_at": ends, "reason": "bảo trì", "unit_code": "071"}
    r = await h.client.post("/v1/silences", json=good)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("moment", "reason"),
    [
        ("9999-12-31", "timezone"),
        ("0001-01-01", "timezone"),
        ("2030-01-01T00:00:00", "timezone"),
        ("0001-01-01T01:01:01+07:00", "1900"),
        ("9999-12-31T23:59:59-12:00", "2200"),
    ],
)
async def test_a_silence_time_without_a_timezone_or_out_of_range_is_a_422_not_a_500(
    h: Harness, moment: str, reason: str
) -> None:
    # Found by the body injection sweep and schemathesis (tests/reliability): a bare date was
    # compared with an aware time before its missing timezone was noticed; year 1 at +07:00 is
    # before year 1 in UTC, and PostgreSQL's write overflowed.
    aware = "2030-01-01T00:00:00+07:00"
    for times in ({"starts_at": moment, "ends_at": aware}, {"starts_at": aware, "ends_at": moment}):
        r = await h.client.post("/v1/silences", json={**times, "reason": "x", "unit_code": "071"})
        assert r.status_code == 422, (times, r.text)
        assert reason in r.text
