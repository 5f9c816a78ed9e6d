"""Measurements 1–3: ingest's batch and single-event endpoints against raw baselines."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import httpx
import orjson
import psutil
from aiokafka import AIOKafkaProducer

from bench.figures import ratio_figure
from bench.payloads import submissions, wire
from bench.stack import Stack, say
from ioc_common.db import create_engine, session_factory
from ioc_ingest.keys import PgKeyStore

JSON = {"Content-Type": "application/json"}


async def make_key(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        _, raw = await PgKeyStore(session_factory(engine)).create(
            provider="bench",
            families=["bts", "public_service", "cashless", "observation"],
            all_units=True,
            actor="bench",
        )
    finally:
        await engine.dispose()
    return raw


def batch_bodies(count: int, size: int, seed: int) -> list[bytes]:
    return [orjson.dumps({"events": submissions(size, seed + i)}) for i in range(count)]


async def interleaved_batches(
    url: str,
    key: str,
    bodies: list[bytes],
    bootstrap: str,
    batches: list[list[dict[str, Any]]],
    pid: int,
) -> tuple[list[float], list[float], list[float]]:
    """Ingest's batch endpoint and the raw producer, run by turns (ABAB…: the machine's
    drift hits both alike). Returns ingest's events/s, the producer's events/s and ingest's
    CPU µs per event (its process's user + system time) per run; the first of each is a
    warm-up and is not returned. The producer sends the same bytes and keys to the same topics,
    acks=all and idempotent as ingest's publisher, one awaited batch at a time as ingest does."""
    ingest_rates: list[float] = []
    producer_rates: list[float] = []
    cpu_us: list[float] = []
    headers = {**JSON, "Authorization": f"Bearer {key}"}
    service = psutil.Process(pid)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=1_048_576,
    )
    await producer.start()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            for n, (body, batch) in enumerate(zip(bodies, batches, strict=True)):
                size = body.count(b'"event_id"')
                cpu = service.cpu_times()
                started = time.perf_counter()
                r = await client.post("/v1/events:batch", content=body, headers=headers)
                elapsed = time.perf_counter() - started
                after = service.cpu_times()
                if r.status_code != 202 or r.json()["accepted"] != size:
                    raise RuntimeError(f"ingest batch answered {r.status_code}: {r.text[:300]}")
                used = (after.user + after.system) - (cpu.user + cpu.system)

                records = [wire(s) for s in batch]
                p_started = time.perf_counter()
                futures = [await producer.send(t, v, key=k) for t, v, k in records]
                await asyncio.gather(*futures)
                p_elapsed = time.perf_counter() - p_started
                if n == 0:
                    say(
                        f"    warm-up: ingest {size / elapsed:,.0f} events/s,"
                        f" raw producer {len(batch) / p_elapsed:,.0f} events/s"
                    )
                    continue
                ingest_rates.append(size / elapsed)
                producer_rates.append(len(batch) / p_elapsed)
                cpu_us.append(used / size * 1e6)
                say(
                    f"    run {n}: ingest {ingest_rates[-1]:,.0f} events/s"
                    f" ({cpu_us[-1]:,.0f} CPU µs/event), raw producer"
                    f" {producer_rates[-1]:,.0f} events/s"
                )
    finally:
        await producer.stop()
    return ingest_rates, producer_rates, cpu_us


async def post_batches(url: str, key: str, bodies: list[bytes], label: str) -> list[float]:
    """Events/s of each batch (the first is a warm-up and is not returned)."""
    rates: list[float] = []
    headers = {**JSON, "Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        for n, body in enumerate(bodies):
            size = body.count(b'"event_id"')
            started = time.perf_counter()
            r = await client.post("/v1/events:batch", content=body, headers=headers)
            elapsed = time.perf_counter() - started
            if r.status_code != 202 or r.json()["accepted"] != size:
                raise RuntimeError(f"{label} answered {r.status_code}: {r.text[:300]}")
            if n == 0:
                say(f"    {label} warm-up: {size / elapsed:,.0f} events/s")
                continue
            rates.append(size / elapsed)
            say(f"    {label} run {n}: {rates[-1]:,.0f} events/s")
    return rates


async def single_events(
    url: str, key: str | None, count: int, concurrency: int, seed: int, label: str
) -> float:
    """Requests/s of ``count`` single-event POSTs, ``concurrency`` in flight."""
    bodies = [orjson.dumps(s) for s in submissions(count, seed)]
    headers = dict(JSON)
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        queue = list(reversed(bodies))

        async def worker() -> None:
            while queue:
                body = queue.pop()
                r = await client.post("/v1/events", content=body, headers=headers)
                if r.status_code != 202:
                    raise RuntimeError(f"{label} answered {r.status_code}: {r.text[:300]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


def run(
    stack: Stack,
    *,
    short: bool,
    runs: int | None = None,
    singles: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Measurements 1–3; returns the figures, ingest's batch capacity (events/s) and RSS.

    ``runs`` and ``singles`` override the mode's number of runs and of single-event requests
    per run (``python -m bench.ingest_vs_producer --runs 3 --singles 1000``)."""
    runs = runs or (1 if short else 5)
    size = 500 if short else 2000
    singles = singles or (300 if short else 3000)
    database_url = stack.new_database("bench_ingest")
    key = asyncio.run(make_key(database_url))
    env = {"DATABASE_URL": database_url, "IOC_INGEST_RATE_PER_SECOND": "0"}
    ingest = stack.start_service("ingest", "ioc_ingest.app:create_app", env, ready_path="/readyz")
    minimal = stack.start_service("minimal", "bench.apps:create_minimal_app", {})
    passthrough = stack.start_service("passthrough", "bench.apps:create_passthrough_app", {})
    try:
        say(
            f"[1/7] ingest batch endpoint vs raw aiokafka producer, by turns"
            f" ({runs} × {size} events each)"
        )
        ingest_rates, producer_rates, cpu_us = asyncio.run(
            interleaved_batches(
                ingest.url,
                key,
                batch_bodies(runs + 1, size, 1000),
                stack.bootstrap,
                [submissions(size, 2000 + i) for i in range(runs + 1)],
                ingest.proc.pid,
            )
        )
        say(f"[2/7] single-event endpoint vs minimal Starlette ({runs} × {singles} requests)")
        single_rates, minimal_rates = [], []
        asyncio.run(single_events(ingest.url, key, singles // 5, 8, 2999, "ingest single"))
        asyncio.run(single_events(minimal.url, None, singles // 5, 8, 2998, "minimal"))
        for n in range(runs):
            single_rates.append(
                asyncio.run(single_events(ingest.url, key, singles, 8, 3000 + n, "ingest single"))
            )
            minimal_rates.append(
                asyncio.run(single_events(minimal.url, None, singles, 8, 3100 + n, "minimal"))
            )
            say(
                f"    run {n + 1}: ingest {single_rates[-1]:,.0f} req/s, "
                f"minimal Starlette {minimal_rates[-1]:,.0f} req/s"
            )
        say("[3/7] validation cost: batch endpoint vs the same endpoint passing bytes through")
        pass_rates = asyncio.run(
            post_batches(passthrough.url, key, batch_bodies(runs + 1, size, 4000), "pass-through")
        )
        rss = {"ingest": ingest.rss_mb(), "minimal": minimal.rss_mb()}
    finally:
        for s in (ingest, minimal, passthrough):
            stack.stop_service(s)
    figures = {
        "ingest_batch_vs_raw_producer": ratio_figure(
            "Ingest batch endpoint vs raw aiokafka producer (acks=all)",
            "events/s",
            ingest_rates,
            producer_rates,
            "raw aiokafka producer, same bytes/keys/topics, acks=all, idempotent",
            0.5,
            batch_events=size,
            order="interleaved: ingest, producer, ingest, producer, …",
            spread={
                "ingest": _spread(ingest_rates),
                "producer": _spread(producer_rates),
            },
            ingest_cpu_us_per_event=round(statistics.median(cpu_us), 1),
            ingest_cpu_us_per_event_runs=[round(c, 1) for c in cpu_us],
        ),
        "single_event_vs_minimal_starlette": ratio_figure(
            "Single-event endpoint vs minimal Starlette JSON endpoint",
            "requests/s",
            single_rates,
            minimal_rates,
            "minimal Starlette JSON endpoint, same uvicorn/uvloop stack, 8 in flight",
            0.6,
            requests=singles,
            concurrency=8,
        ),
        "validation_cost": ratio_figure(
            "Batch endpoint with full validation vs the same endpoint passing bytes through",
            "events/s",
            ingest_rates,
            pass_rates,
            "pass-through endpoint: JSON split + publish_many with ingest's KafkaPublisher",
            None,
            batch_events=size,
        ),
    }
    return figures, {"capacity": max(ingest_rates), "rss_mb": rss}


def _spread(rates: list[float]) -> float | None:
    """max ÷ min of the runs (1.0: every run alike)."""
    return round(max(rates) / min(rates), 2) if rates and min(rates) > 0 else None
