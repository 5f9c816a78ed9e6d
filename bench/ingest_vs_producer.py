"""Events/s of ingest's batch endpoint vs a raw aiokafka producer, same broker, same run.

    .venv/bin/python -m bench.ingest_vs_producer [--batch 1000] [--runs 5]

Starts its own Apache Kafka and PostgreSQL, runs ingest under uvicorn in a subprocess, posts
batches over HTTP (each answered only after Kafka acknowledged it), then sends the same event
bytes with the same keys to the same topic with a raw ``AIOKafkaProducer`` (acks=all,
idempotent), one awaited batch at a time as ingest does. Writes ``bench/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from ioc_common.db import create_engine, session_factory
from ioc_common.db.migrate import upgrade
from ioc_common.events import TELEMETRY_ADAPTER, Family, encode_event
from ioc_common.infra.kafka_local import LocalKafka
from ioc_common.infra.postgres_local import LocalPostgres
from ioc_common.infra.process import free_port, stop_process
from ioc_common.kafka.admin import ensure_topics, wait_for_broker
from ioc_common.reference.units import unit_tree
from ioc_common.timeutil import utc_now, vietnam_today
from ioc_common.topics import ALL_TOPICS, telemetry_topic
from ioc_ingest.keys import PgKeyStore

RESULTS = Path(__file__).parent / "results" / "ingest.json"


def submissions(n: int) -> list[dict[str, Any]]:
    """Realistic BTS reports for this month, spread over Tuyên Quang's communes."""
    today = vietnam_today()
    communes = [u.code for u in unit_tree().children("08", today)]
    return [
        {
            "event_id": str(uuid.uuid4()),
            "family": "bts",
            "unit_code": communes[i % len(communes)],
            "observed_at": f"{today:%Y-%m}",
            "payload": {
                "operator": "Viettel",
                "technology": "4G",
                "sites": i % 50,
                "villages_total": 40,
                "villages_covered": 35,
            },
        }
        for i in range(n)
    ]


def wire(sub: dict[str, Any]) -> tuple[bytes, str]:
    """The bytes and key ingest itself would publish for this submission."""
    event = TELEMETRY_ADAPTER.validate_python({**sub, "received_at": utc_now(), "source": "bench"})
    key = unit_tree().district_of(event.unit_code, event.observed_at) or event.unit_code
    return encode_event(event), key


async def bench_ingest(url: str, key: str, batch: int, runs: int) -> list[float]:
    rates: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        headers = {"Authorization": f"Bearer {key}"}
        for run in range(runs + 1):
            body = {"events": submissions(batch)}
            started = time.perf_counter()
            r = await client.post("/v1/events:batch", json=body, headers=headers)
            elapsed = time.perf_counter() - started
            if r.status_code != 202 or r.json()["accepted"] != batch:
                raise RuntimeError(f"ingest answered {r.status_code}: {r.text[:500]}")
            if run == 0:
                print(f"  ingest warm-up: {batch / elapsed:,.0f} events/s", flush=True)
                continue
            rates.append(batch / elapsed)
            print(f"  ingest run {run}: {rates[-1]:,.0f} events/s", flush=True)
    return rates


async def bench_producer(bootstrap: str, batch: int, runs: int) -> list[float]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=1_048_576,
    )
    await producer.start()
    topic = telemetry_topic(Family.BTS)
    rates: list[float] = []
    try:
        for run in range(runs + 1):
            records = [wire(s) for s in submissions(batch)]
            started = time.perf_counter()
            futures = [await producer.send(topic, value, key=k.encode()) for value, k in records]
            await asyncio.gather(*futures)
            elapsed = time.perf_counter() - started
            if run == 0:
                print(f"  producer warm-up: {batch / elapsed:,.0f} events/s", flush=True)
                continue
            rates.append(batch / elapsed)
            print(f"  producer run {run}: {rates[-1]:,.0f} events/s", flush=True)
    finally:
        await producer.stop()
    return rates


async def make_key(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        _, raw = await PgKeyStore(session_factory(engine)).create(
            provider="bench", families=["bts"], all_units=True, actor="bench"
        )
    finally:
        await engine.dispose()
    return raw


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ingest exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError("ingest did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    print("[1/5] starting Apache Kafka and PostgreSQL ...", flush=True)
    kafka = LocalKafka().start()
    postgres = LocalPostgres().start()
    ingest: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(wait_for_broker(kafka.bootstrap))
        asyncio.run(ensure_topics(kafka.bootstrap, ALL_TOPICS))
        database_url = postgres.url()
        upgrade(database_url)
        key = asyncio.run(make_key(database_url))

        print("[2/5] starting ingest under uvicorn ...", flush=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "DATABASE_URL": database_url,
            "IOC_INGEST_RATE_PER_SECOND": "0",
            "IOC_LOG_LEVEL": "WARNING",
        }
        # Our own service, started from this interpreter.
        ingest = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "uvicorn", "--factory", "ioc_ingest.app:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            env=env,
        )  # fmt: skip
        wait_healthy(url, ingest)

        print(f"[3/5] ingest batch endpoint: {args.runs} runs of {args.batch} events", flush=True)
        ingest_rates = asyncio.run(bench_ingest(url, key, args.batch, args.runs))
        print(f"[4/5] raw aiokafka producer: {args.runs} runs of {args.batch} events", flush=True)
        producer_rates = asyncio.run(bench_producer(kafka.bootstrap, args.batch, args.runs))
    finally:
        if ingest is not None:
            stop_process(ingest, timeout_s=10)
        kafka.destroy()
        postgres.destroy()

    ingest_median = statistics.median(ingest_rates)
    producer_median = statistics.median(producer_rates)
    result = {
        "benchmark": "ingest batch endpoint vs raw aiokafka producer (acks=all)",
        "when": utc_now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "batch_events": args.batch,
        "runs": args.runs,
        "ingest_events_per_s": {"median": ingest_median, "runs": ingest_rates},
        "raw_producer_events_per_s": {"median": producer_median, "runs": producer_rates},
        "ratio_ingest_to_raw": ingest_median / producer_median,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"[5/5] ingest {ingest_median:,.0f} events/s, raw producer {producer_median:,.0f} "
        f"events/s, ratio {result['ratio_ingest_to_raw']:.2f} → {RESULTS}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
