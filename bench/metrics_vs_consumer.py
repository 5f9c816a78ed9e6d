"""Events/s the metrics service aggregates and commits vs a raw aiokafka consume, same run.

    .venv/bin/python -m bench.metrics_vs_consumer [--events 20000] [--runs 2]

Starts its own Apache Kafka and PostgreSQL, pre-loads the telemetry topics with a realistic
stream (the integration tests' generator: every family, stock corrections, late arrivals, 5%
re-sent duplicates), then per run

* reads every record with a raw ``AIOKafkaConsumer`` (no group, from the beginning) — the
  ceiling for any consumer on this broker;
* runs the metrics service (consume, decode, aggregate, one PostgreSQL transaction per batch
  with event ids and offsets, outbox drain) in a fresh database and consumer group until the
  stored offsets reach the end of every partition.

Writes ``bench/results/metrics.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from ioc_common.db import create_engine
from ioc_common.db.migrate import upgrade
from ioc_common.infra.kafka_local import LocalKafka
from ioc_common.infra.postgres_local import LocalPostgres
from ioc_common.kafka.admin import ensure_topics, wait_for_broker
from ioc_common.topics import ALL_TOPICS, TELEMETRY_TOPICS
from ioc_metrics.app import create_app
from ioc_metrics.config import MetricsSettings
from services.metrics.tests.running import publish, wait_consumed
from services.metrics.tests.streams import make_stream, records

RESULTS = Path(__file__).parent / "results" / "metrics.json"


def say(text: str) -> None:
    print(text, flush=True)


async def raw_consume(bootstrap: str, ends: dict[tuple[str, int], int]) -> float:
    total = sum(ends.values())
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t, p in ends]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        seen = 0
        started = time.perf_counter()
        while seen < total:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            seen += sum(len(v) for v in batches.values())
        return total / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def metrics_run(
    bootstrap: str, database_url: str, ends: dict[tuple[str, int], int], batch: int
) -> dict[str, float]:
    group = f"bench-{uuid.uuid4().hex[:8]}"
    settings = MetricsSettings(
        kafka_bootstrap_servers=bootstrap, database_url=database_url, group_id=group,
        batch_size=batch, poll_timeout_ms=200, log_level="WARNING",
    )  # fmt: skip
    app = create_app(settings)
    engine = create_engine(database_url)
    total = sum(ends.values())
    try:
        started = time.perf_counter()
        async with app.router.lifespan_context(app):
            await wait_consumed(engine, group, ends, timeout_s=1800)
            elapsed = time.perf_counter() - started
    finally:
        await engine.dispose()
    return {"events_per_s": total / elapsed, "seconds": elapsed}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    say("starting Apache Kafka and PostgreSQL ...")
    kafka = LocalKafka().start()
    postgres = LocalPostgres().start()
    try:
        await wait_for_broker(kafka.bootstrap)
        await ensure_topics(kafka.bootstrap, ALL_TOPICS)
        stream = make_stream(args.events, seed=1)
        say(f"pre-loading {len(stream)} events onto {len(TELEMETRY_TOPICS)} topics ...")
        ends = await publish(kafka.bootstrap, records(stream))
        raw_rates, service_rates, service_seconds = [], [], []
        for run in range(args.runs):
            rate = await raw_consume(kafka.bootstrap, ends)
            raw_rates.append(rate)
            say(f"run {run + 1}: raw aiokafka consume {rate:,.0f} events/s")
            url = postgres.create_database(f"bench_{uuid.uuid4().hex[:8]}")
            await asyncio.to_thread(upgrade, url)
            result = await metrics_run(kafka.bootstrap, url, ends, args.batch)
            service_rates.append(result["events_per_s"])
            service_seconds.append(result["seconds"])
            say(
                f"run {run + 1}: metrics service {result['events_per_s']:,.0f} events/s "
                f"aggregated and committed ({result['seconds']:.1f}s incl. group join)"
            )
        raw, service = statistics.median(raw_rates), statistics.median(service_rates)
        out = {
            "events": len(stream),
            "distinct_events": len({e["event_id"] for e in stream}),
            "batch_size": args.batch,
            "runs": args.runs,
            "raw_aiokafka_consume_events_per_s": round(raw),
            "metrics_service_events_per_s": round(service),
            "ratio_service_to_raw": round(service / raw, 4),
            "raw_runs": [round(r) for r in raw_rates],
            "service_runs": [round(r) for r in service_rates],
            "service_seconds": [round(s, 2) for s in service_seconds],
            "machine": {"python": platform.python_version(), "cpus": _cpus()},
            "note": "service time includes consumer-group join and outbox drain; same broker, "
            "same topics, same run",
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")
        say(json.dumps(out, indent=2))
        say(f"written to {RESULTS}")
        return out
    finally:
        postgres.destroy()
        kafka.destroy()


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2000)
    asyncio.run(main(parser.parse_args()))
