"""A client that stops reading does not hold up the others or the consumer: the fast client
receives every message while the slow one's metric updates are coalesced (the latest value
of each aggregate survives) and its other messages dropped with a counter and a resync."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from ioc_common.reference.units import unit_tree
from ioc_common.testing import eventually
from ioc_common.timeutil import vietnam_today
from ioc_common.topics import ALERTS, METRICS_UPDATED
from ioc_gateway.testing import Gateway, alert_changed, gateway_harness, metric_updated

pytestmark = pytest.mark.connected  # users live in PostgreSQL; the feed is in memory here

#: Enough bytes (about 450 each) to fill the stalled client's socket buffers several times.
MESSAGES = 24_000
CHUNK = 500
QUERY = "type=metric&type=alert"


def _metric_value(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def _connect_fast(address: str, token: str) -> ClientConnection:
    ws = await connect(
        f"ws://{address}/v1/live?{QUERY}",
        max_size=None,
        additional_headers={"Authorization": f"Bearer {token}"},
    )
    assert json.loads(await ws.recv())["type"] == "hello"
    return ws


class StalledClient:
    """A WebSocket client on a bare socket that stops reading after the handshake, like a
    frozen browser tab: nothing buffers for it in user space, so the server's writes back up
    once the kernel's socket buffers are full."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, address: str, token: str) -> StalledClient:
        host, port = address.split(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /v1/live?{QUERY} HTTP/1.1\r\nHost: {address}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        client = cls(reader, writer)
        assert json.loads(await client.recv())["type"] == "hello"
        return client

    async def recv(self) -> str:
        """The next text message (server frames are unmasked and, here, unfragmented)."""
        while True:
            first, second = await self.reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(await self.reader.readexactly(2))
            elif length == 127:
                length = int.from_bytes(await self.reader.readexactly(8))
            payload = await self.reader.readexactly(length)
            if first & 0x0F == 0x1:
                return payload.decode()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def test_a_stalled_client_does_not_slow_a_fast_one(database_url: str) -> None:
    async with gateway_harness(
        database_url,
        client_queue_size=CHUNK * 2,
        client_overflow_limit=10_000,
        # The stalled client cannot answer keep-alive pings; that is uvicorn's business.
        server={"ws_ping_interval": None},
    ) as gateway:
        await _run(gateway)


async def _run(gateway: Gateway) -> None:
    user = await gateway.user("speed", "viewer", "08")
    token = await gateway.token(user)
    fast = await _connect_fast(gateway.address, token)
    slow = await StalledClient.connect(gateway.address, token)
    received: list[dict[str, Any]] = []

    async def read_fast() -> None:
        async for raw in fast:
            received.append(json.loads(raw))

    reader = asyncio.create_task(read_fast())
    districts = [d.code for d in unit_tree().districts_of_province("08", vietnam_today())]
    last_version: dict[str, int] = {}
    try:
        # Paced in chunks the fast client can absorb: it must get each chunk in full while
        # the stalled client's socket and then its buffer fill up.
        for n in range(MESSAGES):
            unit = districts[n % len(districts)]
            last_version[unit] = n + 1
            gateway.publish(METRICS_UPDATED, metric_updated(unit, n % 100, version=n + 1))
            if (n + 1) % CHUNK == 0:
                await eventually(lambda n=n: len(received) >= n + 1, timeout_s=60)
        alert = alert_changed("071")
        gateway.publish(ALERTS, alert)  # the stalled client's buffer is full: dropped there
        await eventually(lambda: len(received) == MESSAGES + 1)

        assert [m["seq"] for m in received] == list(range(1, MESSAGES + 2))
        assert received[-1]["data"]["alert_id"] == str(alert.alert_id)
        async with httpx.AsyncClient(base_url=gateway.url) as api:
            metrics = (await api.get("/metrics")).text
        assert _metric_value(metrics, "ioc_gateway_live_messages_coalesced_total") > 0
        assert _metric_value(metrics, 'ioc_gateway_live_messages_dropped_total{type="alert"}') == 1
        assert _metric_value(metrics, "ioc_gateway_live_clients") == 2

        # Once the stalled client reads again it gets the latest value of every aggregate and
        # is told to resynchronise (it missed the alert).
        late: list[dict[str, Any]] = []
        while not late or late[-1]["type"] != "resync":
            late.append(json.loads(await asyncio.wait_for(slow.recv(), 30)))
        # What sat in socket buffers, its queue, then one update per aggregate: fewer in all.
        assert len(late) < MESSAGES
        assert all(m["type"] == "metric" for m in late[:-1])
        latest: dict[str, int] = {}
        for m in late:
            if m["type"] == "metric":
                unit = m["data"]["unit_code"]
                latest[unit] = max(latest.get(unit, 0), m["data"]["version"])
        assert latest == last_version
    finally:
        reader.cancel()
        await fast.close()
        await slow.close()
