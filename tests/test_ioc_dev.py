"""``ioc dev`` on its embedded default (Tansu + embedded PostgreSQL): it comes up, its broker
round-trips a message, the simulator fills the metrics and raises alerts within about a minute,
and Ctrl-C stops everything cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from ioc_common.db import create_engine
from ioc_common.db.migrate import current_heads
from ioc_common.dev import DevProcess, start_dev_process
from ioc_common.infra.process import free_port
from ioc_common.kafka.consumer import KafkaConsumer
from ioc_common.kafka.publisher import KafkaPublisher
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.timeutil import vietnam_today
from ioc_common.topics import DLQ

pytestmark = [pytest.mark.connected, pytest.mark.slow]


def start_dev(*, simulate: bool) -> DevProcess:
    env = {
        k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
    }
    args = [*([] if simulate else ["--no-simulate"]), "--base-port", str(free_port())]
    return start_dev_process(args, env)


async def test_ioc_dev_round_trips_a_message_and_stops_cleanly() -> None:
    dev = start_dev(simulate=False)
    ready = dev.ready
    try:
        bootstrap = str(ready["kafka"])
        publisher = KafkaPublisher(bootstrap)  # idempotence "auto": Tansu refuses it
        await publisher.start()
        marker = uuid.uuid4().hex.encode()
        await publisher.publish_many([OutgoingRecord(DLQ, marker, key="smoke")])
        await publisher.stop()

        consumer = KafkaConsumer(bootstrap, [DLQ], group_id=f"smoke-{uuid.uuid4().hex[:6]}")
        await consumer.start()
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while marker not in got and time.monotonic() < deadline:
            got += [r.value for r in await consumer.getmany(timeout_ms=500, max_records=100)]
        await consumer.stop()
        assert marker in got

        engine = create_engine(str(ready["database"]))
        async with engine.connect() as conn:
            from sqlalchemy import text

            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        assert (version,) == current_heads()
        await engine.dispose()
    finally:
        out = await stop_dev(dev)
    assert "stopping" in out


async def stop_dev(dev: DevProcess) -> str:
    dev.proc.send_signal(signal.SIGINT)
    await asyncio.to_thread(dev.proc.wait, 60)
    await asyncio.sleep(0.5)  # let the drain thread read the last lines
    out = "".join(dev.output)
    if dev.proc.stdout is not None:
        dev.proc.stdout.close()
    assert dev.proc.returncode == 0, out[-3000:]
    return out


async def test_ioc_dev_shows_district_values_and_open_alerts_within_a_minute() -> None:
    dev = start_dev(simulate=True)
    last_month = vietnam_today().replace(day=1) - timedelta(days=1)
    period = f"{last_month.year:04d}-{last_month.month:02d}"
    districts: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    try:
        metrics, alerts_url = dev.urls["metrics"], dev.urls["alerts"]
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(timeout=30) as client:
            while time.monotonic() < deadline and not (districts and alerts):
                await asyncio.sleep(2)
                ranking = await client.get(
                    f"{metrics}/v1/rankings",
                    headers=dev.service_headers("metrics"),
                    params={"indicator": "dossiers_processed_online_rate", "province": "08",
                            "granularity": "month", "period": period},
                )  # fmt: skip
                if ranking.status_code == 200:
                    districts = [d for d in ranking.json()["items"] if d["value"] is not None]
                listed = await client.get(
                    f"{alerts_url}/v1/alerts",
                    params={"state": "firing"},
                    headers=dev.service_headers("alerts"),
                )
                if listed.status_code == 200:
                    alerts = listed.json()["items"]
    finally:
        out = await stop_dev(dev)
    assert districts, "no district values for province 08 after 90 s:\n" + out[-3000:]
    assert alerts, "no open alert after 90 s:\n" + out[-3000:]
