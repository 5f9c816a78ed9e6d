"""Realistic random telemetry streams for the integration tests and the benchmark.

One province of the post-2025 tree, its first three former districts and four communes each,
plus reports by the districts and the province themselves; six months of one year no other test
uses; every family; stock and flow corrections (a higher revision of the same figure, and
late lower-revision copies), late arrivals (shuffled windows) and re-sent duplicates (same
event_id).
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ioc_common.events import Family
from ioc_common.kafka.records import OutgoingRecord
from ioc_common.reference.units import unit_tree
from ioc_common.topics import telemetry_topic

PROVINCE = "92"  # Cần Thơ in the 2025 tree
YEAR = 2037
OPERATORS = ["Viettel", "VNPT", "MobiFone"]
TECHS = ["4G", "5G"]


def units(province: str = PROVINCE, year: int = YEAR) -> tuple[list[str], list[str]]:
    tree = unit_tree()
    on = date(year, 1, 1)
    districts = [d.code for d in tree.districts_of_province(province, on)[:3]]
    communes = [c.code for d in districts for c in tree.children(d, on)[:4]]
    return districts, communes


def _observed(rng: random.Random, year: int) -> str:
    day = date(year, 1, 1) + timedelta(days=rng.randrange(181))
    r = rng.random()
    if r < 0.85:
        return day.isoformat()
    if r < 0.95:
        return f"{day:%Y-%m}"
    return f"{year}-Q{(day.month - 1) // 3 + 1}"


def make_stream(
    n: int,
    seed: int,
    duplicates: float = 0.05,
    province: str = PROVINCE,
    year: int = YEAR,
) -> list[dict[str, Any]]:
    """``n`` messages: ``duplicates`` of them re-send an earlier event_id."""
    rng = random.Random(seed)
    districts, communes = units(province, year)
    reporters = communes * 6 + districts + [province]
    base = datetime(year, 7, 1, tzinfo=UTC)
    originals: list[dict[str, Any]] = []
    n_dup = round(n * duplicates)
    stock_events: list[dict[str, Any]] = []
    flow_events: list[dict[str, Any]] = []
    while len(originals) < n - n_dup:
        unit = rng.choice(reporters)
        event: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "unit_code": unit,
            "observed_at": _observed(rng, year),
            "received_at": (base + timedelta(seconds=rng.randrange(86400))).isoformat(),
            "source": "stream-test",
        }
        kind = rng.random()
        if kind < 0.1 and stock_events:
            # A correction: the same stock figure again with a higher revision.
            old = rng.choice(stock_events)
            event = {**old, "event_id": event["event_id"], "revision": old.get("revision", 1) + 1}
            payload = dict(old["payload"])
            key = "sites" if "sites" in payload else "value" if "value" in payload else None
            if key:
                payload[key] = rng.randrange(60)
            event["payload"] = payload
        elif kind < 0.13 and flow_events:
            # A flow's figure again: mostly a correction (higher revision, new figures, which
            # replace the provider's earlier ones), sometimes a late lower-revision copy.
            old = rng.choice(flow_events)
            revision = old.get("revision", 1)
            revision = revision + 1 if rng.random() < 0.8 else max(1, revision - 1)
            payload = {
                k: rng.randrange(v + 1) if isinstance(v, int) and k != "dossiers_total" else v
                for k, v in old["payload"].items()
            }
            event = {**old, "event_id": event["event_id"], "revision": revision}
            event["payload"] = payload
            flow_events.append(event)
        elif kind < 0.35:
            event["family"] = "cashless"
            event["payload"] = {
                "channel": rng.choice(["qr", "card", "e_wallet"]),
                "transactions": rng.randrange(5000),
                "value_vnd": rng.randrange(10**12),
            }
            flow_events.append(event)
        elif kind < 0.6:
            total = rng.randrange(500)
            event["family"] = "public_service"
            event["payload"] = {
                "service_level": rng.choice(["full_online", "partial_online"]),
                "dossiers_total": total,
                "dossiers_online": rng.randrange(total + 1),
                "dossiers_processed_online": rng.randrange(total + 1),
                "paid_online": rng.randrange(total + 1),
            }
            flow_events.append(event)
        elif kind < 0.85:
            total = rng.randrange(80)
            event["family"] = "bts"
            event["payload"] = {
                "operator": rng.choice(OPERATORS),
                "technology": rng.choice(TECHS),
                "sites": rng.randrange(60),
                "villages_total": total,
                "villages_covered": rng.randrange(total + 1),
            }
            stock_events.append(event)
        else:
            event["family"] = "observation"
            if rng.random() < 0.5:
                event["indicator"] = "open_datasets"
                event["payload"] = {"value": rng.choice([1, 2, 3.5, 0.1, 10])}
            else:
                event["indicator"] = "households_fixed_broadband"
                den = rng.randrange(1, 900)
                event["payload"] = {"numerator": rng.randrange(den + 1), "denominator": den}
            stock_events.append(event)
        originals.append(event)
    # Late arrivals: shuffle within sliding windows rather than fully (a broker keeps order).
    for i in range(0, len(originals), 200):
        window = originals[i : i + 400]
        rng.shuffle(window)
        originals[i : i + 400] = window
    stream = list(originals)
    for _ in range(n_dup):
        stream.insert(rng.randrange(len(stream) + 1), dict(rng.choice(originals)))
    return stream


def kafka_key(event: dict[str, Any], year: int = YEAR) -> str:
    """The district code (or the unit's own code above district level), as ingest keys it."""
    day = date(year, 1, 1)
    return unit_tree().district_of(event["unit_code"], day) or event["unit_code"]


def records(stream: list[dict[str, Any]], year: int = YEAR) -> list[OutgoingRecord]:
    return [
        OutgoingRecord(
            telemetry_topic(Family(e["family"])), json.dumps(e).encode(), key=kafka_key(e, year)
        )
        for e in stream
    ]
