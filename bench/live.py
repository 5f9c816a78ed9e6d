"""Measurements 5 and 6: end-to-end latency at a steady rate and resident memory.

The whole platform runs (ingest, metrics, alerts, gateway as uvicorn subprocesses, one database)
while background batches arrive at a steady rate in provinces other than Tuyên Quang (08). A
probe every second sends one BTS report for one Tuyên Quang commune, alternating 10% and 100%
villages covered; the latency is from ingest's 202 to

* the commune's ``villages_mobile_coverage`` update on the gateway's WebSocket, and
* the webhook receiver getting the alert (``firing``, then ``resolved``) for its district, from
  a target "80% in every district of 08" (alerts' group wait 0, dispatch every 0.1 s).

Resident memory of each service is sampled at rest, then every 2 s under that load.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from websockets.asyncio.client import connect

from bench.figures import percentiles
from bench.ingest import JSON, make_key
from bench.payloads import PROBE_PROVINCE, communes, submission
from bench.stack import Service, Stack, plain_url, say
from ioc_common.db import create_engine, session_factory
from ioc_common.kafka.admin import ensure_topics
from ioc_common.kafka.lag import DEFAULT_INTERVAL_S
from ioc_common.reference.units import Level, unit_tree
from ioc_common.testing import LocalServer
from ioc_common.timeutil import vietnam_today
from ioc_common.topics import METRICS_UPDATED, TELEMETRY_TOPICS
from ioc_gateway.auth import UserStore

INDICATOR = "villages_mobile_coverage"
PASSWORD = "bench-" + uuid.uuid4().hex
SECRET = "whsec_" + "QkVOQ0hNQVJLU0VDUkVUMTIzNDU2Nzg5MA=="


class Receiver:
    """The webhook receiver: records when each notification arrived."""

    def __init__(self) -> None:
        self.hooks: list[tuple[float, dict[str, Any]]] = []
        self.server = LocalServer(Starlette(routes=[Route("/hook", self._hook, methods=["POST"])]))

    async def _hook(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.hooks.append((time.perf_counter(), body))
        return Response(status_code=204)

    def first_after(self, since: float, district: str, change: str) -> float | None:
        for at, body in self.hooks:
            if at >= since and any(
                a.get("unit_code") == district
                and a.get("indicator") == INDICATOR
                and a.get("change") == change
                for a in body.get("data", {}).get("alerts", [])
            ):
                return at
        return None


async def kafka_hop_latency(bootstrap: str, samples: int) -> list[float]:
    """The raw baseline: one record produced (acks=all) until a consumer receives it."""
    topic = f"bench.hop.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic], partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    out: list[float] = []
    try:
        part = TopicPartition(topic, 0)
        consumer.assign([part])
        await consumer.seek_to_end(part)
        await consumer.position(part)
        for n in range(samples):
            started = time.perf_counter()
            await producer.send_and_wait(topic, str(n).encode())
            got = False
            while not got:
                batch = await consumer.getmany(part, timeout_ms=1000)
                got = any(r.value == str(n).encode() for r in batch.get(part, []))
            out.append(time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()
    return out


async def start_at_end(
    bootstrap: str, database_url: str, metrics_group: str, alerts_group: str
) -> None:
    """Earlier measurements left records on the shared topics: the live run's consumers start
    after them, as a deployed platform's would (metrics keeps its offsets in PostgreSQL,
    alerts in its Kafka consumer group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=alerts_group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        parts = [
            TopicPartition(topic, p)
            for topic in (*TELEMETRY_TOPICS, METRICS_UPDATED)
            for p in cluster.partitions_for_topic(topic) or ()
        ]
        consumer.assign(parts)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(parts)
        updates = {tp: off for tp, off in ends.items() if tp.topic == METRICS_UPDATED and off}
        if updates:
            await consumer.commit(updates)
    finally:
        await consumer.stop()
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        telemetry = [(tp, off) for tp, off in ends.items() if tp.topic in TELEMETRY_TOPICS]
        await conn.execute(
            "INSERT INTO metrics_offsets (group_id, topic, partition, next_offset)"
            " SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[])",
            metrics_group,
            [tp.topic for tp, _ in telemetry],
            [tp.partition for tp, _ in telemetry],
            [off for _, off in telemetry],
        )
    finally:
        await conn.close()


async def setup(stack: Stack, gateway: Service, alerts: Service, database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        await UserStore(session_factory(engine), cache_ttl_s=0).create(
            username="bench", role="viewer", scope=PROBE_PROVINCE, password=PASSWORD, actor="bench"
        )
    finally:
        await engine.dispose()
    today = vietnam_today()
    async with httpx.AsyncClient(timeout=30, headers={"X-IOC-Actor": "bench"}) as client:
        r = await client.post(
            f"{alerts.url}/v1/targets",
            json={
                "id": "bench-villages-coverage",
                "indicator": INDICATOR,
                "scope": {"level": "district", "within": [PROBE_PROVINCE]},
                "baseline": {"value": 80, "date": (today - timedelta(days=400)).isoformat()},
                "goal": 80,
                "deadline": (today + timedelta(days=400)).isoformat(),
                "trajectory": "linear",
                "tolerance": {"warning": 5, "critical": 10},
                "note_vi": "Chỉ tiêu đo hiệu năng / benchmark target",
            },
        )
        r.raise_for_status()
        r = await client.post(
            f"{gateway.url}/v1/auth/login", json={"username": "bench", "password": PASSWORD}
        )
        r.raise_for_status()
        token: str = r.json()["token"]
    return token


async def add_recipient(alerts: Service, url: str) -> None:
    async with httpx.AsyncClient(timeout=30, headers={"X-IOC-Actor": "bench"}) as client:
        r = await client.post(
            f"{alerts.url}/v1/recipients",
            json={
                "name": "Bench receiver",
                "units": [PROBE_PROVINCE],
                "min_severity": "critical",
                "channels": [{"channel": "webhook", "url": url, "secret": SECRET}],
            },
        )
        r.raise_for_status()


def probe_commune() -> tuple[str, str]:
    """A commune of the original Tuyên Quang (districts 070–076) and its district."""
    today = vietnam_today()
    tree = unit_tree()
    for code in communes(PROBE_PROVINCE):
        district = tree.roll_up(code, today).get(Level.DISTRICT)
        if district is not None and "070" <= district <= "076":
            return code, district
    raise RuntimeError("no probe commune found")


async def post_batch(client: httpx.AsyncClient, first: int, count: int, rng: random.Random) -> bool:
    """``count`` events numbered from ``first`` in one request to ingest; True if accepted."""
    body = orjson.dumps({"events": [submission(first + i, rng) for i in range(count)]})
    return (await client.post("/v1/events:batch", content=body)).status_code == 202


async def soak(
    stack: Stack,
    services: dict[str, Service],
    key: str,
    token: str,
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    commune, district = probe_commune()
    receiver = Receiver()
    await receiver.server.start()
    await add_recipient(services["alerts"], receiver.server.url + "/hook")
    feed: list[tuple[float, dict[str, Any]]] = []
    ws_url = (
        services["gateway"].url.replace("http://", "ws://") + f"/v1/live?type=metric&unit={commune}"
    )
    stop = asyncio.Event()
    rss: dict[str, list[tuple[float, float]]] = {n: [] for n in services}
    #: Records each consumer has yet to read, every 2 s: a service falling behind shows here.
    lag: dict[str, list[tuple[float, float]]] = {n: [] for n in LAGGING}
    #: (s since the probes began, ms) of each probe that arrived, to see any drift over time.
    timeline: dict[str, list[tuple[float, float]]] = {"feed": [], "webhook": []}
    posted = {"events": 0, "errors": 0}

    async def listen() -> None:
        async with connect(
            ws_url, max_size=None, additional_headers={"Authorization": f"Bearer {token}"}
        ) as ws:
            async for message in ws:
                at = time.perf_counter()
                body = json.loads(message)
                if body.get("type") == "metric":
                    feed.append((at, body["data"]))

    async def load(client: httpx.AsyncClient) -> None:
        rng = random.Random(7)
        tick = 0.2
        per_tick = max(1, round(rate * tick))
        next_at = time.perf_counter()
        n = 0
        while not stop.is_set():
            if await post_batch(client, n, per_tick, rng):
                posted["events"] += per_tick
            else:
                posted["errors"] += 1
            n += per_tick
            next_at += tick
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    async def sample() -> None:
        started = time.perf_counter()
        async with httpx.AsyncClient(timeout=5) as client:
            while not stop.is_set():
                at = time.perf_counter() - started
                for name, s in services.items():
                    rss[name].append((at, s.rss_mb()))
                if at >= LAG_GAUGE_REFRESH_S:  # before: the gauges may still hold a value
                    # from the capacity run that came just before this one
                    for name, records in (await consumer_lag(client, services)).items():
                        lag[name].append((at, records))
                await asyncio.sleep(2.0)

    feed_ms: list[float] = []
    hook_ms: list[float] = []
    to_commit_s: list[float] = []
    after_commit_s: list[float] = []
    missed = {"feed": 0, "webhook": 0}

    async def probes(client: httpx.AsyncClient) -> None:
        rng = random.Random(11)
        n = 0
        began = time.perf_counter()
        end = began + seconds
        while time.perf_counter() < end:
            started = time.perf_counter()
            covered = 4 if n % 2 == 0 else 40
            sub = submission(0, rng, unit=commune)
            sub["payload"] = {
                "operator": "Viettel",
                "technology": "4G",
                "sites": 10,
                "villages_total": 40,
                "villages_covered": covered,
            }
            r = await client.post("/v1/events", content=orjson.dumps(sub))
            accepted, accepted_wall = time.perf_counter(), time.time()
            if r.status_code != 202:
                raise RuntimeError(f"probe answered {r.status_code}: {r.text[:300]}")
            got_feed = got_hook = None
            update: dict[str, Any] | None = None
            while time.perf_counter() - accepted < 10 and (got_feed is None or got_hook is None):
                if got_feed is None:
                    got_feed, update = next(
                        (
                            (at, d)
                            for at, d in feed
                            if at >= started
                            and d.get("unit_code") == commune
                            and d.get("indicator") == INDICATOR
                            # this probe's value, not a late update of the previous one
                            and d.get("value") is not None
                            and abs(d["value"] - covered * 2.5) < 1e-6
                        ),
                        (None, None),
                    )
                if got_hook is None:
                    got_hook = receiver.first_after(
                        started, district, "firing" if covered < 40 else "resolved"
                    )
                await asyncio.sleep(0.005)
            if got_feed is None:
                missed["feed"] += 1
            else:
                feed_ms.append(max(0.0, got_feed - accepted))
                timeline["feed"].append((accepted - began, feed_ms[-1] * 1e3))
                if update is not None:
                    # Where the time went: 202 → the metrics commit (the update's time stamp,
                    # written in its transaction) and that commit → the WebSocket.
                    committed = datetime.fromisoformat(update["updated_at"]).timestamp()
                    to_commit_s.append(max(0.0, committed - accepted_wall))
                    after_commit_s.append(max(0.0, accepted_wall + got_feed - accepted - committed))
            if got_hook is None:
                missed["webhook"] += 1
            else:
                hook_ms.append(max(0.0, got_hook - accepted))
                timeline["webhook"].append((accepted - began, hook_ms[-1] * 1e3))
            n += 1
            if n % 20 == 0:
                say(
                    f"    {n} probes, {posted['events']:,} background events; feed p50 "
                    f"{_ms(feed_ms)} (to the metrics commit {_ms(to_commit_s)}), webhook p50 "
                    f"{_ms(hook_ms)}"
                )
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))

    headers = {**JSON, "Authorization": f"Bearer {key}"}
    url = services["ingest"].url
    listener = asyncio.create_task(listen())
    try:
        async with (
            httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client,
            httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as pclient,
        ):
            await asyncio.sleep(1.0)  # the WebSocket is open
            background = [asyncio.create_task(load(client)), asyncio.create_task(sample())]
            try:
                await probes(pclient)
            finally:
                stop.set()
                await asyncio.gather(*background)
            counters = await counter_totals(services)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await receiver.server.stop()
    return {
        "feed": feed_ms,
        "webhook": hook_ms,
        "feed_to_commit": to_commit_s,
        "feed_after_commit": after_commit_s,
        "missed": missed,
        "rss": rss,
        "lag": lag,
        "timeline": timeline,
        "background_events": posted["events"],
        "background_errors": posted["errors"],
        "counters": counters,
        "probe_commune": commune,
        "probe_district": district,
    }


async def pipeline_capacity(
    services: dict[str, Service], key: str, seconds: float, catch_up_s: float = 300.0
) -> dict[str, float]:
    """Events/s the whole pipeline aggregates while every service runs on the same cores.

    Posts batches as fast as four loaders can, counts what metrics aggregates over ``seconds``
    after a short warm-up, then waits until the pipeline has caught up — metrics with what was
    posted, alerts with every update metrics published — so the steady run that follows starts
    without a backlog. (Waiting for metrics alone left alerts minutes behind: its catching up
    took the cores from metrics during the first half of the steady run.)"""
    stop = asyncio.Event()
    posted = {"events": 0}
    batch = 500

    async def loader(worker: int, client: httpx.AsyncClient) -> None:
        rng = random.Random(100 + worker)
        n = 10_000_000 * (worker + 1)  # ids apart from the steady run's
        while not stop.is_set():
            if await post_batch(client, n, batch, rng):
                posted["events"] += batch
            n += batch

    async def aggregated() -> float:
        return (await counter_totals(services)).get("ioc_metrics_events", 0.0)

    headers = {"Authorization": f"Bearer {key}", **JSON}
    async with httpx.AsyncClient(
        base_url=services["ingest"].url, headers=headers, timeout=60
    ) as client:
        before = await aggregated()
        tasks = [asyncio.create_task(loader(w, client)) for w in range(4)]
        await asyncio.sleep(min(5.0, seconds / 3))  # warm-up: a backlog builds, metrics is busy
        first, t0 = await aggregated(), time.perf_counter()
        await asyncio.sleep(seconds)
        last, t1 = await aggregated(), time.perf_counter()
        stop.set()
        await asyncio.gather(*tasks)
    rate = (last - first) / (t1 - t0)
    say(f"    pipeline aggregates {rate:,.0f} events/s with every service running; catching up")
    started = time.perf_counter()
    deadline = started + catch_up_s
    while time.perf_counter() < deadline:  # polling other processes' counters
        totals = await counter_totals(services)
        metrics_done = totals.get("ioc_metrics_events", 0.0) - before >= posted["events"]
        alerts_done = totals.get("ioc_alerts_metric_updates", 0.0) >= totals.get(
            "ioc_metrics_aggregates_changed", 0.0
        )
        if metrics_done and alerts_done:
            break
        await asyncio.sleep(1.0)
    caught_up_s = time.perf_counter() - started
    say(f"    metrics and alerts caught up in {caught_up_s:,.0f} s")
    return {"events_per_s": rate, "posted": posted["events"], "catch_up_s": caught_up_s}


#: Seconds between two refreshes of the services' lag gauges (``LagMonitor``): the lag is sampled
#: from then on, once every gauge was computed inside the steady run.
LAG_GAUGE_REFRESH_S = DEFAULT_INTERVAL_S
#: The consumers whose lag is sampled, and the gauge each exports (records behind, per partition).
LAGGING = {"metrics": "ioc_metrics_consumer_lag", "alerts": "ioc_alerts_consumer_lag"}


async def scraped(
    client: httpx.AsyncClient, service: Service, names: Iterable[str]
) -> dict[str, float]:
    """Each named metric of a service's ``/metrics``, summed over its label sets."""
    wanted = dict.fromkeys(names, 0.0)
    for line in (await client.get(service.url + "/metrics")).text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in wanted:
            wanted[name] += float(line.rsplit(" ", 1)[1])
    return wanted


async def consumer_lag(client: httpx.AsyncClient, services: dict[str, Service]) -> dict[str, float]:
    """Each consumer's lag summed over its partitions (the ``LagMonitor`` gauge: end offsets
    against the group's committed offsets)."""
    return {
        name: (await scraped(client, services[name], [gauge]))[gauge]
        for name, gauge in LAGGING.items()
    }


async def counter_totals(services: dict[str, Service]) -> dict[str, float]:
    """Where the pipeline stands: events aggregated, aggregates changed (= updates) and the
    ``MetricUpdates`` records they were published in (one per unit and batch), updates alerts
    read (ok + skipped; plus any records it dead-lettered)."""
    wanted = {
        "metrics": (
            "ioc_metrics_events_total",
            "ioc_metrics_aggregates_changed_total",
            "ioc_metrics_updates_published_total",
        ),
        "alerts": ("ioc_alerts_metric_updates_total",),
    }
    out: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for name, counters in wanted.items():
            for counter, total in (await scraped(client, services[name], counters)).items():
                out[counter.removesuffix("_total")] = total
    return out


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1e3:,.0f} ms" if samples else "-"


def run(
    stack: Stack,
    *,
    short: bool,
    capacity: float,
    minimal_rss_mb: float,
    rate: float | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    seconds = seconds or (20.0 if short else 600.0)
    rate_given = rate is not None
    database_url = stack.new_database("bench_live")
    key = asyncio.run(make_key(database_url))
    base = {"DATABASE_URL": database_url}
    say("[5/7] starting ingest, metrics, alerts and gateway for the steady-rate run")
    services: dict[str, Service] = {}
    groups = {
        "metrics": f"bench-metrics-{uuid.uuid4().hex[:6]}",
        "alerts": f"bench-alerts-{uuid.uuid4().hex[:6]}",
    }
    asyncio.run(start_at_end(stack.bootstrap, database_url, groups["metrics"], groups["alerts"]))
    try:
        services["ingest"] = stack.start_service(
            "ingest",
            "ioc_ingest.app:create_app",
            {**base, "IOC_INGEST_RATE_PER_SECOND": "0"},
            ready_path="/readyz",
        )
        services["metrics"] = stack.start_service(
            "metrics",
            "ioc_metrics.app:create_app",
            {
                **base,
                "IOC_METRICS_POLL_TIMEOUT_MS": "100",
                "IOC_METRICS_GROUP_ID": groups["metrics"],
            },
        )
        services["alerts"] = stack.start_service(
            "alerts",
            "ioc_alerts.app:create_app",
            {
                **base,
                "IOC_ALERTS_SEED_TARGETS": "false",
                "IOC_ALERTS_GROUP_ID": groups["alerts"],
                "IOC_ALERTS_GROUP_WAIT_S": "0",
                "IOC_ALERTS_DISPATCH_INTERVAL_S": "0.1",
                "IOC_ALERTS_SWEEP_INTERVAL_S": "3600",
                "IOC_ALERTS_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.0/8"]',
            },
        )
        services["gateway"] = stack.start_service(
            "gateway",
            "ioc_gateway.app:create_app",
            {
                **base,
                "IOC_GATEWAY_METRICS_URL": services["metrics"].url,
                "IOC_GATEWAY_ALERTS_URL": services["alerts"].url,
                "IOC_GATEWAY_SESSION_SECRET": uuid.uuid4().hex,
            },
            ready_path="/readyz",
        )
        token = asyncio.run(setup(stack, services["gateway"], services["alerts"], database_url))
        say("    raw Kafka hop latency (produce acks=all → consume), the baseline")
        hop = asyncio.run(kafka_hop_latency(stack.bootstrap, 50 if short else 300))
        time.sleep(3.0)
        rest = {n: s.rss_mb() for n, s in services.items()}
        say("    at rest: " + ", ".join(f"{n} {v:.0f} MB" for n, v in rest.items()))
        # The services measured alone (measurements 1 and 4) had the cores to themselves; here
        # ingest, metrics, alerts, gateway, Kafka, PostgreSQL and the loader share them, so the
        # steady rate is 60 % of what this whole pipeline sustains, measured just before.
        say("    pipeline capacity with every service running (as fast as 4 loaders post)")
        pipeline = asyncio.run(pipeline_capacity(services, key, 8.0 if short else 30.0))
        rate = rate or 0.6 * min(capacity, pipeline["events_per_s"])
        say(f"[6/7] steady load {rate:,.0f} events/s (capacity {capacity:,.0f}) for {seconds:.0f}s")
        result = asyncio.run(soak(stack, services, key, token, rate, seconds))
    finally:
        for s in services.values():
            stack.stop_service(s)
    hop_p = percentiles(hop)
    memory: dict[str, Any] = {}
    for name, series in result["rss"].items():
        values = [v for _, v in series]
        q = max(1, len(values) // 4)
        memory[name] = {
            "rest_mb": round(rest[name], 1),
            "load_max_mb": round(max(values), 1) if values else None,
            "load_last_mb": round(values[-1], 1) if values else None,
            # Warm-up excluded: the last quarter of the run against its second quarter.
            "growth_mb": round(statistics.mean(values[-q:]) - statistics.mean(values[q : 2 * q]), 1)
            if len(values) >= 4
            else None,
            "series": [(round(t, 1), round(v, 1)) for t, v in series],
        }
    probes = len(result["feed"]) + result["missed"]["feed"]
    common = {
        "steady_rate_events_per_s": round(rate, 1),
        "capacity_events_per_s": round(capacity, 1),
        "pipeline_capacity_events_per_s": round(pipeline["events_per_s"], 1),
        "catch_up_after_capacity_s": round(pipeline["catch_up_s"], 1),
        "rate_rule": "given on the command line" if rate_given else "60 % of the lower capacity",
        "background_events": result["background_events"],
        "background_errors": result["background_errors"],
        "probes": probes,
        "seconds": seconds,
        "pipeline_counters_at_end": result["counters"],
        "baseline_label": "raw Kafka hop: produce (acks=all) → consume, same broker",
        "baseline": hop_p,
    }
    return {
        "latency_to_live_feed": {
            "title": "Ingest 202 → metric update on the gateway's WebSocket",
            **percentiles(result["feed"]),
            "missed": result["missed"]["feed"],
            "goal_p99_ms": 500,
            "split": {
                "ingest_202_to_metrics_commit": percentiles(result["feed_to_commit"]),
                "metrics_commit_to_websocket": percentiles(result["feed_after_commit"]),
            },
            "timeline_ms": [(round(t, 1), round(v, 1)) for t, v in result["timeline"]["feed"]],
            **common,
        },
        "latency_to_webhook": {
            "title": "Ingest 202 → alert webhook received",
            **percentiles(result["webhook"]),
            "missed": result["missed"]["webhook"],
            "goal_p99_ms": 2000,
            "timeline_ms": [(round(t, 1), round(v, 1)) for t, v in result["timeline"]["webhook"]],
            **common,
        },
        "consumer_lag": {
            "title": "Consumer lag under the steady load (records not yet read, all partitions;"
            f" sampled every 2 s from {LAG_GAUGE_REFRESH_S:.0f} s in, the gauges' refresh)",
            "services": {
                name: {
                    "max_records": max((v for _, v in series), default=None),
                    "last_records": series[-1][1] if series else None,
                    "series": [(round(t, 1), v) for t, v in series],
                }
                for name, series in result["lag"].items()
            },
            "seconds": seconds,
        },
        "memory": {
            "title": "Resident memory per service (MB), at rest and under the steady load",
            "services": memory,
            "seconds": seconds,
            "goal_max_mb": 200,
            "baseline_label": "an idle minimal Starlette app under the same uvicorn",
            "baseline": round(minimal_rss_mb, 1),
        },
    }
