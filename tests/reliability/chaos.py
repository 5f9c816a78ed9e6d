"""The chaos run: the whole pipeline on its own Kafka and PostgreSQL while faults strike.

A producer pushes a known, seeded set of events through ingest (retrying 503/429/transport
errors with the SAME event ids, as clients do) while a fault task, at seeded random moments,
SIGKILLs ingest, metrics and alerts (then restarts them), restarts the Kafka broker (data kept)
and PostgreSQL, and takes the webhook receiver down for a while. At the end it compares:

- events acknowledged (202, or "duplicate" for an id accepted before) vs events counted by
  metrics (lost and double-counted must be 0);
- the aggregates in PostgreSQL vs a reference computed here from the acknowledged events
  (cashless flows per commune and day, the province's monthly totals, BTS stocks per commune and
  month with revisions and carry-forward);
- alerts expected from the reference vs alerts raised and notifications delivered to the
  webhook (each one delivered; repeats only under the same idempotency key).

``python -m tests.reliability.chaos --mode long`` (or ``short``; ``--events``, ``--seed``)
prints the table and writes ``tests/reliability/results/chaos-<mode>.json``; the pytest module
``test_chaos_pipeline.py`` runs the short mode (marker ``chaos``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from ioc_alerts.testing import WebhookReceiver, district_target
from ioc_common.db import create_engine, session_factory
from ioc_common.db.migrate import upgrade
from ioc_common.dev import dev_secrets
from ioc_common.events import Family
from ioc_common.infra.kafka_local import LocalKafka
from ioc_common.infra.postgres_local import LocalPostgres
from ioc_common.infra.process import free_port, kill_process, stop_process, tail
from ioc_common.kafka.admin import ensure_topics, wait_for_broker
from ioc_common.reference.units import unit_tree
from ioc_common.service_auth import service_headers
from ioc_common.testing import bts_event
from ioc_common.timeutil import vietnam_today
from ioc_common.topics import ALL_TOPICS, TELEMETRY_TOPICS
from ioc_ingest.keys import PgKeyStore

RESULTS_DIR = Path(__file__).parent / "results"
PROVINCE = "08"
WEBHOOK_SECRET = "whsec_" + "Q0hBT1NSRUNFSVZFUlNFQ1JFVEtFWTEy"
SERVICES = ("ingest", "metrics", "alerts")


@dataclass(frozen=True)
class Mode:
    events: int
    #: How long the producer spreads its events over (faults fall inside this window).
    produce_s: float
    #: How many times each kind of fault is injected.
    rounds: int
    batch: int


MODES = {
    "short": Mode(events=10_000, produce_s=70.0, rounds=1, batch=250),
    "long": Mode(events=100_000, produce_s=480.0, rounds=3, batch=500),
}


@dataclass
class FaultRecord:
    kind: str
    at_s: float
    down_s: float
    took_s: float = 0.0


@dataclass
class ChaosResult:
    mode: str
    seed: int
    events: int
    run_s: float = 0.0
    acknowledged: int = 0
    accepted_202: int = 0
    duplicate_answers: int = 0
    rejected: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    counted: int = 0
    lost: int = 0
    double_counted: int = 0
    flow_count_in_aggregates: int = 0
    cashless_acknowledged: int = 0
    cells_compared: int = 0
    cells_different: int = 0
    differences: list[str] = field(default_factory=list)
    alerts_expected: int = 0
    alerts_raised: int = 0
    alerts_unexpected: int = 0
    alerts_notified: int = 0
    webhook_deliveries: int = 0
    webhook_repeats_same_key: int = 0
    webhook_repeats_beyond_key: int = 0
    outbox_not_sent: int = 0
    webhook_failed_attempts: int = 0
    faults: list[FaultRecord] = field(default_factory=list)
    logs: str | None = None

    def fault_counts(self) -> dict[str, int]:
        return dict(Counter(f.kind for f in self.faults))

    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.double_counted == 0
            and self.rejected == 0
            and self.cells_different == 0
            and self.cells_compared > 0
            and self.alerts_raised == self.alerts_expected
            and self.alerts_unexpected == 0
            and self.alerts_notified == self.alerts_expected
            and self.webhook_repeats_beyond_key == 0
            and self.outbox_not_sent == 0
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["retries"] = dict(self.retries)
        data["fault_counts"] = self.fault_counts()
        data["ok"] = self.ok()
        return data

    def table(self) -> str:
        def ok(flag: bool) -> str:
            return "ok" if flag else "FAIL"

        faults = self.fault_counts()
        rows = [
            ("events sent (distinct ids)", str(self.events), ""),
            (
                "acknowledged (202 + duplicate answers)",
                str(self.acknowledged),
                ok(self.acknowledged == self.events),
            ),
            (
                "  of which 202 / duplicate answers",
                f"{self.accepted_202} / {self.duplicate_answers}",
                "",
            ),
            ("rejected items", str(self.rejected), ok(self.rejected == 0)),
            (
                "retried requests (by cause)",
                ", ".join(f"{k} {v}" for k, v in sorted(self.retries.items())) or "0",
                "",
            ),
            ("counted by metrics (distinct ids)", str(self.counted), ""),
            ("LOST (acknowledged, not counted)", str(self.lost), ok(self.lost == 0)),
            ("DOUBLE-COUNTED", str(self.double_counted), ok(self.double_counted == 0)),
            (
                "cashless events acked vs transactions in aggregates",
                f"{self.cashless_acknowledged} vs {self.flow_count_in_aggregates}",
                ok(self.cashless_acknowledged == self.flow_count_in_aggregates),
            ),
            (
                "aggregate cells vs reference (different)",
                f"{self.cells_compared} ({self.cells_different})",
                ok(self.cells_different == 0 and self.cells_compared > 0),
            ),
            (
                "alerts expected / raised / unexpected",
                f"{self.alerts_expected} / {self.alerts_raised} / {self.alerts_unexpected}",
                ok(self.alerts_raised == self.alerts_expected and self.alerts_unexpected == 0),
            ),
            (
                "alerts notified by webhook",
                str(self.alerts_notified),
                ok(self.alerts_notified == self.alerts_expected),
            ),
            (
                "webhook deliveries / repeats same key / beyond key",
                f"{self.webhook_deliveries} / {self.webhook_repeats_same_key} / "
                f"{self.webhook_repeats_beyond_key}",
                ok(self.webhook_repeats_beyond_key == 0),
            ),
            ("outbox rows not sent", str(self.outbox_not_sent), ok(self.outbox_not_sent == 0)),
            *((f"fault: {k}", str(v), "") for k, v in sorted(faults.items())),
            ("webhook attempts that failed (outages)", str(self.webhook_failed_attempts), ""),
            ("mode / seed / run length", f"{self.mode} / {self.seed} / {self.run_s:.0f} s", ""),
        ]
        width = max(len(r[0]) for r in rows)
        vwidth = max(len(r[1]) for r in rows)
        lines = [f"{'check'.ljust(width)} | {'value'.ljust(vwidth)} | result"]
        lines.append("-" * len(lines[0]))
        lines += [f"{a.ljust(width)} | {b.ljust(vwidth)} | {c}" for a, b, c in rows]
        return "\n".join(lines)


# --- the events and their reference -----------------------------------------------------------


@dataclass
class Workload:
    events: list[dict[str, Any]]
    alert_units: list[str]


def make_workload(n: int, seed: int, today: date) -> Workload:
    """Cashless flows (1 transaction each, a random value) per commune and day; BTS stocks per
    commune and month with shuffled revisions; public-service figures at 50% processed online
    for a few communes (their target expects 80%: one critical alert each)."""
    rng = random.Random(seed)
    communes = sorted(u.code for u in unit_tree().children(PROVINCE, today))
    alert_units = communes[:5]
    bts_units = communes[5:25]
    this_month = today.replace(day=1)
    months = [(this_month - timedelta(days=1)).replace(day=1), this_month]
    series = [(op, tech) for op in ("Viettel", "VNPT", "MobiFone") for tech in ("4G", "5G")]
    n_bts = n * 15 // 100
    n_ps = n * 5 // 100
    events: list[dict[str, Any]] = []

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    revisions: Counter[tuple[str, str, str, date]] = Counter()
    for _ in range(n_bts):
        unit, (op, tech), month = rng.choice(bts_units), rng.choice(series), rng.choice(months)
        revisions[(unit, op, tech, month)] += 1
        total = rng.randint(10, 40)
        events.append(
            bts_event(
                unit,
                event_id=new_id(),
                observed_at=month.strftime("%Y-%m"),
                revision=revisions[(unit, op, tech, month)],
                operator=op,
                technology=tech,
                sites=rng.randint(0, 60),
                villages_total=total,
                villages_covered=rng.randint(0, total),
            )
        )
    for _ in range(n_ps):
        events.append(
            {
                "event_id": new_id(),
                "family": "public_service",
                "unit_code": rng.choice(alert_units),
                "observed_at": today.isoformat(),
                "payload": {
                    "service_level": "full_online",
                    "dossiers_total": 100,
                    "dossiers_online": 60,
                    "dossiers_processed_online": 50,
                    "paid_online": 30,
                },
            }
        )
    for _ in range(n - n_bts - n_ps):
        day = today - timedelta(days=rng.randint(0, 19))
        events.append(
            {
                "event_id": new_id(),
                "family": "cashless",
                "unit_code": rng.choice(communes),
                "observed_at": day.isoformat(),
                "payload": {
                    "channel": rng.choice(["qr", "card", "e_wallet"]),
                    "transactions": 1,
                    "value_vnd": rng.randint(1_000, 50_000_000),
                },
            }
        )
    # Shuffle so higher revisions are often sent before lower ones.
    rng.shuffle(events)
    return Workload(events, alert_units)


Cell = tuple[str, str, str, date]  # indicator, level, code, period_start


def reference(events: Iterable[dict[str, Any]]) -> dict[Cell, Decimal]:
    """What the aggregates must hold, computed plainly from the rules in docs/metrics.md."""
    cells: dict[Cell, Decimal] = defaultdict(Decimal)
    stocks: dict[tuple[str, str, str], dict[date, tuple[int, int]]] = defaultdict(dict)
    for e in events:
        p = e["payload"]
        if e["family"] == "cashless":
            day = date.fromisoformat(e["observed_at"])
            month = day.replace(day=1)
            for ind, value in (
                ("cashless_transactions", p["transactions"]),
                ("cashless_value_vnd", p["value_vnd"]),
            ):
                cells[(ind, "commune", e["unit_code"], day)] += value
                cells[(ind, "province", PROVINCE, month)] += value
        elif e["family"] == "bts":
            month = date.fromisoformat(e["observed_at"] + "-01")
            key = (e["unit_code"], p["operator"], p["technology"])
            best = stocks[key].get(month)
            if best is None or e["revision"] > best[0]:
                stocks[key][month] = (e["revision"], p["sites"])
    months = sorted({m for per in stocks.values() for m in per})
    units = {k[0] for k in stocks}
    for unit in units:
        reported = {m for (u, _, _), per in stocks.items() if u == unit for m in per}
        for month in months:
            if not any(r <= month for r in reported):
                continue
            # Carry-forward: each series' latest figure on or before the month.
            total = Decimal(0)
            for (u, _, _), per in stocks.items():
                if u != unit:
                    continue
                past = [m for m in per if m <= month]
                if past:
                    total += per[max(past)][1]
            cells[("bts_sites", "commune", unit, month)] = total
    return dict(cells)


# --- the platform's processes -------------------------------------------------------------------


#: Every fault a run injects; each happens at least once.
FAULT_KINDS = (
    "SIGKILL ingest",
    "SIGKILL metrics",
    "SIGKILL alerts",
    "restart Kafka",
    "restart PostgreSQL",
    "webhook outage",
)


class Platform:
    """Kafka, PostgreSQL and the three services as processes of this run, on fixed ports."""

    def __init__(self, work: Path, services: tuple[str, ...] = SERVICES) -> None:
        self.work = work
        self.services = services
        work.mkdir(parents=True, exist_ok=True)
        work.chmod(0o755)  # PostgreSQL runs as its own user when we are root
        self.kafka = LocalKafka(work_dir=work / "kafka")
        self.postgres = LocalPostgres(work_dir=work / "pg")
        self.ports = {name: free_port() for name in services}
        self.procs: dict[str, subprocess.Popen[bytes] | None] = dict.fromkeys(services)
        self.env: dict[str, str] = {}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def log(self, name: str) -> Path:
        return self.work / f"{name}.log"

    async def start_infra(self) -> str:
        (self.work / "kafka").mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.kafka.start)
        await wait_for_broker(self.kafka.bootstrap)
        await ensure_topics(self.kafka.bootstrap, ALL_TOPICS)
        await asyncio.to_thread(self.postgres.start)
        database_url = self.postgres.url()
        await asyncio.to_thread(upgrade, database_url)
        return database_url

    @staticmethod
    async def province_key(database_url: str, provider: str) -> str:
        """An ingest API key for every family in the chaos province."""
        engine = create_engine(database_url)
        try:
            _, key = await PgKeyStore(session_factory(engine)).create(
                provider=provider,
                families=[f.value for f in Family],
                units=[PROVINCE],
                actor=provider,
            )
        finally:
            await engine.dispose()
        return key

    def configure(self, database_url: str) -> None:
        self.env = {
            **os.environ,
            # As a province runs it: production mode, the services authenticating each other.
            "IOC_ENV": "production",
            **dev_secrets(),
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            "DATABASE_URL": database_url,
            "IOC_KAFKA_IDEMPOTENCE": "on",
            "IOC_INGEST_RATE_PER_SECOND": "0",
            "IOC_INGEST_RETRY_AFTER_SECONDS": "1",
            "IOC_INGEST_PUBLISH_TIMEOUT_SECONDS": "8",
            "IOC_INGEST_KAFKA_REQUEST_TIMEOUT_MS": "3000",
            "IOC_METRICS_POLL_TIMEOUT_MS": "200",
            "IOC_METRICS_BATCH_SIZE": "2000",
            "IOC_ALERTS_SEED_TARGETS": "false",
            # Production refuses a loopback dashboard address (links in messages).
            "IOC_ALERTS_DASHBOARD_URL": "https://ioc.example.gov.vn",
            "IOC_ALERTS_GROUP_WAIT_S": "1",
            "IOC_ALERTS_DISPATCH_INTERVAL_S": "0.3",
            "IOC_ALERTS_BACKOFF_BASE_S": "0.5",
            "IOC_ALERTS_BACKOFF_CAP_S": "3",
            "IOC_ALERTS_MAX_ATTEMPTS": "200",
            "IOC_ALERTS_SEND_TIMEOUT_S": "3",
            "IOC_ALERTS_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.0/8"]',
            "IOC_LOG_LEVEL": "INFO",
        }

    def spawn(self, name: str) -> None:
        factory = f"ioc_{name}.app:create_app"
        with self.log(name).open("ab") as out:
            self.procs[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    factory,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.ports[name]),
                    "--no-access-log",
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_healthy(self, name: str, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                proc = self.procs[name]
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{tail(self.log(name))}")
                try:
                    if (await client.get(self.url(name) + "/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{name} not healthy in {timeout_s}s:\n{tail(self.log(name))}")

    async def start(self, name: str) -> None:
        self.spawn(name)
        await self.wait_healthy(name)

    async def start_all(self, provider: str) -> tuple[str, str]:
        """Kafka, PostgreSQL and every service, with an ingest key for ``provider``:
        ``(database URL, key)``."""
        database_url = await self.start_infra()
        key = await self.province_key(database_url, provider)
        self.configure(database_url)
        for name in self.services:
            await self.start(name)
        return database_url, key

    def kill(self, name: str) -> None:
        kill_process(self.procs[name])
        self.procs[name] = None

    def stop_all(self) -> None:
        for name in reversed(self.services):
            stop_process(self.procs[name], timeout_s=10)
            self.procs[name] = None
        self.postgres.destroy()
        self.kafka.destroy()


# --- producer and faults ------------------------------------------------------------------------


class Producer:
    def __init__(self, url: str, key: str, result: ChaosResult) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {key}"}
        self.result = result
        self.acked: set[str] = set()
        self.sent_batches = 0

    async def run(self, events: list[dict[str, Any]], batch: int, spread_s: float) -> None:
        started = time.monotonic()
        batches = [events[i : i + batch] for i in range(0, len(events), batch)]
        async with httpx.AsyncClient(base_url=self.url, timeout=30, headers=self.headers) as c:
            for n, chunk in enumerate(batches):
                # Pace the batches so the faults fall while events flow.
                due = started + spread_s * n / len(batches)
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await self._send(c, chunk)
                self.sent_batches += 1

    async def _send(self, client: httpx.AsyncClient, chunk: list[dict[str, Any]]) -> None:
        while True:
            try:
                r = await client.post("/v1/events:batch", json={"events": chunk})
            except httpx.TransportError as exc:
                self.result.retries[type(exc).__name__] += 1
                await asyncio.sleep(0.5)
                continue
            if r.status_code in (429, 500, 502, 503, 504):
                self.result.retries[f"HTTP {r.status_code}"] += 1
                await asyncio.sleep(min(float(r.headers.get("Retry-After", "1")), 1.0))
                continue
            if r.status_code not in (200, 202):
                raise RuntimeError(f"ingest answered {r.status_code}: {r.text[:500]}")
            for item in r.json()["results"]:
                if item["status"] == "accepted":
                    self.result.accepted_202 += 1
                elif item["status"] == "duplicate":
                    self.result.duplicate_answers += 1
                else:
                    self.result.rejected += 1
                    continue
                self.acked.add(item["event_id"])
            return


class Faults:
    def __init__(
        self, platform: Platform, receiver: WebhookReceiver, rng: random.Random, t0: float
    ) -> None:
        self.platform = platform
        self.receiver = receiver
        self.rng = rng
        self.t0 = t0
        self.done: list[FaultRecord] = []

    def plan(self, mode: Mode) -> list[tuple[float, str]]:
        kinds = list(FAULT_KINDS)
        # The first webhook outage starts with the run, so the first alerts meet it.
        moments: list[tuple[float, str]] = [(0.0, "webhook outage")]
        for n in range(mode.rounds):
            for kind in kinds[: len(kinds) - (n == 0)]:
                moments.append((self.rng.uniform(0.05, 0.85) * mode.produce_s, kind))
        return sorted(moments)

    async def run(self, plan: list[tuple[float, str]]) -> None:
        """Process and broker faults one after the other; webhook outages alongside them (the
        receiver is independent of the platform)."""
        outages = [at for at, kind in plan if kind == "webhook outage"]
        side = asyncio.create_task(self._outages(outages))
        for at, kind in plan:
            if kind == "webhook outage":
                continue
            await asyncio.sleep(max(0.0, self.t0 + at - time.monotonic()))
            started = time.monotonic()
            down = round(self.rng.uniform(0.5, 3.0), 2)
            if kind.startswith("SIGKILL"):
                name = kind.split()[1]
                self.platform.kill(name)
                await asyncio.sleep(down)
                await self.platform.start(name)
            elif kind == "restart Kafka":
                await asyncio.to_thread(self.platform.kafka.restart, down)
            else:
                # Alternate a clean fast shutdown and a SIGKILL of the whole server.
                if sum(f.kind == kind for f in self.done) % 2:
                    self.platform.postgres.kill()
                    await asyncio.sleep(down)
                    await asyncio.to_thread(self.platform.postgres.start)
                else:
                    await asyncio.to_thread(self.platform.postgres.restart, down)
            self._record(kind, started, down)
        await side

    async def _outages(self, moments: list[float]) -> None:
        rng = random.Random(self.rng.random())
        for at in moments:
            await asyncio.sleep(max(0.0, self.t0 + at - time.monotonic()))
            started = time.monotonic()
            down = round(rng.uniform(8.0, 15.0), 2)
            await self.receiver.server.stop()
            await asyncio.sleep(down)
            await self.receiver.server.start()
            self._record("webhook outage", started, down)

    def _record(self, kind: str, started: float, down: float) -> None:
        took = round(time.monotonic() - started, 2)
        self.done.append(FaultRecord(kind, round(started - self.t0, 2), down, took))


# --- checks -----------------------------------------------------------------------------------


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        # The run created the topics with ensure_topics' 6 partitions.
        ends = await consumer.end_offsets([TopicPartition(t, p) for t in topics for p in range(6)])
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): off for tp, off in ends.items()}


async def wait_metrics_caught_up(
    database_url: str, bootstrap: str, acked: set[str], timeout_s: float
) -> None:
    """Until metrics has committed offsets up to the end of every telemetry partition and
    processed every acknowledged id (or the time is up: the comparison then shows the loss)."""
    ends = await end_offsets(bootstrap, TELEMETRY_TOPICS)
    wanted = [uuid.UUID(i) for i in acked]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            conn = await asyncpg.connect(_plain(database_url))
            try:
                rows = await conn.fetch(
                    "SELECT topic, partition, next_offset FROM metrics_offsets "
                    "WHERE group_id = 'ioc-metrics'"
                )
                missing = await conn.fetchval(
                    "SELECT count(*) FROM unnest($1::uuid[]) AS w(id) WHERE NOT EXISTS "
                    "(SELECT 1 FROM metrics_processed_events p WHERE p.event_id = w.id)",
                    wanted,
                )
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError):
            await asyncio.sleep(0.5)
            continue
        done = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
        if missing == 0 and all(done.get(p, 0) >= end for p, end in ends.items()):
            return
        await asyncio.sleep(0.5)


async def compare(
    result: ChaosResult, database_url: str, workload: Workload, acked: set[str]
) -> None:
    events = [e for e in workload.events if e["event_id"] in acked]
    conn = await asyncpg.connect(_plain(database_url))
    try:
        processed = {
            str(r["event_id"])
            for r in await conn.fetch("SELECT event_id FROM metrics_processed_events")
        }
        result.counted = len(processed & acked)
        result.lost = len(acked - processed)
        expected = reference(events)
        rows = await conn.fetch(
            "SELECT indicator, level, code, period_start, num FROM metrics_aggregates "
            "WHERE (indicator IN ('cashless_transactions', 'cashless_value_vnd') AND "
            "       ((level = 'commune' AND granularity = 'day') OR "
            "        (level = 'province' AND granularity = 'month'))) "
            "   OR (indicator = 'bts_sites' AND level = 'commune' AND granularity = 'month')"
        )
        actual: dict[Cell, Decimal] = {
            (r["indicator"], r["level"], r["code"], r["period_start"]): Decimal(r["num"] or 0)
            for r in rows
        }
        result.cashless_acknowledged = sum(e["family"] == "cashless" for e in events)
        result.flow_count_in_aggregates = int(
            sum(
                v
                for (ind, lvl, _, _), v in actual.items()
                if ind == "cashless_transactions" and lvl == "province"
            )
        )
        # Each cashless event is one transaction: any surplus in the totals was counted twice.
        result.double_counted = max(
            0, result.flow_count_in_aggregates - result.cashless_acknowledged
        ) + len(processed - {e["event_id"] for e in workload.events})
        result.lost += max(0, result.cashless_acknowledged - result.flow_count_in_aggregates)
        keys = set(expected) | set(actual)
        result.cells_compared = len(keys)
        for k in sorted(keys, key=str):
            if expected.get(k, Decimal(0)) != actual.get(k, Decimal(0)):
                result.cells_different += 1
                if len(result.differences) < 20:
                    result.differences.append(
                        f"{k}: expected {expected.get(k)} actual {actual.get(k)}"
                    )
    finally:
        await conn.close()


async def wait_alerts_delivered(
    result: ChaosResult,
    database_url: str,
    workload: Workload,
    receiver: WebhookReceiver,
    timeout_s: float,
) -> None:
    # Every alert unit's figures are at 50% against an expected 80% (critical beyond 10).
    expected_units = set(workload.alert_units)
    result.alerts_expected = len(expected_units)
    deadline = time.monotonic() + timeout_s
    while True:
        conn = await asyncpg.connect(_plain(database_url))
        try:
            alerts = await conn.fetch(
                "SELECT id, unit_code, rule, severity, state, version FROM alerts_alerts"
            )
            outbox = await conn.fetch(
                "SELECT idempotency_key, status FROM alerts_outbox WHERE channel = 'webhook'"
            )
            result.webhook_failed_attempts = await conn.fetchval(
                "SELECT count(*) FROM alerts_delivery_attempts WHERE outcome <> 'sent'"
            )
        finally:
            await conn.close()
        raised = {
            a["unit_code"]: a
            for a in alerts
            if a["rule"] == "lagging" and a["severity"] == "critical" and a["state"] == "firing"
        }
        received_ids = {h.webhook_id for h in receiver.hooks}
        notified: set[str] = set()
        items: Counter[tuple[str, Any, str]] = Counter()
        for hook in receiver.hooks:
            for item in hook.body["data"]["alerts"]:
                items[(item["alert_id"], item.get("version"), item["change"])] += 1
                if item["change"] == "firing":
                    notified.add(item["alert_id"])
        result.alerts_raised = len(set(raised) & expected_units)
        result.alerts_unexpected = len(alerts) - result.alerts_raised
        result.alerts_notified = len({str(a["id"]) for a in raised.values()} & notified)
        result.webhook_deliveries = len(received_ids)
        result.webhook_repeats_same_key = len(receiver.duplicates)
        result.webhook_repeats_beyond_key = sum(n - 1 for n in items.values() if n > 1) + len(
            received_ids - {o["idempotency_key"] for o in outbox}
        )
        result.outbox_not_sent = sum(
            o["status"] != "sent" or o["idempotency_key"] not in received_ids for o in outbox
        )
        settled = (
            result.alerts_raised == result.alerts_expected
            and result.alerts_notified == result.alerts_expected
            and result.outbox_not_sent == 0
        )
        if settled or time.monotonic() > deadline:
            return
        await asyncio.sleep(1.0)


# --- the run ------------------------------------------------------------------------------------


async def setup_alerts(
    url: str, env: dict[str, str], units: list[str], receiver: WebhookReceiver
) -> None:
    today = vietnam_today()

    def acting(path: str) -> dict[str, str]:
        token, key = env["IOC_ALERTS_SERVICE_TOKEN"], env["IOC_ALERTS_ACTOR_KEY"]
        return service_headers(token, actor="chaos@test", key=key, method="POST", path=path)

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        target = district_target(today, id="chaos-dossiers", scope={"units": units})
        r = await client.post("/v1/targets", json=target, headers=acting("/v1/targets"))
        assert r.status_code == 201, r.text
        r = await client.post(
            "/v1/recipients",
            headers=acting("/v1/recipients"),
            json={
                "name": "Trung tâm IOC (chaos)",
                "units": [PROVINCE],
                "channels": [
                    {"channel": "webhook", "url": receiver.url, "secret": receiver.secret}
                ],
            },
        )
        assert r.status_code == 201, r.text


async def run_chaos(
    mode: str, *, seed: int, events: int | None = None, work: Path | None = None
) -> ChaosResult:
    spec = MODES[mode]
    if events is not None:
        scale = events / spec.events
        spec = Mode(events, max(30.0, spec.produce_s * scale), spec.rounds, spec.batch)
    result = ChaosResult(mode=mode, seed=seed, events=spec.events)
    rng = random.Random(seed)
    today = vietnam_today()
    workload = make_workload(spec.events, seed, today)
    platform = Platform(work or Path(tempfile.mkdtemp(prefix="ioc-chaos-")))
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    started = time.monotonic()
    try:
        database_url, key = await platform.start_all("chaos")
        await receiver.server.start()
        await setup_alerts(platform.url("alerts"), platform.env, workload.alert_units, receiver)

        producer = Producer(platform.url("ingest"), key, result)
        t0 = time.monotonic()
        faults = Faults(platform, receiver, rng, t0)
        fault_task = asyncio.create_task(faults.run(faults.plan(spec)))
        await producer.run(workload.events, spec.batch, spec.produce_s)
        await fault_task
        result.faults = faults.done
        result.acknowledged = len(producer.acked)

        await wait_metrics_caught_up(
            database_url, platform.kafka.bootstrap, producer.acked, timeout_s=240
        )
        await compare(result, database_url, workload, producer.acked)
        await wait_alerts_delivered(result, database_url, workload, receiver, timeout_s=120)
    finally:
        result.run_s = round(time.monotonic() - started, 1)
        await receiver.server.stop()
        await asyncio.to_thread(platform.stop_all)
    if result.ok() and work is None:
        shutil.rmtree(platform.work, ignore_errors=True)
    else:  # the services' logs, to see what went wrong
        result.logs = str(platform.work)
    return result


def write_result(result: ChaosResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=sorted(MODES), default="short")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--events", type=int, default=None, help="override the mode's count")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    result = asyncio.run(run_chaos(args.mode, seed=seed, events=args.events))
    print(result.table())
    for d in result.differences:
        print("  diff:", d)
    out = args.out or RESULTS_DIR / f"chaos-{args.mode}.json"
    write_result(result, out)
    print(f"written: {out}")
    return 0 if result.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
