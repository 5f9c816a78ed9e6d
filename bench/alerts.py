"""The alerts service's consumption rate: ``python -m bench.alerts [--events N] [--runs R]``.

Pre-loads ``ioc.metrics.updated.v2``-shaped records onto a fresh topic — what the metrics
service publishes for a stream of monthly BTS, public-service and cashless reports from the
communes of Tuyên Quang (08): every derived indicator at commune, district and province level
and at month, quarter and year granularity, each key's version increasing, in ``MetricUpdates``
records of one unit's updates per batch of ``--batch-updates`` (what one batch of the metrics
service changes) — then runs the alerts app in this process (its real consumer, on real Kafka
and PostgreSQL) until its consumer group committed them all, and prints metric updates/s
(records/s × the stream's updates per record). ``--events`` counts updates. Three targets
cover the stream (villages with mobile coverage per district, dossiers processed online per
district and per commune); the shipped targets are seeded too. ``--targeted-only`` keeps only
the updates of those two indicators (every update then matters to a target's indicator).

The sweep is pushed out of the window (once at start, then hourly) so the figure is the
consumer's; ``python -m bench.profile alerts`` runs the same under pyinstrument.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bench.payloads import PROBE_PROVINCE, communes
from bench.progress import committed_rate
from bench.stack import Stack, say
from ioc_common.events import (
    MAX_METRIC_UPDATES,
    AggregationLevel,
    MetricUpdated,
    encode_metric_updates,
)
from ioc_common.kafka.admin import ensure_topics
from ioc_common.reference.units import Level, unit_tree
from ioc_common.timeutil import Granularity, coarser_or_equal, period_label, period_start

#: What each family's report updates (the catalogue's derived indicators) and whether a ratio.
FAMILY_INDICATORS: dict[str, tuple[tuple[str, bool], ...]] = {
    "bts": (("bts_sites", False), ("villages_mobile_coverage", True)),
    "public_service": (
        ("dossiers_online", False),
        ("dossiers_processed_online_rate", True),
        ("online_payment_rate", True),
    ),
    "cashless": (("cashless_transactions", False), ("cashless_value_vnd", False)),
}
TARGETED = {"villages_mobile_coverage", "dossiers_processed_online_rate"}
#: Updates per batch of the metrics service: a 5,000-event batch changes about this many cells.
BATCH_UPDATES = 15_000


def bench_targets(today: Any) -> list[dict[str, Any]]:
    """Targets over the stream's units (80% in every district and commune of 08)."""

    def target(id_: str, indicator: str, level: str) -> dict[str, Any]:
        return {
            "id": id_,
            "indicator": indicator,
            "scope": {"level": level, "within": [PROBE_PROVINCE]},
            "baseline": {"value": 80, "date": (today - timedelta(days=400)).isoformat()},
            "goal": 80,
            "deadline": (today + timedelta(days=400)).isoformat(),
            "trajectory": "linear",
            "tolerance": {"warning": 5, "critical": 10},
        }

    return [
        target("bench-villages-district", "villages_mobile_coverage", "district"),
        target("bench-dossiers-district", "dossiers_processed_online_rate", "district"),
        target("bench-dossiers-commune", "dossiers_processed_online_rate", "commune"),
    ]


def updates(n: int, seed: int, *, targeted_only: bool = False) -> list[MetricUpdated]:
    """``n`` updates as the metrics service would make them, in order."""
    rng = random.Random(seed)
    today = datetime.now(UTC).date()
    tree = unit_tree()
    units = []
    for code in communes(PROBE_PROVINCE):
        ups = tree.roll_up(code, today)
        if Level.DISTRICT in ups:
            units.append((code, ups[Level.DISTRICT], ups[Level.PROVINCE]))
    # Each unit's level hovers around its own mean: most keys settle, some sit at a threshold.
    means: dict[str, float] = {}
    versions: dict[tuple[str, str, str, str], int] = {}
    out: list[MetricUpdated] = []
    now = datetime.now(UTC)
    families = list(FAMILY_INDICATORS)
    while len(out) < n:
        family = rng.choice(families)
        commune, district, province = rng.choice(units)
        for indicator, ratio in FAMILY_INDICATORS[family]:
            if targeted_only and indicator not in TARGETED:
                continue
            for code, level in (
                (commune, AggregationLevel.COMMUNE),
                (district, AggregationLevel.DISTRICT),
                (province, AggregationLevel.PROVINCE),
            ):
                for granularity in coarser_or_equal(Granularity.MONTH):
                    start = period_start(today, granularity)
                    label = period_label(start, granularity)
                    key = (indicator, code, granularity.value, label)
                    versions[key] = version = versions.get(key, 0) + 1
                    numerator = denominator = None
                    if ratio:
                        mean = means.setdefault(f"{indicator}:{code}", rng.uniform(62, 95))
                        denominator = float(rng.randint(200, 2000))
                        pct = min(100.0, max(0.0, rng.gauss(mean, 2.0)))
                        numerator = round(denominator * pct / 100)
                        value: float | None = numerator / denominator * 100
                    else:
                        value = float(rng.randint(0, 10_000))
                    message = MetricUpdated(
                        indicator=indicator,
                        unit_code=code,
                        level=level,
                        granularity=granularity,
                        period=label,
                        period_start=start,
                        value=value,
                        previous_value=None,
                        numerator=numerator,
                        denominator=denominator,
                        version=version,
                        updated_at=now,
                    )
                    out.append(message)
    return out[:n]


def records(
    items: list[MetricUpdated], per_batch: int = BATCH_UPDATES
) -> list[tuple[bytes, bytes, int]]:
    """(value, key, updates) records as the metrics service publishes ``items``: per batch of
    ``per_batch`` updates, a ``MetricUpdates`` per unit (keyed by it; split above the maximum),
    units in the order they first changed."""
    out: list[tuple[bytes, bytes, int]] = []
    for start in range(0, len(items), per_batch):
        by_unit: dict[str, list[MetricUpdated]] = {}
        for item in items[start : start + per_batch]:
            by_unit.setdefault(item.unit_code, []).append(item)
        for code, mine in by_unit.items():
            for i in range(0, len(mine), MAX_METRIC_UPDATES):
                part = mine[i : i + MAX_METRIC_UPDATES]
                out.append((encode_metric_updates(part), code.encode(), len(part)))
    return out


async def preload(
    bootstrap: str, n: int, seed: int, *, targeted_only: bool, per_batch: int = BATCH_UPDATES
) -> tuple[str, int, int]:
    """(topic, records, updates) of ``n`` updates pre-loaded."""
    topic = f"bench.{uuid.uuid4().hex[:8]}.metrics.updated"
    await ensure_topics(bootstrap, [topic])
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=1_048_576
    )
    await producer.start()
    loaded = records(updates(n, seed, targeted_only=targeted_only), per_batch)
    try:
        futures = [await producer.send(topic, v, key=k) for v, k, _ in loaded]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return topic, len(loaded), sum(count for _, _, count in loaded)


async def committed(admin: AIOKafkaAdminClient, group: str) -> int:
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except KafkaError:  # a fresh broker's group coordinator is not there yet
        return 0
    return sum(max(0, o.offset) for o in offsets.values())


async def wait_committed(bootstrap: str, group: str, total: int, timeout_s: float) -> float:
    """Records/s from the first committed batch to the last (``progress.committed_rate``),
    told from the group's offsets on the broker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await committed_rate(
            lambda: committed(admin, group), total, what="alerts", timeout_s=timeout_s,
            every_s=0.1,
        )  # fmt: skip
    finally:
        await admin.close()


async def insert_targets(database_url: str) -> None:
    from ioc_alerts import tables as t
    from ioc_alerts.targets import TargetSpec
    from ioc_common.db import create_engine, session_factory, transaction

    engine = create_engine(database_url)
    now = datetime.now(UTC)
    try:
        async with transaction(session_factory(engine)) as session:
            for body in bench_targets(now.date()):
                spec = TargetSpec.model_validate(body)
                await session.execute(
                    t.targets.insert().values(
                        id=spec.id, indicator=spec.indicator,
                        definition=spec.model_dump(mode="json"), origin="api", enabled=True,
                        created_at=now, updated_at=now, version=1,
                    )
                )  # fmt: skip
    finally:
        await engine.dispose()


async def run(
    stack: Stack,
    events: int,
    *,
    seed: int = 1,
    targeted_only: bool = False,
    on_start: Callable[[], object] | None = None,
    on_stop: Callable[[], object] | None = None,
    per_batch: int = BATCH_UPDATES,
) -> float:
    """Updates/s of the alerts app consuming ``events`` pre-loaded updates (records/s × the
    stream's updates per record)."""
    from ioc_alerts.app import create_app
    from ioc_alerts.config import AlertsSettings

    database_url = await asyncio.to_thread(stack.new_database, "bench_alerts")
    await insert_targets(database_url)
    topic, total, items = await preload(
        stack.bootstrap, events, seed, targeted_only=targeted_only, per_batch=per_batch
    )
    group = f"bench-alerts-{uuid.uuid4().hex[:8]}"
    settings = AlertsSettings(
        kafka_bootstrap_servers=stack.bootstrap, database_url=database_url, group_id=group,
        metrics_topic=topic, sweep_interval_s=3600, log_level="WARNING",
    )  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        if on_start:
            on_start()
        try:
            return await wait_committed(stack.bootstrap, group, total, 1800) * items / total
        finally:
            if on_stop:
                on_stop()


async def latency(stack: Stack, rate: float, seconds: float) -> dict[str, Any]:
    """Metric update on the topic → alert webhook received, the alerts service alone.

    Background updates of the stream above arrive at ``rate``/s while, every second, one
    district's ``villages_mobile_coverage`` flips between 50% (critical: a ``firing`` webhook)
    and 95% (a ``resolved`` one)."""
    import httpx

    from bench.figures import percentiles
    from bench.live import SECRET, Receiver
    from ioc_alerts.app import create_app
    from ioc_alerts.config import AlertsSettings

    database_url = await asyncio.to_thread(stack.new_database, "bench_alerts_latency")
    await insert_targets(database_url)
    topic = f"bench.{uuid.uuid4().hex[:8]}.metrics.updated"
    await ensure_topics(stack.bootstrap, [topic])
    probe = "070"  # TP Tuyên Quang's former district: the background leaves it alone
    # A batch's worth of background every second, as the metrics service would publish it.
    stream = [u for u in updates(int(rate * seconds) + 1000, 3) if u.unit_code != probe]
    background = records(stream, max(1, round(rate)))
    receiver = Receiver()
    await receiver.server.start()
    group = f"bench-alerts-{uuid.uuid4().hex[:8]}"
    settings = AlertsSettings(
        kafka_bootstrap_servers=stack.bootstrap, database_url=database_url, group_id=group,
        metrics_topic=topic, sweep_interval_s=3600, group_wait_s=0, dispatch_interval_s=0.1,
        webhook_allow_networks=["127.0.0.0/8"], log_level="WARNING",
    )  # fmt: skip
    app = create_app(settings)
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all", linger_ms=5)
    await producer.start()
    stop = asyncio.Event()
    latencies: list[float] = []
    missed = 0

    async def load() -> None:
        per_tick, tick, n, sent = max(1, round(rate * 0.1)), 0.1, 0, 0
        next_at = time.perf_counter()
        while not stop.is_set() and n < len(background):
            while n < len(background) and sent < per_tick:  # ``per_tick`` updates a tick
                value, key, count = background[n]
                await producer.send(topic, value, key=key)
                n, sent = n + 1, sent + count
            sent -= per_tick
            next_at += tick
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    try:
        async with app.router.lifespan_context(app):
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://alerts",
                headers={"X-IOC-Actor": "bench"},
            )  # fmt: skip
            r = await client.post(
                "/v1/recipients",
                json={
                    "name": "Bench receiver", "units": [PROBE_PROVINCE],
                    "min_severity": "critical",
                    "channels": [
                        {"channel": "webhook", "url": receiver.server.url + "/hook",
                         "secret": SECRET}
                    ],
                },
            )  # fmt: skip
            r.raise_for_status()
            await client.aclose()
            loader = asyncio.create_task(load())
            today = datetime.now(UTC).date()
            start = period_start(today, Granularity.MONTH)
            version = 0
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                version += 1
                pct = 50.0 if version % 2 else 95.0
                message = MetricUpdated(
                    indicator="villages_mobile_coverage", unit_code=probe,
                    level=AggregationLevel.DISTRICT, granularity=Granularity.MONTH,
                    period=period_label(start, Granularity.MONTH), period_start=start,
                    value=pct, previous_value=None, numerator=pct * 10, denominator=1000.0,
                    version=version, updated_at=datetime.now(UTC),
                )  # fmt: skip
                sent = time.perf_counter()
                value = encode_metric_updates([message])
                await producer.send_and_wait(topic, value, key=probe.encode())
                change = "firing" if pct < 80 else "resolved"
                got = None
                while got is None and time.perf_counter() - sent < 10:
                    got = receiver.first_after(sent, probe, change)
                    await asyncio.sleep(0.005)
                if got is None:
                    missed += 1
                else:
                    latencies.append(got - sent)
                await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - sent)))
            stop.set()
            await loader
            consumed = await committed_total(stack.bootstrap, group)
    finally:
        await producer.stop()
        await receiver.server.stop()
    return {
        "rate_per_s": rate, "seconds": seconds, "probes": len(latencies) + missed,
        "missed": missed, **percentiles(latencies), "committed": consumed,
    }  # fmt: skip


async def committed_total(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await committed(admin, group)
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="metric updates")
    parser.add_argument("--batch-updates", type=int, default=BATCH_UPDATES)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--targeted-only", action="store_true")
    parser.add_argument(
        "--latency", type=float, metavar="RATE",
        help="instead: update → webhook latency under RATE background updates/s",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    stack = Stack.start()
    rates = []
    if args.latency is not None:
        try:
            say(json.dumps(asyncio.run(latency(stack, args.latency, args.seconds))))
        finally:
            stack.destroy()
        return
    try:
        for n in range(args.runs):
            rate = asyncio.run(
                run(
                    stack,
                    args.events,
                    seed=1 + n,
                    targeted_only=args.targeted_only,
                    per_batch=args.batch_updates,
                )
            )
            rates.append(rate)
            say(f"run {n + 1}: {rate:,.0f} metric updates/s")
    finally:
        stack.destroy()
    say(json.dumps({"events": args.events, "targeted_only": args.targeted_only,
                    "updates_per_s": [round(r) for r in rates]}))  # fmt: skip


if __name__ == "__main__":
    main()
