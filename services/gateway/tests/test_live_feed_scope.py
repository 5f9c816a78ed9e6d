"""The live feed over WebSocket applies the unit scope and the filters, refuses a foreign
unit, resumes after a reconnect from the last message seen, and delivers every update of a
``MetricUpdates`` record."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ioc_common.testing import eventually
from ioc_common.topics import ALERTS, METRICS_UPDATED
from ioc_gateway.testing import Gateway, alert_changed, metric_updated

pytestmark = pytest.mark.connected  # users live in PostgreSQL; the feed is in memory here


async def _ws(gateway: Gateway, username: str, query: str = "") -> ClientConnection:
    token = await gateway.token(username)
    ws = await connect(
        f"ws://{gateway.address}/v1/live?{query.lstrip('&')}",
        additional_headers={"Authorization": f"Bearer {token}"},
    )
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello"
    return ws


async def _drain(ws: ClientConnection, into: list[dict[str, Any]]) -> None:
    async for raw in ws:
        into.append(json.loads(raw))


async def test_a_district_operator_receives_only_their_districts_messages(
    gateway: Gateway,
) -> None:
    district = await gateway.user("live071", "operator", "071")
    province = await gateway.user("live08", "viewer", "08")
    ws_d, ws_p = await _ws(gateway, district), await _ws(gateway, province)
    got_d: list[dict[str, Any]] = []
    got_p: list[dict[str, Any]] = []
    readers = [asyncio.create_task(_drain(ws_d, got_d)), asyncio.create_task(_drain(ws_p, got_p))]
    try:
        foreign = alert_changed("070")
        gateway.publish(ALERTS, foreign)
        gateway.publish(ALERTS, alert_changed("34"))  # another province: nobody here
        gateway.publish(METRICS_UPDATED, metric_updated("070", 91.0))
        gateway.publish(METRICS_UPDATED, metric_updated("08", 85.0))
        await eventually(lambda: len(got_p) == 3)
        # Everything above reached the hub before this; the district client was offered it.
        own = alert_changed("071")
        gateway.publish(ALERTS, own)
        await eventually(lambda: len(got_d) == 1 and len(got_p) == 4)
    finally:
        for task in readers:
            task.cancel()
        await ws_d.close()
        await ws_p.close()
    assert [(m["type"], m["data"]["alert_id"]) for m in got_d] == [("alert", str(own.alert_id))]
    assert got_d[0]["data"]["unit_name"] == "Huyện Lâm Bình"
    assert {(m["type"], m["data"]["unit_code"]) for m in got_p} == {
        ("alert", "070"),
        ("metric", "070"),
        ("metric", "08"),
        ("alert", "071"),
    }


async def test_filters_narrow_the_feed_and_a_foreign_unit_is_refused(gateway: Gateway) -> None:
    district = await gateway.user("filt071", "operator", "071")
    province = await gateway.user("filt08", "operator", "08")
    token = await gateway.token(district)
    refused = await connect(
        f"ws://{gateway.address}/v1/live?unit=070",
        additional_headers={"Authorization": f"Bearer {token}"},
    )
    message = json.loads(await refused.recv())
    assert (message["type"], message["error"]["code"]) == ("error", "forbidden")
    with pytest.raises(ConnectionClosed) as closed:
        await refused.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403

    ws = await _ws(gateway, province, "&unit=070&severity=critical&type=alert&type=metric")
    got: list[dict[str, Any]] = []
    reader = asyncio.create_task(_drain(ws, got))
    try:
        gateway.publish(ALERTS, alert_changed("071"))  # another district
        gateway.publish(ALERTS, alert_changed("070", severity="warning"))
        gateway.publish(ALERTS, alert_changed("00691", pillar="infrastructure"))
        marker = alert_changed("070")
        gateway.publish(ALERTS, marker)
        gateway.publish(METRICS_UPDATED, metric_updated("070", 50.0))
        await eventually(lambda: len(got) >= 2)
        await asyncio.sleep(0.3)
    finally:
        reader.cancel()
        await ws.close()
    assert [(m["type"], m["data"]["unit_code"]) for m in got] == [
        ("alert", "070"),
        ("metric", "070"),
    ]
    assert got[0]["data"]["alert_id"] == str(marker.alert_id)


async def test_a_reconnecting_client_resumes_after_the_last_message_it_saw(
    gateway: Gateway,
) -> None:
    user = await gateway.user("resume", "viewer", "08")
    ws = await _ws(gateway, user, "&type=alert")
    first = alert_changed("070")
    gateway.publish(ALERTS, first)
    seen = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert seen["data"]["alert_id"] == str(first.alert_id)
    await ws.close()
    missed = [alert_changed("071"), alert_changed("072")]
    for event in missed:
        gateway.publish(ALERTS, event)
    await eventually(lambda: gateway.state.hub.last_seq >= seen["seq"] + 2)
    ws = await _ws(gateway, user, f"&type=alert&after={seen['seq']}")
    try:
        replayed = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in missed]
    finally:
        await ws.close()
    assert [m["data"]["alert_id"] for m in replayed] == [str(e.alert_id) for e in missed]
    assert [m["seq"] for m in replayed] == [seen["seq"] + 1, seen["seq"] + 2]


async def test_every_update_of_a_record_of_several_reaches_the_matching_clients(
    gateway: Gateway,
) -> None:
    """Two units' worth in two records, three updates each (as the metrics service publishes a
    batch): the province client gets all six in order, the district client its unit's three."""
    district = await gateway.user("many071", "operator", "071")
    province = await gateway.user("many08", "viewer", "08")
    ws_d, ws_p = await _ws(gateway, district), await _ws(gateway, province)
    got_d: list[dict[str, Any]] = []
    got_p: list[dict[str, Any]] = []
    readers = [asyncio.create_task(_drain(ws_d, got_d)), asyncio.create_task(_drain(ws_p, got_p))]

    def three(unit: str, base: float) -> list[Any]:
        return [
            metric_updated(unit, base, version=4),
            metric_updated(unit, base + 1, period="2026-10", period_start=date(2026, 10, 1)),
            metric_updated(unit, base + 2, indicator="dossiers_submitted_online_rate", version=2),
        ]

    try:
        gateway.publish_updates(METRICS_UPDATED, *three("071", 10.0))
        gateway.publish_updates(METRICS_UPDATED, *three("070", 20.0))
        await eventually(lambda: len(got_p) == 6 and len(got_d) == 3)
        await asyncio.sleep(0.3)  # nothing more comes
    finally:
        for task in readers:
            task.cancel()
        await ws_d.close()
        await ws_p.close()

    def seen(got: list[dict[str, Any]]) -> list[tuple[str, str, str, float]]:
        return [
            (m["type"], m["data"]["unit_code"], m["data"]["period"], m["data"]["value"])
            for m in got
        ]

    assert seen(got_p) == [
        ("metric", "071", "2026-11", 10.0),
        ("metric", "071", "2026-10", 11.0),
        ("metric", "071", "2026-11", 12.0),
        ("metric", "070", "2026-11", 20.0),
        ("metric", "070", "2026-10", 21.0),
        ("metric", "070", "2026-11", 22.0),
    ]
    assert seen(got_d) == seen(got_p)[:3]
    assert [m["data"]["indicator"] for m in got_d][-1] == "dossiers_submitted_online_rate"
    assert [m["data"]["version"] for m in got_d] == [4, 1, 2]
