"""The authorization matrix: every gateway endpoint × (anonymous, viewer, operator, admin of the
province; an operator of another district), plus the live feed over WebSocket and SSE, and
expired or tampered sessions. A district operator reaching for district 070 from 071 is
refused on every path, and nothing they try reaches the alerts service."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ioc_common.testing import eventually, tampered
from ioc_common.topics import ALERTS, METRICS_UPDATED
from ioc_gateway.testing import PASSWORD, Gateway, alert_changed, gateway_harness, metric_updated

pytestmark = pytest.mark.connected

OWN, OTHER = "071", "070"  # the district operator's district, and the one they reach for
IND = "dossiers_processed_online_rate"
ROLES = ("anonymous", "viewer", "operator", "admin", "other_district")


@pytest.fixture
async def gateway(fresh_database_url: str) -> AsyncIterator[Gateway]:
    async with gateway_harness(fresh_database_url) as g:
        yield g


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    body: dict[str, Any] | None
    write: bool
    #: A list the other district's operator may read, filtered to their own units.
    filtered_list: bool = False
    #: About no unit at all (the session, the catalogue): every signed-in role reads it.
    unitless: bool = False
    #: User management: admins only.
    admin_only: bool = False


def cases(alert_id: str, silence_id: str, victim: str, newcomer: str) -> list[Case]:
    ends = "2030-01-01T00:00:00+07:00"
    new_user = {"username": newcomer, "role": "viewer", "scope": OTHER, "password": "x" * 12}
    return [
        Case("GET", "/v1/auth/me", None, False, unitless=True),
        Case("GET", "/v1/indicators", None, False, unitless=True),
        Case("GET", f"/v1/overview?unit={OTHER}", None, False),
        Case("GET", f"/v1/districts?indicator={IND}", None, False, filtered_list=True),
        Case("GET", f"/v1/series?indicator={IND}&unit={OTHER}", None, False),
        Case("GET", f"/v1/units/{OTHER}/scorecard", None, False),
        Case("GET", f"/v1/freshness?indicator={IND}", None, False, filtered_list=True),
        Case("GET", "/v1/alerts", None, False, filtered_list=True),
        Case("GET", f"/v1/alerts?unit={OTHER}", None, False),
        Case("GET", f"/v1/alerts/{alert_id}", None, False),
        Case("GET", "/v1/silences", None, False, filtered_list=True),
        Case("POST", f"/v1/alerts/{alert_id}/acknowledge", {"note": "đã xem"}, True),
        Case("POST", f"/v1/alerts/{alert_id}/silence", {"minutes": 30, "reason": "x"}, True),
        Case("POST", f"/v1/alerts/{alert_id}/resolve", {"note": "xong"}, True),
        Case(
            "POST", "/v1/silences", {"unit_code": OTHER, "ends_at": ends, "reason": "bảo trì"}, True
        ),
        Case("DELETE", f"/v1/silences/{silence_id}", None, True),
        Case("GET", "/v1/users", None, False, admin_only=True),
        Case("POST", "/v1/users", new_user, True, admin_only=True),
        Case("POST", f"/v1/users/{victim}/password", {"password": "y" * 12}, True, admin_only=True),
        Case("POST", f"/v1/users/{victim}/disable", None, True, admin_only=True),
        Case("POST", f"/v1/users/{victim}/enable", None, True, admin_only=True),
        Case("PATCH", f"/v1/users/{victim}", {"role": "operator"}, True, admin_only=True),
    ]


def expected(role: str, case: Case) -> str:
    if role == "anonymous":
        return "401"
    if case.admin_only:
        return "2xx" if role == "admin" else "403"
    if case.unitless:
        return "2xx"
    if role == "other_district":
        return "200-own-only" if case.filtered_list else "403"
    if case.write and role == "viewer":
        return "403"
    return "2xx"


def outcome(role: str, case: Case, response: httpx.Response) -> str:
    status = response.status_code
    if status in (401, 403):
        return str(status)
    if 200 <= status < 300:
        if role == "other_district" and case.filtered_list:
            units = _units_in(response.json())
            return "200-own-only" if units and units <= {OWN} else f"200 with {sorted(units)}"
        return "2xx"
    return f"unexpected {status}: {response.text[:200]}"


def _units_in(body: dict[str, Any]) -> set[str]:
    return {
        str(item["unit_code"])
        for item in body.get("items", [])
        if isinstance(item, dict) and item.get("unit_code")
    }


async def test_every_endpoint_for_every_role(gateway: Gateway, tmp_path: Path) -> None:
    for unit, value in ((OWN, 62.0), (OTHER, 91.0), ("08", 85.0)):
        gateway.fakes.values[(IND, unit)] = value
    gateway.fakes.add_alert(OWN)
    gateway.fakes.add_alert("34")  # another province: nobody here sees it
    users = {
        "viewer": await gateway.user("m-viewer", "viewer", "08"),
        "operator": await gateway.user("m-operator", "operator", "08"),
        "admin": await gateway.user("m-admin", "admin", "08"),
        "other_district": await gateway.user("m-op071", "operator", OWN),
    }
    gateway.fakes.add_silence(OWN)
    matrix: dict[str, dict[str, str]] = {}
    mismatches: list[str] = []
    # The other district and the viewer go first: what they try must change nothing.
    for role in ("anonymous", "other_district", "viewer", "operator", "admin"):
        # A fresh alert and silence in district 070 for each role's writes.
        target = gateway.fakes.add_alert(OTHER)
        silence = gateway.fakes.add_silence(OTHER)
        victim = await gateway.user(f"victim-{role}", "viewer", OTHER)
        newcomer = f"{gateway.prefix}-new-{role}"
        before = len([c for c in gateway.fakes.calls if c[0] in ("POST", "DELETE")])
        if role == "anonymous":
            client = httpx.AsyncClient(base_url=gateway.url)
        else:
            client = await gateway.client(users[role])
        async with client:
            for case in cases(target["id"], silence["id"], victim, newcomer):
                r = await client.request(case.method, case.path, json=case.body)
                got, want = outcome(role, case, r), expected(role, case)
                label = case.path.replace(target["id"], "{id}").replace(silence["id"], "{id}")
                label = label.replace(victim, "{username}")
                matrix.setdefault(f"{case.method} {label}", {})[role] = got
                if got != want:
                    mismatches.append(f"{role} {case.method} {case.path}: {got} (want {want})")
        writes = len([c for c in gateway.fakes.calls if c[0] in ("POST", "DELETE")]) - before
        if role in ("anonymous", "other_district", "viewer"):
            assert writes == 0, role
            assert target["state"] == "firing", role
            assert silence["active"], role
            assert await gateway.state.users.get(newcomer) is None, role
            assert await gateway.state.users.login(victim, PASSWORD), role
    write_matrix(matrix, tmp_path / "authorization-matrix.txt")
    assert mismatches == []


def write_matrix(matrix: dict[str, dict[str, str]], path: Path) -> None:
    width = max(len(k) for k in matrix)
    lines = [f"{'endpoint'.ljust(width)} | " + " | ".join(r.ljust(14) for r in ROLES)]
    for endpoint, row in matrix.items():
        cells = " | ".join(row.get(r, "-")[:14].ljust(14) for r in ROLES)
        lines.append(f"{endpoint.ljust(width)} | {cells}")
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


async def test_the_live_feed_refuses_other_districts_and_bad_sessions(gateway: Gateway) -> None:
    op071 = await gateway.user("live-op071", "operator", OWN)
    token = await gateway.token(op071)
    # WebSocket: another district's unit → 4403; no, expired or tampered token, or a token
    # in the URL → 4401.
    codes: dict[str, int | None] = {}
    body, mac = token.split(".")
    expired = gateway.state.signer.issue(op071, now=1_000)[0]
    for name, query, session in (
        ("foreign unit", f"unit={OTHER}", token),
        ("province", "unit=08", token),
        ("no token", "", None),
        ("tampered", "", f"{body}.{tampered(mac)}"),
        ("expired", "", expired),
        ("token in the URL", f"token={token}", None),
    ):
        headers = {"Cookie": f"ioc_session={session}"} if session else {}
        ws = await connect(f"ws://{gateway.address}/v1/live?{query}", additional_headers=headers)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                message = json.loads(await ws.recv())
                assert message["type"] == "error", (name, message)
        codes[name] = closed.value.rcvd.code if closed.value.rcvd else None
    assert codes == {
        "foreign unit": 4403,
        "province": 4403,
        "no token": 4401,
        "tampered": 4401,
        "expired": 4401,
        "token in the URL": 4401,
    }
    # SSE: the same refusals as HTTP statuses.
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        auth = {"Authorization": f"Bearer {token}"}
        r = await client.get(f"/v1/live/sse?unit={OTHER}", headers=auth)
        assert r.status_code == 403
        r = await client.get("/v1/live/sse", headers={"Authorization": f"Bearer {body}.x"})
        assert r.status_code == 401
    # Over an accepted connection only the own district's messages arrive.
    ws = await connect(
        f"ws://{gateway.address}/v1/live", additional_headers={"Authorization": f"Bearer {token}"}
    )
    assert json.loads(await ws.recv())["type"] == "hello"
    got: list[dict[str, Any]] = []

    async def drain() -> None:
        async for raw in ws:
            got.append(json.loads(raw))

    reader = asyncio.create_task(drain())
    try:
        gateway.publish(ALERTS, alert_changed(OTHER))
        gateway.publish(METRICS_UPDATED, metric_updated(OTHER, 91.0))
        gateway.publish(METRICS_UPDATED, metric_updated("08", 85.0))
        own = alert_changed(OWN)
        gateway.publish(ALERTS, own)
        await eventually(lambda: len(got) >= 1)
        await asyncio.sleep(0.5)  # anything foreign would have arrived before the own alert
    finally:
        reader.cancel()
        await ws.close()
    assert [(m["type"], m["data"]["unit_code"]) for m in got] == [("alert", OWN)]
