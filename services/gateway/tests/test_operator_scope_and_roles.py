"""Authorization over the API: a viewer cannot act; a district operator neither sees nor acts
on another district's data or alerts; actions reach the alerts service with the operator's
identity and are audited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ioc_common.audit import audit_log
from ioc_common.db import create_engine
from ioc_gateway.testing import Gateway, target

pytestmark = pytest.mark.connected

OWN, OTHER = "071", "070"  # Lâm Bình, TP Tuyên Quang


async def test_a_viewer_cannot_acknowledge_resolve_or_silence(gateway: Gateway) -> None:
    viewer = await gateway.user("viewer", "viewer", "08")
    alert = gateway.fakes.add_alert(OWN)
    async with await gateway.client(viewer) as api:
        assert (await api.get("/v1/alerts")).json()["total"] == 1  # viewers do see alerts
        for action, body in (("acknowledge", {"note": "x"}), ("resolve", {}), ("silence", {})):
            r = await api.post(f"/v1/alerts/{alert['id']}/{action}", json=body)
            assert r.status_code == 403, (action, r.text)
            assert r.json()["error"]["code"] == "forbidden"
        r = await api.post(
            "/v1/silences", json={"ends_at": "2030-01-01T00:00:00+07:00", "reason": "x"}
        )
        assert r.status_code == 403
        me = (await api.get("/v1/auth/me")).json()
        assert (me["role"], me["can_act"]) == ("viewer", False)
    assert [c for c in gateway.fakes.calls if c[0] == "POST"] == []
    assert gateway.fakes.alerts[alert["id"]]["state"] == "firing"


async def test_a_district_operator_sees_only_their_district(gateway: Gateway) -> None:
    operator = await gateway.user("op071", "operator", OWN)
    for unit, value in ((OWN, 62.0), (OTHER, 91.0), ("08", 85.0)):
        gateway.fakes.values[("dossiers_processed_online_rate", unit)] = value
    gateway.fakes.add_alert(OWN)
    gateway.fakes.add_alert("00691")  # a commune in province 08, outside district 071
    foreign = gateway.fakes.add_alert(OTHER)
    async with await gateway.client(operator) as api:
        for path in (
            f"/v1/overview?unit={OTHER}",
            f"/v1/units/{OTHER}/scorecard",
            f"/v1/series?indicator=dossiers_processed_online_rate&unit={OTHER}",
            "/v1/overview?unit=08",
            f"/v1/alerts?unit={OTHER}",
            f"/v1/alerts/{foreign['id']}",
        ):
            r = await api.get(path)
            assert r.status_code == 403, (path, r.text)
            assert "phạm vi" in r.json()["error"]["message"]
        table = (await api.get("/v1/districts?indicator=dossiers_processed_online_rate")).json()
        assert [row["unit_code"] for row in table["items"]] == [OWN]
        assert table["province_value"] is None  # the province figure is not theirs either
        alerts = (await api.get("/v1/alerts")).json()
        assert [a["unit_code"] for a in alerts["items"]] == [OWN]
        overview = (await api.get("/v1/overview")).json()
        assert overview["unit_code"] == OWN
        fresh = (await api.get("/v1/freshness")).json()
        assert {i["unit_code"] for i in fresh["items"]} == {OWN}

        r = await api.post(f"/v1/alerts/{foreign['id']}/acknowledge", json={"note": "x"})
        assert r.status_code == 403
        r = await api.post(
            "/v1/silences",
            json={"unit_code": OTHER, "ends_at": "2030-01-01T00:00:00+07:00", "reason": "x"},
        )
        assert r.status_code == 403
    assert not [c for c in gateway.fakes.calls if c[0] == "POST"]
    assert gateway.fakes.alerts[foreign["id"]]["state"] == "firing"


async def test_a_province_operator_sees_the_province_but_not_other_provinces(
    gateway: Gateway,
) -> None:
    operator = await gateway.user("op08", "operator", "08")
    inside = [gateway.fakes.add_alert(u)["id"] for u in (OWN, OTHER, "029", "00691")]
    gateway.fakes.add_alert("34")  # Thái Bình: another province
    async with await gateway.client(operator) as api:
        alerts = (await api.get("/v1/alerts")).json()
        assert sorted(a["id"] for a in alerts["items"]) == sorted(inside)
        table = (await api.get("/v1/districts?indicator=bts_sites")).json()
        # Tuyên Quang after the reform: its own 7 former districts and Hà Giang's 11.
        assert len(table["items"]) == 18
        assert (await api.get("/v1/overview?unit=34")).status_code == 403


async def test_acknowledge_is_routed_with_the_operators_identity_and_audited(
    gateway: Gateway, database_url: str
) -> None:
    operator = await gateway.user("ack", "operator", OWN)
    alert = gateway.fakes.add_alert(OWN)
    async with await gateway.client(operator) as api:
        r = await api.post(f"/v1/alerts/{alert['id']}/acknowledge", json={"note": "đang xử lý"})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "acknowledged"
        r = await api.post(f"/v1/alerts/{alert['id']}/silence", json={"minutes": 60})
        assert r.status_code == 201, r.text
    posts = [c for c in gateway.fakes.calls if c[0] == "POST"]
    assert posts == [
        ("POST", f"/v1/alerts/{alert['id']}/acknowledge", operator),
        ("POST", "/v1/silences", operator),
    ]
    (silence,) = gateway.fakes.silences
    assert (silence["unit_code"], silence["indicator"]) == (OWN, alert["indicator"])
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(audit_log.c.action, audit_log.c.target)
                    .where(audit_log.c.actor == operator, audit_log.c.service == "gateway")
                    .order_by(audit_log.c.id)
                )
            ).all()
    finally:
        await engine.dispose()
    assert [r.action for r in rows] == ["login", "alert.acknowledge", "silence.create"]
    assert rows[1].target == alert["id"]


async def test_tiles_are_coloured_by_status_against_target(gateway: Gateway) -> None:
    operator = await gateway.user("tiles", "viewer", "08")
    indicator = "dossiers_processed_online_rate"
    gateway.fakes.targets = [
        target("districts", indicator, {"level": "district", "within": ["08"]}, goal=80),
        target("province", indicator, {"units": ["08"]}, goal=90),
    ]
    for unit, value in (("070", 77.0), ("071", 72.0), ("072", 65.0), ("08", 95.0)):
        gateway.fakes.values[(indicator, unit)] = value
    async with await gateway.client(operator) as api:
        table = (await api.get(f"/v1/districts?indicator={indicator}")).json()
        status = {row["unit_code"]: row["status"] for row in table["items"]}
        # Goal 80 with tolerances 5 and 10 points: 77 on track, 72 warning, 65 critical.
        assert (status["070"], status["071"], status["072"]) == ("on_track", "warning", "critical")
        assert status["073"] == "no_data"
        assert table["province_status"]["status"] == "on_track"
        overview = (await api.get("/v1/overview")).json()
        tiles = {t["indicator"]: t for p in overview["pillars"] for t in p["tiles"]}
        assert tiles[indicator]["status"] == "on_track"
        assert tiles[indicator]["value"] == 95.0
        assert tiles["bts_sites"]["status"] == "no_data"
        assert {p["pillar"] for p in overview["pillars"]} == {
            "infrastructure",
            "digital_government",
            "digital_economy",
            "digital_society",
        }


async def test_an_unavailable_service_is_named(gateway: Gateway) -> None:
    operator = await gateway.user("down", "operator", "08")
    async with await gateway.client(operator) as api:
        gateway.fakes.down = {"alerts"}
        r = await api.get("/v1/alerts")
        assert r.status_code == 503
        assert r.headers["Retry-After"] == "5"
        error = r.json()["error"]
        assert error["details"] == [{"field": "service", "reason": "alerts"}]
        assert "cảnh báo (alerts)" in error["message"]
        assert "alerts service is unavailable" in error["message_en"]
        overview = await api.get("/v1/overview")  # figures still shown, without status
        assert overview.status_code == 200
        assert overview.json()["unavailable"] == ["alerts"]
        gateway.fakes.down = {"metrics"}
        r = await api.get("/v1/overview")
        assert r.status_code == 503
        assert r.json()["error"]["details"] == [{"field": "service", "reason": "metrics"}]


async def test_login_sessions_and_disabled_users(gateway: Gateway) -> None:
    username = await gateway.user("login", "operator", "08")
    async with gateway.state.sessions() as session:
        stored = await session.scalar(
            sa.text("SELECT password_hash FROM gateway_users WHERE username = :u"),
            {"u": username},
        )
    assert str(stored).startswith("$argon2id$")
    async with await gateway.client(username) as api:
        anonymous = api.headers.pop("Authorization")
        assert (await api.get("/v1/overview")).status_code == 401
        r = await api.post("/v1/auth/login", json={"username": username, "password": "sai"})
        assert r.status_code == 401
        r = await api.post(
            "/v1/auth/login", json={"username": username, "password": "mat-khau-rat-dai-123"}
        )
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower()
        api.cookies.clear()
        api.headers["Authorization"] = anonymous
        assert (await api.get("/v1/auth/me")).status_code == 200
        await gateway.state.users.disable(username, actor="test")
        r = await api.get("/v1/auth/me")
        assert r.status_code == 401
        assert r.json()["error"]["message_en"] == "Unknown or disabled account"


async def test_the_catalogue_marks_indicators_with_a_target_in_my_area(gateway: Gateway) -> None:
    gateway.fakes.targets = [
        target("d-071", "dossiers_processed_online_rate", {"units": ["071"]}, goal=80),
        target("p-34", "bts_sites", {"units": ["34"]}, goal=900),  # another province's
    ]
    province = await gateway.user("cat-08", "viewer", "08")
    neighbour = await gateway.user("cat-072", "viewer", "072")
    # Before the gateway has read (and cached) any target: the alerts service is down.
    gateway.fakes.down = {"alerts"}
    async with await gateway.client(province) as api:
        body = (await api.get("/v1/indicators")).json()
    assert body["unavailable"] == ["alerts"]
    assert {i["has_target"] for i in body["items"]} == {None}

    gateway.fakes.down = set()
    for username, expected in ((province, True), (neighbour, False)):
        async with await gateway.client(username) as api:
            items = {i["indicator"]: i for i in (await api.get("/v1/indicators")).json()["items"]}
        assert items["dossiers_processed_online_rate"]["has_target"] is expected, username
        assert items["bts_sites"]["has_target"] is False
