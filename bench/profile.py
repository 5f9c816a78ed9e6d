"""``python -m bench.profile [metrics|ingest|ingest-single]``: pyinstrument over the service
doing real work.

metrics: pre-loads records onto fresh topics and runs the service in this process until it
committed them all; ingest: posts batches of 2,000 events to the app in this process;
ingest-single: one event per request, 8 requests in flight (``--events`` requests).
Prints the call tree and writes ``bench/results/profile-<service>.txt``."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path

import httpx
import orjson
from pyinstrument import Profiler

from bench.ingest import make_key
from bench.metrics import preload, wait_committed
from bench.payloads import submissions
from bench.stack import Stack, say

RESULTS = Path(__file__).parent / "results"


async def _metrics(stack: Stack, events: int, database_url: str, profiler: Profiler) -> float:
    from ioc_metrics.app import create_app
    from ioc_metrics.config import MetricsSettings

    topics, ends = await preload(stack.bootstrap, events, 5)
    group = f"profile-{uuid.uuid4().hex[:8]}"
    settings = MetricsSettings(
        kafka_bootstrap_servers=stack.bootstrap, database_url=database_url, group_id=group,
        topics=tuple(topics), log_level="WARNING",
    )  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        profiler.start()
        rate = await wait_committed(database_url, group, sum(ends.values()), 1800)
        profiler.stop()
    return rate


async def _ingest(
    database_url: str, bootstrap: str, events: int, profiler: Profiler, *, single: bool
) -> float:
    """Batches of 2,000 events, or (``single``) one event per request with 8 in flight."""
    import os

    os.environ.update({"DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": bootstrap})
    from ioc_ingest.app import create_app
    from ioc_ingest.config import IngestSettings

    key = await make_key(database_url)
    app = create_app(IngestSettings(rate_per_second=0, log_level="WARNING"))
    if single:
        path, per = "/v1/events", 1
        bodies = [orjson.dumps(s) for s in submissions(events + 200, 50)]
    else:
        path, per = "/v1/events:batch", 2000
        bodies = [
            orjson.dumps({"events": submissions(2000, 50 + i)}) for i in range(events // 2000 + 1)
        ]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://i") as client:

            async def worker(queue: list[bytes]) -> None:
                while queue:
                    r = await client.post(path, content=queue.pop(), headers=headers)
                    assert r.status_code == 202, r.text

            warm, workers = (200, 8) if single else (1, 1)
            queue = bodies[:warm]
            await asyncio.gather(*(worker(queue) for _ in range(workers)))
            queue = bodies[warm:][::-1]
            started = time.perf_counter()
            profiler.start()
            await asyncio.gather(*(worker(queue) for _ in range(workers)))
            profiler.stop()
    return per * (len(bodies) - warm) / (time.perf_counter() - started)


async def _alerts(stack: Stack, events: int, profiler: Profiler) -> float:
    """The alerts service consuming pre-loaded metric updates (see ``bench.alerts``)."""
    from bench.alerts import run

    return await run(stack, events, on_start=profiler.start, on_stop=profiler.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service", choices=["metrics", "ingest", "ingest-single", "alerts"])
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    stack = Stack.start()
    # The whole event loop, not one task: time spent waiting on PostgreSQL and Kafka shows up
    # as epoll.poll beside the Python work of the consumer loop.
    profiler = Profiler(interval=0.001, async_mode="disabled")
    try:
        database_url = stack.new_database("profile")
        if args.service == "metrics":
            rate = asyncio.run(_metrics(stack, args.events, database_url, profiler))
        elif args.service == "alerts":
            rate = asyncio.run(_alerts(stack, args.events, profiler))
        else:
            rate = asyncio.run(
                _ingest(
                    database_url,
                    stack.bootstrap,
                    args.events,
                    profiler,
                    single=args.service == "ingest-single",
                )
            )
    finally:
        stack.destroy()
    text = profiler.output_text(
        unicode=True,
        show_all=False,
        time="percent_of_total",
        processor_options={"filter_threshold": 0.01},
    )
    out = RESULTS / f"profile-{args.service}.txt"
    out.write_text(f"{args.service}: {rate:,.0f} events/s under the profiler\n\n{text}")
    say(text)
    say(json.dumps({"service": args.service, "events_per_s": round(rate)}))


if __name__ == "__main__":
    main()
