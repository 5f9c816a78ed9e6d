"""Operator actions are audited with the client's address and user agent; a period range the
gateway forwards to the metrics service is bounded before anything is computed."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from ioc_common.audit import audit_log
from ioc_gateway.testing import PASSWORD, Gateway

pytestmark = pytest.mark.connected

AGENT = "IOC-wall-screen/2.1 (test; Lam Binh)"


async def _rows(gateway: Gateway, *where: sa.ColumnElement[bool]) -> list[tuple[str, ...]]:
    async with gateway.state.sessions() as db:
        rows = await db.execute(
            sa.select(
                audit_log.c.action,
                audit_log.c.actor,
                audit_log.c.source_address,
                audit_log.c.user_agent,
            )
            .where(audit_log.c.service == "gateway", *where)
            .order_by(audit_log.c.id)
        )
        return [tuple(r) for r in rows]


async def test_logins_and_user_admin_are_audited_with_address_and_user_agent(
    gateway: Gateway,
) -> None:
    admin = await gateway.user("origin-admin", "admin", "08")
    newcomer = f"{gateway.prefix}-origin-new"
    async with httpx.AsyncClient(base_url=gateway.url, headers={"User-Agent": AGENT}) as api:
        wrong = await api.post("/v1/auth/login", json={"username": admin, "password": "nope"})
        assert wrong.status_code == 401
        r = await api.post("/v1/auth/login", json={"username": admin, "password": PASSWORD})
        assert r.status_code == 200, r.text
        api.headers["Authorization"] = f"Bearer {r.json()['token']}"
        created = await api.post(
            "/v1/users",
            json={"username": newcomer, "role": "viewer", "scope": "071", "password": PASSWORD},
        )
        assert created.status_code == 201, created.text
    assert await _rows(gateway, audit_log.c.actor == admin) == [
        ("login.failed", admin, "127.0.0.1", AGENT),
        ("login", admin, "127.0.0.1", AGENT),
        ("user.create", admin, "127.0.0.1", AGENT),
    ]


async def test_an_alert_action_is_audited_with_address_and_user_agent(gateway: Gateway) -> None:
    operator = await gateway.user("origin-op", "operator", "08")
    alert = gateway.fakes.add_alert("071")
    async with await gateway.client(operator) as api:
        api.headers["User-Agent"] = AGENT
        r = await api.post(f"/v1/alerts/{alert['id']}/acknowledge", json={"note": "đang xử lý"})
        assert r.status_code == 200, r.text
    [row] = await _rows(gateway, audit_log.c.actor == operator, audit_log.c.action != "login")
    assert row[2:] == ("127.0.0.1", AGENT)


async def test_a_user_agent_is_cut_to_its_column(gateway: Gateway) -> None:
    name = await gateway.user("origin-long", "viewer", "08")
    async with httpx.AsyncClient(base_url=gateway.url, headers={"User-Agent": "x" * 1000}) as api:
        r = await api.post("/v1/auth/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200
    [row] = await _rows(gateway, audit_log.c.actor == name)
    assert row[3] == "x" * 256


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "0001-01", "to": "9999-12"}, "from"),
        ({"to": "9999-12"}, "to"),
        ({"from": "1899-12"}, "from"),
        ({"granularity": "day", "from": "1900-01-01", "to": "2200-12-31"}, "to"),
        ({"from": "2025-05", "to": "2024-01"}, "to"),
    ],
)
async def test_a_series_range_out_of_bounds_is_refused_before_it_is_forwarded(
    gateway: Gateway, params: dict[str, str], field: str
) -> None:
    viewer = await gateway.user(f"series-{field}-{len(params)}", "viewer", "08")
    async with await gateway.client(viewer) as api:
        r = await api.get(
            "/v1/series", params={"indicator": "dossiers_processed_online_rate"} | params
        )
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert [d["field"] for d in error["details"]] == [field]
        assert " / " in error["details"][0]["reason"]  # Vietnamese / English
        ok = await api.get(
            "/v1/series",
            params={"indicator": "dossiers_processed_online_rate", "from": "2024-01"},
        )
        assert ok.status_code == 200, ok.text
