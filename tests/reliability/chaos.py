"""The chaos run: the whole pipeline on its own Kafka and PostgreSQL while faults strike.

Five providers (two banks, a telecom operator, the home-affairs and the information
departments), each with its own ingest key, push a known, seeded set of events of all four
families through ingest while a fault task, at seeded random moments, SIGKILLs ingest, metrics
and alerts (then restarts them), restarts the Kafka broker (data kept) and PostgreSQL, takes the
webhook receiver down, and strikes some faults together (a SIGKILL of metrics while PostgreSQL
restarts, of alerts while the broker restarts...). At the end it compares:

- events acknowledged (202, or "duplicate" for an id accepted before) vs events counted by
  metrics, per family (lost and double-counted must be 0; an id metrics counted that nobody
  sent is a double count);
- every indicator fed by the run × every level (commune; district — the former district of
  the post-reform roll-up, split into former Tuyên Quang's own and former Hà Giang's, which
  roll up into 08 since July 2025; province) × every grain (day, month, quarter, year), as the
  metrics query API answers it, vs a reference computed here from the acknowledged events and
  the unit CSVs (an independent oracle: it shares no code with the services);
- HTTP answers: every 5xx is counted. A 503 with ``Retry-After`` while the broker or the
  database is down (or within ``GRACE_S`` after), or while a restarted ingest is not yet
  ready (a readiness probe would keep traffic away), is ingest's documented contract —
  nothing accepted, send again — and is retried; any other 5xx (a 500, a 503 while every
  dependency is up, any 5xx of the metrics API) is a defect and fails the run. A killed
  service is a connection failure, not an HTTP answer;
- alerts expected from the reference vs alerts raised and notified to the webhook (each one
  delivered; repeats only under the same idempotency key).

``python -m tests.reliability.chaos --mode long`` (or ``short``; ``--events``, ``--seed``)
prints the table and writes ``tests/reliability/results/chaos-<mode>.json``; the pytest module
``test_chaos_pipeline.py`` runs the short mode (marker ``chaos``) and the two sabotaged builds
of ``sabotage.py`` that the run must catch.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
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
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from ioc_alerts.testing import WebhookReceiver, district_target
from ioc_common.catalogue import AggregationKind, Catalogue, Indicator, load_catalogue
from ioc_common.db import create_engine, session_factory
from ioc_common.db.migrate import upgrade
from ioc_common.dev import dev_secrets
from ioc_common.events import Family
from ioc_common.infra.kafka_local import LocalKafka
from ioc_common.infra.postgres_local import LocalPostgres
from ioc_common.infra.process import free_port, kill_process, stop_process, tail
from ioc_common.kafka.admin import ensure_topics, wait_for_broker
from ioc_common.service_auth import service_headers
from ioc_common.timeutil import vietnam_today
from ioc_common.topics import ALL_TOPICS, TELEMETRY_TOPICS
from ioc_gateway.testing import create_user_command
from ioc_ingest.keys import PgKeyStore

RESULTS_DIR = Path(__file__).parent / "results"
REPO_ROOT = Path(__file__).resolve().parents[2]
PROVINCE = "08"
#: Former Hà Giang: merged into 08 on 1 July 2025; its former districts roll up into 08 since.
MERGED_FROM = "02"
WEBHOOK_SECRET = "whsec_" + "Q0hBT1NSRUNFSVZFUlNFQ1JFVEtFWTEy"
SERVICES = ("ingest", "metrics", "alerts")
#: How long after a broker or database restart ingest may still answer its documented 503
#: (a request that waited for the broker the whole publish timeout, 8 s here, plus margin).
GRACE_S = 12.0
GRAINS = ("day", "month", "quarter", "year")
_GRAIN_RANK = {g: n for n, g in enumerate(GRAINS)}


@dataclass(frozen=True)
class Mode:
    events: int
    #: How long the producers spread their events over (faults fall inside this window).
    produce_s: float
    #: How many times each kind of fault is injected.
    rounds: int
    batch: int
    #: Communes whose dossiers lag their target: one critical alert, one notification each.
    alert_units: int = 40


MODES = {
    "short": Mode(events=10_000, produce_s=70.0, rounds=1, batch=250),
    "long": Mode(events=100_000, produce_s=480.0, rounds=3, batch=500, alert_units=60),
}


@dataclass(frozen=True)
class Provider:
    """A department or company sending one family, with an ingest key of its own."""

    name: str
    family: Family


PROVIDERS = (
    Provider("ngan-hang-a", Family.CASHLESS),
    Provider("ngan-hang-b", Family.CASHLESS),
    Provider("nha-mang", Family.BTS),
    Provider("so-noi-vu", Family.PUBLIC_SERVICE),
    Provider("so-tttt", Family.OBSERVATION),
)

#: Observation indicators the run reports: stocks, ratios of stocks, ratios of flows.
OBSERVED = (
    "villages_fibre",
    "open_datasets",
    "households_fixed_broadband",
    "internet_users_rate",
    "e_documents_signed_rate",
    "e_documents_fully_signed_rate",
)


@dataclass
class FaultRecord:
    kind: str
    at_s: float
    down_s: float
    took_s: float = 0.0


@dataclass
class ServerError:
    """One 5xx answer: when (seconds since the producers started), what, and the verdict."""

    at_s: float
    service: str
    status: int
    detail: str
    #: Ingest's documented 503 while the broker or database was down (retried, not a defect).
    during_outage: bool = False


@dataclass
class FamilyFigures:
    acknowledged: int = 0
    counted: int = 0
    lost: int = 0
    #: Flow cells above the reference: an effect applied twice (stocks keep one value per
    #: fact, so a repeat cannot show there; their repeats show as ids counted twice).
    cells_above: int = 0
    cells_below: int = 0


@dataclass
class ChaosResult:
    mode: str
    seed: int
    events: int
    sabotage: str = ""
    run_s: float = 0.0
    #: Seconds per phase: start, produce (faults inside), catch up, compare, alerts.
    phases: dict[str, float] = field(default_factory=dict)
    acknowledged: int = 0
    accepted_202: int = 0
    duplicate_answers: int = 0
    rejected: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    server_errors: list[ServerError] = field(default_factory=list)
    counted: int = 0
    lost: int = 0
    double_counted: int = 0
    #: Ids metrics counted that no provider sent (an effect applied under a made-up id).
    counted_not_sent: int = 0
    flow_count_in_aggregates: int = 0
    cashless_acknowledged: int = 0
    families: dict[str, FamilyFigures] = field(default_factory=dict)
    #: "family × level" -> [cells compared, cells different].
    compared: dict[str, list[int]] = field(default_factory=dict)
    grains_compared: dict[str, int] = field(default_factory=dict)
    cells_compared: int = 0
    cells_different: int = 0
    differences: list[str] = field(default_factory=list)
    alerts_checked: bool = True
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
    #: Services that exited while starting after a SIGKILL (a dependency still down) and
    #: were started again, as an orchestrator would.
    failed_starts: dict[str, int] = field(default_factory=dict)
    logs: str | None = None

    def fault_counts(self) -> dict[str, int]:
        return dict(Counter(f.kind for f in self.faults))

    def overlaps(self) -> list[tuple[str, str]]:
        """Pairs of platform faults in progress at the same time (webhook outages, which run
        beside everything, are not counted)."""
        timed = [f for f in self.faults if f.kind != "webhook outage"]
        pairs = []
        for i, a in enumerate(timed):
            for b in timed[i + 1 :]:
                if a.at_s < b.at_s + b.took_s and b.at_s < a.at_s + a.took_s:
                    pairs.append((a.kind, b.kind))
        return pairs

    def fatal_5xx(self) -> int:
        return sum(not e.during_outage for e in self.server_errors)

    def outage_503(self) -> int:
        return sum(e.during_outage for e in self.server_errors)

    def alerts_ok(self) -> bool:
        return not self.alerts_checked or (
            self.alerts_raised == self.alerts_expected
            and self.alerts_unexpected == 0
            and self.alerts_notified == self.alerts_expected
            and self.webhook_repeats_beyond_key == 0
            and self.outbox_not_sent == 0
        )

    def ok(self) -> bool:
        return (
            self.acknowledged == self.events
            and self.lost == 0
            and self.double_counted == 0
            and self.rejected == 0
            and self.fatal_5xx() == 0
            and self.cells_different == 0
            and self.cells_compared > 0
            and self.alerts_ok()
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["retries"] = dict(self.retries)
        data["fault_counts"] = self.fault_counts()
        data["overlapping_faults"] = self.overlaps()
        data["fatal_5xx"] = self.fatal_5xx()
        data["ok"] = self.ok()
        return data

    def table(self) -> str:
        def ok(flag: bool) -> str:
            return "ok" if flag else "FAIL"

        faults = self.fault_counts()
        overlaps = Counter(" + ".join(p) for p in self.overlaps())
        rows = [
            ("events sent (distinct ids)", f"{self.events:,}", ""),
            (
                "acknowledged (202 + duplicate answers)",
                f"{self.acknowledged:,}",
                ok(self.acknowledged == self.events),
            ),
            (
                "  of which 202 / duplicate answers",
                f"{self.accepted_202:,} / {self.duplicate_answers:,}",
                "",
            ),
            ("rejected items", str(self.rejected), ok(self.rejected == 0)),
            ("5xx answers", str(self.fatal_5xx()), ok(self.fatal_5xx() == 0)),
            (
                "  503 while broker/database down (documented, retried)",
                str(self.outage_503()),
                "",
            ),
            (
                "retried requests (by cause)",
                ", ".join(f"{k} {v}" for k, v in sorted(self.retries.items())) or "0",
                "",
            ),
            ("counted by metrics (distinct ids)", f"{self.counted:,}", ""),
            ("LOST (acknowledged, not counted)", str(self.lost), ok(self.lost == 0)),
            (
                "DOUBLE-COUNTED (at least)",
                str(self.double_counted),
                ok(self.double_counted == 0),
            ),
            ("  ids counted that nobody sent", str(self.counted_not_sent), ""),
            *(
                (
                    f"  {fam}: acked / counted / lost / flow cells above, below reference",
                    f"{f.acknowledged:,} / {f.counted:,} / {f.lost} / {f.cells_above}, "
                    f"{f.cells_below}",
                    ok(f.lost == 0 and f.cells_above == 0 and f.cells_below == 0),
                )
                for fam, f in sorted(self.families.items())
            ),
            (
                "cashless events acked vs transactions in aggregates",
                f"{self.cashless_acknowledged:,} vs {self.flow_count_in_aggregates:,}",
                ok(self.cashless_acknowledged == self.flow_count_in_aggregates),
            ),
            (
                "cells vs reference, all (different)",
                f"{self.cells_compared:,} ({self.cells_different})",
                ok(self.cells_different == 0 and self.cells_compared > 0),
            ),
            *(
                (f"  {key} (different)", f"{n:,} ({d})", ok(d == 0 and n > 0))
                for key, (n, d) in sorted(self.compared.items())
            ),
            (
                "  cells per grain",
                ", ".join(f"{g} {self.grains_compared.get(g, 0):,}" for g in GRAINS),
                "",
            ),
        ]
        if self.alerts_checked:
            rows += [
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
                (
                    "outbox rows not sent",
                    str(self.outbox_not_sent),
                    ok(self.outbox_not_sent == 0),
                ),
                ("webhook attempts that failed (outages)", str(self.webhook_failed_attempts), ""),
            ]
        rows += [
            *((f"fault: {k}", str(v), "") for k, v in sorted(faults.items())),
            ("overlapping faults", str(len(self.overlaps())), ""),
            (
                "  restarts after a start failed (dependency down)",
                ", ".join(f"{k} {v}" for k, v in sorted(self.failed_starts.items())) or "0",
                "",
            ),
            *((f"  {k}", str(v), "") for k, v in sorted(overlaps.items())),
            (
                "mode / seed / run length",
                f"{self.mode}{' sabotage ' + self.sabotage if self.sabotage else ''} / "
                f"{self.seed} / {self.run_s:.0f} s",
                "",
            ),
            ("  phases (s)", ", ".join(f"{k} {v:.0f}" for k, v in self.phases.items()), ""),
        ]
        width = max(len(r[0]) for r in rows)
        vwidth = max(len(r[1]) for r in rows)
        lines = [f"{'check'.ljust(width)} | {'value'.ljust(vwidth)} | result"]
        lines.append("-" * len(lines[0]))
        lines += [f"{a.ljust(width)} | {b.ljust(vwidth)} | {c}" for a, b, c in rows]
        return "\n".join(lines)


# --- the units, read plainly from the reference CSVs ------------------------------------------


@dataclass(frozen=True)
class Units:
    """The province's communes after the reform and the path each rolls up along: the commune,
    its former district, the province (docs/metrics.md, *Tree*)."""

    district_of: dict[str, str]
    #: Former districts → the province they belonged to before the reform.
    former_province: dict[str, str]

    @property
    def communes(self) -> list[str]:
        return sorted(self.district_of)

    def path(self, commune: str) -> list[tuple[str, str]]:
        """``(level label, code)`` from the commune up to the province."""
        district = self.district_of[commune]
        merged = self.former_province.get(district) != PROVINCE
        return [
            ("commune", commune),
            ("district (post-reform roll-up)" if merged else "district", district),
            ("province", PROVINCE),
        ]


def _csv_rows(name: str) -> list[dict[str, str]]:
    text = resources.files("ioc_common.reference").joinpath("data", name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def load_units() -> Units:
    district_of = {
        r["code"]: r["former_district_code"]
        for r in _csv_rows("units_2025.csv")
        if r["level"] == "commune" and r["parent_code"] == PROVINCE
    }
    former = {
        r["code"]: r["parent_code"]
        for r in _csv_rows("units_legacy.csv")
        if r["level"] == "district" and r["code"] in set(district_of.values())
    }
    return Units(district_of, former)


# --- the events and their reference -----------------------------------------------------------


@dataclass
class Workload:
    #: Per provider, the events it sends, in the order it sends them.
    by_provider: dict[str, list[dict[str, Any]]]
    alert_units: list[str]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for events in self.by_provider.values() for e in events]

    def identities(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(provider, event_id) → event: the identity metrics deduplicates on."""
        return {(p, e["event_id"]): e for p, events in self.by_provider.items() for e in events}


def _split(units: Units, rng: random.Random, n: int) -> list[str]:
    """``n`` communes, half of them from former Hà Giang (rolled up into 08 since the reform)."""
    merged = [c for c in units.communes if units.path(c)[1][0] != "district"]
    own = [c for c in units.communes if units.path(c)[1][0] == "district"]
    return sorted(rng.sample(merged, n // 2) + rng.sample(own, n - n // 2))


def make_workload(n: int, seed: int, today: date, alert_units: int = 40) -> Workload:
    """Cashless flows (1 transaction each, a random value) per commune and day over ~10 weeks,
    from two banks; BTS stocks per commune, operator, technology and month with shuffled
    revisions; public-service figures at 50 % processed online for the alert communes (their
    target expects 80 %: one critical alert each); observations of stocks, stock ratios and
    flow ratios. Communes come from both former provinces."""
    rng = random.Random(seed)
    units = load_units()
    catalogue = load_catalogue()
    communes = units.communes
    alerting = _split(units, rng, alert_units)
    bts_units = _split(units, rng, 20)
    obs_units = _split(units, rng, 20)
    this_month = today.replace(day=1)
    months = [this_month]
    for _ in range(3):  # four months: carry-forward across a quarter's end
        months.insert(0, (months[0] - timedelta(days=1)).replace(day=1))
    series = [(op, tech) for op in ("Viettel", "VNPT", "MobiFone") for tech in ("4G", "5G")]
    n_bts = n * 12 // 100
    n_ps = n * 5 // 100
    n_obs = n * 8 // 100
    by_provider: dict[str, list[dict[str, Any]]] = {p.name: [] for p in PROVIDERS}

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    # One revision counter per unit and month across operators: the village counts describe
    # the unit (one fact per unit and month, highest revision wins), so revisions never tie.
    revisions: Counter[tuple[str, ...]] = Counter()
    for _ in range(n_bts):
        unit, (op, tech), month = rng.choice(bts_units), rng.choice(series), rng.choice(months)
        revisions[(unit, month.isoformat())] += 1
        total = rng.randint(10, 40)
        by_provider["nha-mang"].append(
            {
                "event_id": new_id(),
                "family": "bts",
                "unit_code": unit,
                "observed_at": month.strftime("%Y-%m"),
                "revision": revisions[(unit, month.isoformat())],
                "payload": {
                    "operator": op,
                    "technology": tech,
                    "sites": rng.randint(0, 60),
                    "villages_total": total,
                    "villages_covered": rng.randint(0, total),
                },
            }
        )
    reporting: set[str] = set()
    for i in range(n_ps):
        k = rng.randint(5, 50)
        online = rng.randint(k, 2 * k)
        # The alert communes start reporting one after another over the run (these events are
        # sent in this order): their alerts, and so the webhook sends, spread over the faults.
        opened = alerting[: 1 + i * len(alerting) // n_ps]
        unit = opened[-1] if opened[-1] not in reporting else rng.choice(opened)
        reporting.add(unit)
        by_provider["so-noi-vu"].append(
            {
                "event_id": new_id(),
                "family": "public_service",
                "unit_code": unit,
                "observed_at": today.isoformat(),
                "payload": {
                    "service_level": "full_online",
                    "dossiers_total": 2 * k,
                    "dossiers_online": online,
                    "dossiers_processed_online": k,
                    "paid_online": rng.randint(0, online),
                },
            }
        )
    for _ in range(n_obs):
        ind = catalogue.require(rng.choice(OBSERVED))
        unit = rng.choice(obs_units)
        flows = ind.numerator is not None and ind.numerator.kind is AggregationKind.FLOW
        if flows:  # daily figures that add up (revision 1: ties add)
            observed, revision = (today - timedelta(days=rng.randint(0, 69))).isoformat(), 1
        else:  # monthly levels, corrected by later revisions sent in any order
            observed = rng.choice(months).strftime("%Y-%m")
            revisions[(ind.code, unit, observed)] += 1
            revision = revisions[(ind.code, unit, observed)]
        if ind.is_ratio:
            den = rng.randint(50, 500)
            payload: dict[str, int] = {"numerator": rng.randint(0, den), "denominator": den}
        else:
            payload = {"value": rng.randint(0, 300)}
        by_provider["so-tttt"].append(
            {
                "event_id": new_id(),
                "family": "observation",
                "indicator": ind.code,
                "unit_code": unit,
                "observed_at": observed,
                "revision": revision,
                "payload": payload,
            }
        )
    banks = [p.name for p in PROVIDERS if p.family is Family.CASHLESS]
    for _ in range(n - n_bts - n_ps - n_obs):
        day = today - timedelta(days=rng.randint(0, 69))
        by_provider[rng.choice(banks)].append(
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
    for name, events in by_provider.items():
        if name != "so-noi-vu":
            rng.shuffle(events)
    return Workload(by_provider, alerting)


def _observed(text: str) -> tuple[date, str]:
    if len(text) == 7:
        return date.fromisoformat(text + "-01"), "month"
    return date.fromisoformat(text), "day"


def period_start(d: date, grain: str) -> date:
    if grain == "day":
        return d
    if grain == "month":
        return d.replace(day=1)
    if grain == "quarter":
        return date(d.year, (d.month - 1) // 3 * 3 + 1, 1)
    return date(d.year, 1, 1)


def period_end(start: date, grain: str) -> date:
    if grain == "day":
        return start
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    y, m = divmod(start.month - 1 + months, 12)
    return date(start.year + y, m + 1, 1) - timedelta(days=1)


def periods(first: date, last: date, grain: str) -> list[date]:
    out, p = [], period_start(first, grain)
    while p <= last:
        out.append(p)
        p = period_end(p, grain) + timedelta(days=1)
    return out


def period_label(start: date, grain: str) -> str:
    if grain == "day":
        return start.isoformat()
    if grain == "month":
        return start.strftime("%Y-%m")
    if grain == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return str(start.year)


@dataclass(frozen=True)
class Fact:
    indicator: str
    flow: bool
    unit: str
    series: tuple[str, ...]
    observed: date
    grain: str
    provider: str
    revision: int
    num: Decimal
    den: Decimal | None


def facts_of(event: dict[str, Any], provider: str, catalogue: Catalogue) -> list[Fact]:
    """One fact per catalogue indicator the event feeds (an observation: the one it names)."""
    family = Family(event["family"])
    payload = event["payload"]
    observed, grain = _observed(event["observed_at"])
    inds: list[Indicator] = (
        [catalogue.require(event["indicator"])]
        if family is Family.OBSERVATION
        else catalogue.derived_from(family)
    )
    facts = []
    for ind in inds:
        src = ind.source
        if ind.is_ratio:
            assert ind.numerator is not None
            flow = ind.numerator.kind is AggregationKind.FLOW
            num_field, den_field = src.numerator or "numerator", src.denominator or "denominator"
            num, den = Decimal(payload[num_field]), Decimal(payload[den_field])
        else:
            flow = ind.kind is AggregationKind.FLOW
            num, den = Decimal(payload[src.value or "value"]), None
        series = tuple(str(payload[f]) for f in src.series_by)
        facts.append(
            Fact(
                ind.code,
                flow,
                event["unit_code"],
                series,
                observed,
                grain,
                provider,
                event.get("revision", 1),
                num,
                den,
            )
        )
    return facts


Cell = tuple[str, str, str, str, date]  # indicator, level label, code, grain, period start
Value = tuple[Decimal, Decimal | None]  # numerator (or value), denominator


@dataclass
class Reference:
    cells: dict[Cell, Value]
    #: indicator → family, and the nodes (level label, code) and periods to ask the API about.
    family: dict[str, str]
    nodes: dict[str, set[tuple[str, str]]]
    span: dict[str, tuple[date, date]]


def reference(acked: Iterable[tuple[str, dict[str, Any]]], units: Units, today: date) -> Reference:
    """What the query API must answer, computed plainly from the rules in docs/metrics.md:
    a flow figure is a provider's events at their highest revision, summed (ties add), and a
    period sums the figures observed in it at its grain or finer; a stock keeps its highest
    revision per (indicator, unit, series, period) and a period holds, per unit and series,
    the latest fact observed on or before its end (carried forward), summed; a ratio sums its
    numerators and denominators. Only communes report, so every node sums its communes."""
    catalogue = load_catalogue()
    family: dict[str, str] = {}
    flows: dict[tuple[Any, ...], tuple[int, Decimal, Decimal | None]] = {}
    stocks: dict[tuple[Any, ...], Fact] = {}
    for provider, event in acked:
        for f in facts_of(event, provider, catalogue):
            family[f.indicator] = event["family"]
            if f.flow:
                key = (f.indicator, f.unit, f.series, f.observed, f.grain, f.provider)
                rev, num, den = flows.get(key, (0, Decimal(0), None))
                if f.revision > rev:
                    flows[key] = (f.revision, f.num, f.den)
                elif f.revision == rev:
                    den_sum = None if f.den is None else (den or Decimal(0)) + f.den
                    flows[key] = (rev, num + f.num, den_sum)
            else:
                identity = (f.indicator, f.unit, f.series, f.observed, f.grain)
                best = stocks.get(identity)
                if best is not None and best.revision == f.revision:
                    raise ValueError(f"a tie the rules settle by arrival time: {identity}")
                if best is None or f.revision > best.revision:
                    stocks[identity] = f
    cells: dict[Cell, Value] = {}
    nodes: dict[str, set[tuple[str, str]]] = defaultdict(set)
    first_seen: dict[str, date] = {}

    def add(ind: str, commune: str, grain: str, start: date, num: Decimal, den: Any) -> None:
        for level, code in units.path(commune):
            nodes[ind].add((level, code))
            cell = (ind, level, code, grain, start)
            old_num, old_den = cells.get(cell, (Decimal(0), None))
            cells[cell] = (old_num + num, None if den is None else (old_den or Decimal(0)) + den)

    for (ind, unit, _, observed, grain, _), (_, num, den) in flows.items():
        first_seen[ind] = min(first_seen.get(ind, observed), observed)
        for g in GRAINS[_GRAIN_RANK[grain] :]:
            add(ind, unit, g, period_start(observed, g), num, den)
    per_series: dict[tuple[str, str, tuple[str, ...]], list[Fact]] = defaultdict(list)
    for (ind, unit, series, _, _), fact in stocks.items():
        per_series[(ind, unit, series)].append(fact)
        first_seen[ind] = min(first_seen.get(ind, fact.observed), fact.observed)
    for (ind, unit, _), facts in per_series.items():
        for g in GRAINS:
            for start in periods(first_seen[ind], today, g):
                end = period_end(start, g)
                eligible = [
                    f for f in facts if _GRAIN_RANK[f.grain] <= _GRAIN_RANK[g] and f.observed <= end
                ]
                if eligible:
                    latest = max(eligible, key=lambda f: (f.observed, _GRAIN_RANK[f.grain]))
                    add(ind, unit, g, start, latest.num, latest.den)
                else:
                    for level, code in units.path(unit):
                        nodes[ind].add((level, code))
    span = {ind: (first, today) for ind, first in first_seen.items()}
    return Reference(cells, family, dict(nodes), span)


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

#: Faults struck together, per round (the second starts while the first is in progress): a
#: service killed while the database or the broker it reconnects to is down.
OVERLAPS = (
    (("restart PostgreSQL", "SIGKILL metrics"), ("restart Kafka", "SIGKILL alerts")),
    (),
    (("restart PostgreSQL", "SIGKILL ingest"), ("restart Kafka", "SIGKILL metrics")),
)


class Platform:
    """Kafka, PostgreSQL and the three services as processes of this run, on fixed ports.

    ``factories`` replaces a service's app factory (``module:function``) — the sabotage test
    starts a metrics build broken on purpose this way; ``extra_env`` is added to every
    service's environment."""

    def __init__(
        self,
        work: Path,
        services: tuple[str, ...] = SERVICES,
        *,
        factories: dict[str, str] | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.work = work
        self.services = services
        work.mkdir(parents=True, exist_ok=True)
        work.chmod(0o755)  # PostgreSQL runs as its own user when we are root
        self.kafka = LocalKafka(work_dir=work / "kafka")
        self.postgres = LocalPostgres(work_dir=work / "pg")
        self.ports = {name: free_port() for name in services}
        self.procs: dict[str, subprocess.Popen[bytes] | None] = dict.fromkeys(services)
        self.env: dict[str, str] = {}
        self.factories = factories or {}
        self.extra_env = extra_env or {}
        self.failed_starts: Counter[str] = Counter()

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
    async def province_key(
        database_url: str, provider: str, families: Iterable[Family] = tuple(Family)
    ) -> str:
        """An ingest API key of ``provider`` for ``families`` in the chaos province."""
        engine = create_engine(database_url)
        try:
            _, key = await PgKeyStore(session_factory(engine)).create(
                provider=provider,
                families=[f.value for f in families],
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
            **self.extra_env,
        }
        if self.factories:  # a factory in tests/ is imported from the repository's root
            path = self.env.get("PYTHONPATH", "")
            self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), path) if p)

    def spawn(self, name: str) -> None:
        factory = self.factories.get(name, f"ioc_{name}.app:create_app")
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
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_healthy(
        self, name: str, timeout_s: float = 90.0, path: str = "/healthz"
    ) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                proc = self.procs[name]
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{tail(self.log(name))}")
                try:
                    if (await client.get(self.url(name) + path)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{name} not {path} in {timeout_s}s:\n{tail(self.log(name))}")

    async def start(self, name: str, *, ready: bool = False, supervise: bool = False) -> None:
        """Start ``name`` and wait until it is alive (``ready``: its dependencies reachable).
        ``supervise``: a process that exits while starting (a dependency still down) is
        started again after a second, as an orchestrator would; counted in ``failed_starts``."""
        deadline = time.monotonic() + 180.0
        while True:
            self.spawn(name)
            try:
                await self.wait_healthy(
                    name, timeout_s=120.0, path="/readyz" if ready else "/healthz"
                )
                return
            except RuntimeError:
                proc = self.procs[name]
                exited = proc is not None and proc.poll() is not None
                if not (supervise and exited and time.monotonic() < deadline):
                    raise
                self.failed_starts[name] += 1
                await asyncio.sleep(1.0)

    async def start_all(self, provider: str) -> tuple[str, str]:
        """Kafka, PostgreSQL and every service, with an ingest key for ``provider``:
        ``(database URL, key)``."""
        database_url = await self.start_infra()
        key = await self.province_key(database_url, provider)
        self.configure(database_url)
        for name in self.services:
            await self.start(name)
        return database_url, key

    async def start_with_admin(self, who: str) -> tuple[str, str, str]:
        """Kafka, PostgreSQL and every service, the gateway among them calling the real metrics
        and alerts, with an ingest key for ``who`` and a dashboard administrator ``{who}.admin``
        of the province made with ``ioc users create`` and logged in: ``(database URL, ingest
        key, gateway session token)``."""
        database_url = await self.start_infra()
        key = await self.province_key(database_url, who)
        self.configure(database_url)
        self.env.update(
            {
                "IOC_GATEWAY_METRICS_URL": self.url("metrics"),
                "IOC_GATEWAY_ALERTS_URL": self.url("alerts"),
                "IOC_LOG_LEVEL": "WARNING",
            }
        )
        username, password = f"{who}.admin", uuid.uuid4().hex
        created = await asyncio.to_thread(
            subprocess.run,
            create_user_command(username, "admin", PROVINCE),
            input=password,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
        )
        assert created.returncode == 0, created.stderr
        for name in self.services:
            await self.start(name)
        async with httpx.AsyncClient(base_url=self.url("gateway"), timeout=30) as gateway:
            r = await gateway.post(
                "/v1/auth/login", json={"username": username, "password": password}
            )
            assert r.status_code == 200, r.text
            token: str = r.json()["token"]
        return database_url, key, token

    def kill(self, name: str) -> None:
        kill_process(self.procs[name])
        self.procs[name] = None

    def stop_all(self) -> None:
        for name in reversed(self.services):
            stop_process(self.procs[name], timeout_s=10)
            self.procs[name] = None
        self.postgres.destroy()
        self.kafka.destroy()


# --- producers and faults -----------------------------------------------------------------------


class Producer:
    """One provider's client: sends its events in paced batches, sending a batch again (same
    ids) after a connection failure, a 429 or a 5xx — every 5xx is recorded for the verdict."""

    def __init__(
        self, url: str, key: str, result: ChaosResult, t0: float, acked: set[tuple[str, str]]
    ) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {key}"}
        self.result = result
        self.t0 = t0
        self.acked = acked
        self.provider = ""
        self.sent_batches = 0

    async def run(
        self, provider: str, events: list[dict[str, Any]], batch: int, spread_s: float
    ) -> None:
        self.provider = provider
        started = time.monotonic()
        batches = [events[i : i + batch] for i in range(0, len(events), batch)]
        async with httpx.AsyncClient(base_url=self.url, timeout=30, headers=self.headers) as c:
            for n, chunk in enumerate(batches):
                # Pace the batches so the faults fall while events flow.
                due = started + spread_s * n / max(1, len(batches))
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
            if r.status_code >= 500:
                at = round(time.monotonic() - self.t0, 2)
                retry_after = r.headers.get("Retry-After")
                detail = f"Retry-After {retry_after}: {r.text[:200]}"
                self.result.server_errors.append(ServerError(at, "ingest", r.status_code, detail))
                self.result.retries[f"HTTP {r.status_code}"] += 1
                await asyncio.sleep(min(float(retry_after or "1"), 1.0))
                continue
            if r.status_code == 429:
                self.result.retries["HTTP 429"] += 1
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
                    if len(self.result.differences) < 20:
                        self.result.differences.append(f"rejected: {item}")
                    continue
                self.acked.add((self.provider, item["event_id"]))
            return


def judge_server_errors(result: ChaosResult) -> None:
    """A 503 with Retry-After from ingest while the broker or the database was down (or
    within GRACE_S after), or while a restarted ingest was not yet ready, is its documented
    contract; any other 5xx is a defect."""
    outages = [
        (f.at_s, f.at_s + f.took_s + GRACE_S)
        for f in result.faults
        if f.kind in ("restart Kafka", "restart PostgreSQL")
    ]
    # A restarted ingest answers 503 until it reaches the broker: in a cluster its readiness
    # probe keeps traffic away until then (the fault ends when /readyz answers 200).
    outages += [
        (f.at_s, f.at_s + f.took_s + 1.0) for f in result.faults if f.kind == "SIGKILL ingest"
    ]
    for e in result.server_errors:
        e.during_outage = (
            e.service == "ingest"
            and e.status == 503
            and not e.detail.startswith("Retry-After None")
            and any(start <= e.at_s <= end for start, end in outages)
        )


@dataclass(frozen=True)
class Step:
    at_s: float
    kinds: tuple[str, ...]


class Faults:
    def __init__(
        self, platform: Platform, receiver: WebhookReceiver, rng: random.Random, t0: float
    ) -> None:
        self.platform = platform
        self.receiver = receiver
        self.rng = rng
        self.t0 = t0
        self.done: list[FaultRecord] = []

    def plan(self, mode: Mode) -> list[Step]:
        """Every fault kind in every round, some of them struck together (``OVERLAPS``); the
        first webhook outage starts with the run, so the first alerts meet it."""
        steps = [Step(0.0, ("webhook outage",))]
        for n in range(mode.rounds):
            together = OVERLAPS[n % len(OVERLAPS)]
            alone = [
                k
                for k in FAULT_KINDS
                if not any(k in group for group in together)
                and not (k == "webhook outage" and n == 0)
            ]
            for kinds in [*together, *((k,) for k in alone)]:
                steps.append(Step(self.rng.uniform(0.05, 0.85) * mode.produce_s, kinds))
        return sorted(steps, key=lambda s: s.at_s)

    async def run(self, plan: list[Step]) -> None:
        """Process and broker faults one step after the other (a step's faults together);
        webhook outages alongside them (the receiver is independent of the platform)."""
        outages = [s.at_s for s in plan if s.kinds == ("webhook outage",)]
        side = asyncio.create_task(self._outages(outages))
        for step in plan:
            if step.kinds == ("webhook outage",):
                continue
            await asyncio.sleep(max(0.0, self.t0 + step.at_s - time.monotonic()))
            first, *others = step.kinds
            tasks = [asyncio.create_task(self._strike(first, overlapped=bool(others)))]
            for kind in others:
                # The later one strikes while the first is still down.
                await asyncio.sleep(0.3)
                tasks.append(asyncio.create_task(self._strike(kind, overlapped=True)))
            await asyncio.gather(*tasks)
        await side

    async def _strike(self, kind: str, *, overlapped: bool) -> None:
        started = time.monotonic()
        # Overlapped: down long enough for the second fault to land inside the first.
        down = round(self.rng.uniform(2.0 if overlapped else 0.5, 3.0), 2)
        if kind.startswith("SIGKILL"):
            name = kind.split()[1]
            self.platform.kill(name)
            await asyncio.sleep(down)
            await self.platform.start(name, ready=True, supervise=True)
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
    """The end of every partition of ``topics``, as many as the broker says they have."""
    wanted = list(topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(wanted)
    finally:
        await admin.close()
    parts = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    if {tp.topic for tp in parts} != set(wanted):
        raise RuntimeError(f"the broker described {described}, not every topic of {wanted}")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): off for tp, off in ends.items()}


async def wait_metrics_caught_up(database_url: str, bootstrap: str, timeout_s: float) -> None:
    """Until metrics has committed offsets up to the end of every telemetry partition (or the
    time is up: the comparison then shows the loss). Ingest acknowledged every event only once
    the broker had it, so the ends taken now cover them all."""
    ends = await end_offsets(bootstrap, TELEMETRY_TOPICS)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            conn = await asyncpg.connect(_plain(database_url))
            try:
                rows = await conn.fetch(
                    "SELECT topic, partition, next_offset FROM metrics_offsets "
                    "WHERE group_id = 'ioc-metrics'"
                )
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError):
            await asyncio.sleep(0.5)
            continue
        done = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
        if all(done.get(p, 0) >= end for p, end in ends.items()):
            return
        await asyncio.sleep(0.5)


async def _series(
    client: httpx.AsyncClient,
    result: ChaosResult,
    params: dict[str, str],
) -> list[dict[str, Any] | None]:
    """One ``GET /v1/values`` answer's items; a 5xx is recorded (fatal) and asked again."""
    for _ in range(5):
        try:
            r = await client.get("/v1/values", params=params)
        except httpx.TransportError as exc:
            result.retries[f"metrics API {type(exc).__name__}"] += 1
            await asyncio.sleep(0.5)
            continue
        if r.status_code >= 500:
            result.server_errors.append(ServerError(-1.0, "metrics", r.status_code, r.text[:200]))
            await asyncio.sleep(0.5)
            continue
        r.raise_for_status()
        items: list[dict[str, Any] | None] = r.json()["items"]
        return items
    raise RuntimeError(f"GET /v1/values {params}: no answer")


async def compare(
    result: ChaosResult,
    database_url: str,
    metrics_url: str,
    metrics_token: str,
    workload: Workload,
    acked: set[tuple[str, str]],
    today: date,
    *,
    province_only: bool = False,
) -> None:
    """Ids acknowledged vs counted per family; then every cell of the reference — each
    indicator fed by the run, at each commune, district and the province that has data
    (``province_only``: the province), at every grain over the run's periods — vs the query
    API's answer."""
    sent = workload.identities()
    conn = await asyncpg.connect(_plain(database_url))
    try:
        processed = {
            (r["provider"], str(r["event_id"]))
            for r in await conn.fetch("SELECT provider, event_id FROM metrics_processed_events")
        }
    finally:
        await conn.close()
    result.counted = len(processed & acked)
    result.lost = len(acked - processed)
    result.counted_not_sent = len(processed - set(sent))
    families: dict[str, FamilyFigures] = {f.value: FamilyFigures() for f in Family}
    for ident in acked:
        fam = families[sent[ident]["family"]]
        fam.acknowledged += 1
        fam.counted += ident in processed
        fam.lost += ident not in processed
    result.families = families

    ref = reference(((p, sent[(p, i)]) for p, i in acked), load_units(), today)
    catalogue = load_catalogue()
    queries = [
        (ind, level, code, grain)
        for ind, nodes in sorted(ref.nodes.items())
        for level, code in sorted(nodes)
        if level == "province" or not province_only
        for grain in GRAINS
    ]
    answers: dict[tuple[str, str, str, str], list[dict[str, Any] | None]] = {}
    gate = asyncio.Semaphore(6)
    headers = service_headers(metrics_token)

    async def ask(client: httpx.AsyncClient, q: tuple[str, str, str, str]) -> None:
        ind, _, code, grain = q
        first, last = ref.span[ind]
        params = {
            "indicator": ind,
            "unit": code,
            "granularity": grain,
            "from": period_label(period_start(first, grain), grain),
            "to": period_label(period_start(last, grain), grain),
            "limit": "1000",
        }
        async with gate:
            answers[q] = await _series(client, result, params)

    async with httpx.AsyncClient(base_url=metrics_url, timeout=60, headers=headers) as client:
        await asyncio.gather(*(ask(client, q) for q in queries))

    compared: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    grains: Counter[str] = Counter()
    for q in queries:
        ind, level, code, grain = q
        family = ref.family[ind]
        indicator = catalogue.require(ind)
        flow = (
            indicator.numerator.kind if indicator.numerator is not None else indicator.kind
        ) is AggregationKind.FLOW
        starts = periods(ref.span[ind][0], ref.span[ind][1], grain)
        items = answers[q]
        if len(items) != len(starts):
            raise RuntimeError(f"{q}: {len(items)} periods answered, {len(starts)} asked")
        for start, item in zip(starts, items, strict=True):
            exp = ref.cells.get((ind, level, code, grain, start))
            if item is None:
                got: tuple[float, float | None] | None = None
            elif indicator.is_ratio:
                got = (item["numerator"], item["denominator"])
            else:
                got = (item["value"], None)
            want = (
                None if exp is None else (float(exp[0]), None if exp[1] is None else float(exp[1]))
            )
            key = f"{family} × {level}"
            compared[key][0] += 1
            grains[grain] += 1
            if got == want:
                continue
            compared[key][1] += 1
            if flow:
                above = (got[0] if got else 0.0) > (want[0] if want else 0.0)
                if above:
                    families[family].cells_above += 1
                else:
                    families[family].cells_below += 1
            if len(result.differences) < 20:
                result.differences.append(
                    f"{ind} {level} {code} {period_label(start, grain)}: "
                    f"expected {want} actual {got}"
                )
    result.compared = {k: list(v) for k, v in compared.items()}
    result.grains_compared = dict(grains)
    result.cells_compared = sum(n for n, _ in compared.values())
    result.cells_different = sum(d for _, d in compared.values())

    # Each cashless event is one transaction: a surplus in the province's years was counted
    # twice, a shortfall lost (whatever the ids say).
    result.cashless_acknowledged = families[Family.CASHLESS.value].acknowledged
    years = answers.get(("cashless_transactions", "province", PROVINCE, "year"), [])
    result.flow_count_in_aggregates = int(sum(i["value"] for i in years if i is not None))
    surplus = result.flow_count_in_aggregates - result.cashless_acknowledged
    # Both may show the same repeat (a cashless event under a made-up id): the larger counts.
    result.double_counted = max(result.counted_not_sent, surplus)
    result.lost += max(0, -surplus - families[Family.CASHLESS.value].lost)


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


def _batch_size(spec: Mode, provider: str, workload: Workload) -> int:
    """The mode's batch size, smaller for a provider with few events so each sends at least
    ~25 batches over the run: the dossiers of the alert communes, and so the alerts and their
    webhook sends, are then spread over the whole run (and its faults)."""
    return max(1, min(spec.batch, len(workload.by_provider[provider]) // 25))


#: The test-only factory that starts a metrics build broken on purpose (``sabotage.py``).
SABOTAGE_FACTORY = "tests.reliability.sabotage:create_app"


async def run_chaos(
    mode: str,
    *,
    seed: int,
    events: int | None = None,
    work: Path | None = None,
    sabotage: str = "",
    faults: bool = True,
    check_alerts: bool = True,
    province_only: bool = False,
) -> ChaosResult:
    """One run. ``sabotage`` (``drop-one`` or ``apply-twice``) starts metrics through
    ``SABOTAGE_FACTORY`` with ``IOC_TEST_SABOTAGE`` set: the run must then go red. Without
    ``faults`` nothing is struck; without ``check_alerts`` the run ends at the comparison;
    ``province_only`` compares the province's cells only (the ids are compared anyway)."""
    spec = MODES[mode]
    if events is not None:
        scale = events / spec.events
        produce_s = spec.produce_s * scale if not faults else max(30.0, spec.produce_s * scale)
        spec = Mode(events, produce_s, spec.rounds, spec.batch, spec.alert_units)
    result = ChaosResult(mode=mode, seed=seed, events=spec.events, sabotage=sabotage)
    result.alerts_checked = check_alerts
    rng = random.Random(seed)
    today = vietnam_today()
    workload = make_workload(spec.events, seed, today, spec.alert_units)
    platform = Platform(
        work or Path(tempfile.mkdtemp(prefix="ioc-chaos-")),
        factories={"metrics": SABOTAGE_FACTORY} if sabotage else None,
        extra_env={"IOC_TEST_SABOTAGE": sabotage} if sabotage else None,
    )
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    started = mark = time.monotonic()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        result.phases[name] = round(now - mark, 1)
        mark = now

    try:
        database_url = await platform.start_infra()
        keys = {
            p.name: await platform.province_key(database_url, p.name, [p.family]) for p in PROVIDERS
        }
        platform.configure(database_url)
        for name in platform.services:
            await platform.start(name, ready=True)
        await receiver.server.start()
        if check_alerts:
            await setup_alerts(platform.url("alerts"), platform.env, workload.alert_units, receiver)

        phase("start")
        t0 = time.monotonic()
        acked: set[tuple[str, str]] = set()
        chaos = Faults(platform, receiver, rng, t0)
        fault_task = asyncio.create_task(chaos.run(chaos.plan(spec) if faults else []))
        await asyncio.gather(
            *(
                Producer(platform.url("ingest"), keys[p], result, t0, acked).run(
                    p, workload.by_provider[p], _batch_size(spec, p, workload), spec.produce_s
                )
                for p in keys
            )
        )
        await fault_task
        result.faults = chaos.done
        result.failed_starts = dict(platform.failed_starts)
        result.acknowledged = len(acked)
        judge_server_errors(result)
        phase("produce")

        await wait_metrics_caught_up(database_url, platform.kafka.bootstrap, timeout_s=300)
        phase("catch up")
        await compare(
            result,
            database_url,
            platform.url("metrics"),
            platform.env["IOC_METRICS_SERVICE_TOKEN"],
            workload,
            acked,
            today,
            province_only=province_only,
        )
        phase("compare")
        if check_alerts:
            await wait_alerts_delivered(result, database_url, workload, receiver, timeout_s=180)
            phase("alerts")
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
