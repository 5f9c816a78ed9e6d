"""Measurements 4 and 7: the metrics service (consume, aggregate, commit with offsets) against a
raw aiokafka consume of the same pre-loaded records, and with 1 and 2 consumer processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.figures import ratio_figure
from bench.payloads import stream
from bench.progress import committed_rate
from bench.stack import Service, Stack, plain_url, say
from ioc_common.kafka.admin import ensure_topics

Ends = dict[tuple[str, int], int]


async def preload(bootstrap: str, events: int, seed: int) -> tuple[list[str], Ends]:
    """Fresh topics of this run (one per family) holding ``events`` records."""
    run = uuid.uuid4().hex[:8]
    records = stream(events, seed)
    topic_of = {t: f"bench.{run}.{t.split('.')[2]}" for t in {r[0] for r in records}}
    await ensure_topics(bootstrap, topic_of.values())
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=1_048_576
    )
    await producer.start()
    ends: Ends = {}
    try:
        futures = [await producer.send(topic_of[t], v, key=k) for t, v, k in records]
        for meta in await asyncio.gather(*futures):
            part = (meta.topic, meta.partition)
            ends[part] = max(ends.get(part, 0), meta.offset + 1)
    finally:
        await producer.stop()
    return sorted(topic_of.values()), ends


@contextlib.asynccontextmanager
async def from_the_beginning(bootstrap: str, ends: Ends) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer of the pre-loaded partitions, no group, at their first record."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t, p in ends]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        yield consumer
    finally:
        await consumer.stop()


async def raw_consume(bootstrap: str, ends: Ends) -> float:
    total = sum(ends.values())
    async with from_the_beginning(bootstrap, ends) as consumer:
        seen = 0
        started = time.perf_counter()
        while seen < total:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            seen += sum(len(v) for v in batches.values())
        return total / (time.perf_counter() - started)


async def minimal_exactly_once(bootstrap: str, ends: Ends, database_url: str) -> float:
    """The least an exactly-once consumer does: consume, decode, and per batch ONE upsert of
    per-(unit, family) counts plus the next offsets, in one transaction. The metrics service
    against it says what the domain (facts, roll-ups, corrections, outbox) costs."""
    total = sum(ends.values())
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_minimal_counts (unit text, family text,"
            " events bigint NOT NULL, PRIMARY KEY (unit, family));"
            "CREATE TABLE IF NOT EXISTS bench_minimal_offsets (topic text, part int,"
            " next_offset bigint NOT NULL, PRIMARY KEY (topic, part))"
        )
        async with from_the_beginning(bootstrap, ends) as consumer:
            return await _count_exactly_once(consumer, conn, total)
    finally:
        await conn.close()


async def _count_exactly_once(consumer: AIOKafkaConsumer, conn: Any, total: int) -> float:
    seen = 0
    started = time.perf_counter()
    while seen < total:
        batches = await consumer.getmany(timeout_ms=100, max_records=5000)
        counts: dict[tuple[str, str], int] = {}
        offsets: dict[tuple[str, int], int] = {}
        for tp, records in batches.items():
            for r in records:
                event = orjson.loads(r.value)
                cell = (event["unit_code"], event["family"])
                counts[cell] = counts.get(cell, 0) + 1
            offsets[(tp.topic, tp.partition)] = records[-1].offset + 1
            seen += len(records)
        if not counts:
            continue
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO bench_minimal_counts SELECT * FROM unnest($1::text[],"
                " $2::text[], $3::bigint[]) ON CONFLICT (unit, family) DO UPDATE"
                " SET events = bench_minimal_counts.events + EXCLUDED.events",
                [c[0] for c in counts],
                [c[1] for c in counts],
                list(counts.values()),
            )
            await conn.execute(
                "INSERT INTO bench_minimal_offsets SELECT * FROM unnest($1::text[],"
                " $2::int[], $3::bigint[]) ON CONFLICT (topic, part) DO UPDATE"
                " SET next_offset = EXCLUDED.next_offset",
                [o[0] for o in offsets],
                [o[1] for o in offsets],
                list(offsets.values()),
            )
    return total / (time.perf_counter() - started)


async def wait_committed(database_url: str, group: str, total: int, timeout_s: float) -> float:
    """Events/s from the first committed batch to the last (``progress.committed_rate``),
    told from the offsets the service stores with its aggregates."""
    # One connection for all polls: a new one every 50 ms costs a PostgreSQL backend start
    # each time, CPU taken from the service being measured on the same cores.
    conn = await asyncpg.connect(plain_url(database_url))

    async def committed() -> int:
        return int(
            await conn.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM metrics_offsets WHERE group_id = $1",
                group,
            )
        )

    try:
        return await committed_rate(
            committed, total, what="metrics", timeout_s=timeout_s, every_s=0.05
        )
    finally:
        await conn.close()


def service_run(stack: Stack, events: int, seed: int, processes: int) -> tuple[float, float, float]:
    """(metrics events/s with ``processes`` consumers, raw consume events/s, minimal
    exactly-once consumer events/s) on fresh topics."""
    topics, ends = asyncio.run(preload(stack.bootstrap, events, seed))
    raw = asyncio.run(raw_consume(stack.bootstrap, ends))
    minimal = asyncio.run(
        minimal_exactly_once(stack.bootstrap, ends, stack.new_database("bench_minimal"))
    )
    database_url = stack.new_database("bench_metrics")
    group = f"bench-{uuid.uuid4().hex[:8]}"
    env = {
        "DATABASE_URL": database_url,
        "IOC_METRICS_GROUP_ID": group,
        "IOC_METRICS_TOPICS": json.dumps(topics),
    }
    services: list[Service] = []
    try:
        # Launched together, then waited for: one started after another was ready would
        # find most records taken already.
        for n in range(processes):
            services.append(
                stack.launch_service(f"metrics-{n + 1}", "ioc_metrics.app:create_app", env)
            )
        for service in services:
            stack.wait_ready(service)
        rate = asyncio.run(wait_committed(database_url, group, sum(ends.values()), 1800))
    finally:
        for s in services:
            stack.stop_service(s)
    return rate, raw, minimal


def run(stack: Stack, *, short: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    runs = 1 if short else 3
    # Short: still three batches of 5,000, so a poll sees the service's progress before its end.
    events = 15_000 if short else 30_000
    say(f"[4/7] metrics service vs raw aiokafka consume ({runs} × {events:,} records)")
    service_rates, raw_rates, minimal_rates = [], [], []
    for n in range(runs):
        rate, raw, minimal = service_run(stack, events, 10 + n, 1)
        service_rates.append(rate)
        raw_rates.append(raw)
        minimal_rates.append(minimal)
        say(
            f"    run {n + 1}: metrics {rate:,.0f} events/s, raw consume {raw:,.0f} events/s,"
            f" minimal exactly-once consumer {minimal:,.0f} events/s"
        )
    say(f"[7/7] metrics throughput with 1 and 2 consumer processes ({runs} × {events:,})")
    two_rates = []
    for n in range(runs):
        rate, _, _ = service_run(stack, events, 20 + n, 2)
        two_rates.append(rate)
        say(f"    run {n + 1}: 2 processes {rate:,.0f} events/s")
    figures = {
        "metrics_vs_raw_consume": ratio_figure(
            "Metrics service (consume, aggregate, commit with offsets) vs raw aiokafka consume",
            "events/s",
            service_rates,
            raw_rates,
            "raw aiokafka consume of the same records (no group, from the beginning)",
            0.06,
            events=events,
            note="from the first committed batch to the last; 5% re-sent duplicates",
        ),
        "metrics_vs_minimal_exactly_once": ratio_figure(
            "Metrics service vs a minimal exactly-once consumer (what the domain costs)",
            "events/s",
            service_rates,
            minimal_rates,
            "consume, decode, one upsert of per-unit counts + offsets per batch, one transaction",
            None,
            events=events,
        ),
        "metrics_scaling_1_to_2": ratio_figure(
            "Metrics service with 2 consumer processes vs 1",
            "events/s",
            two_rates,
            service_rates,
            "the same service with 1 consumer process (measurement 4)",
            None,
            events=events,
        ),
    }
    return figures, {"capacity": max(service_rates)}
