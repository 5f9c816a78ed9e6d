"""What the benchmarks send: realistic submissions over real communes, and the exact bytes and
keys ingest itself publishes for them (so raw baselines carry the same payloads)."""

from __future__ import annotations

import random
import uuid
from functools import cache
from typing import Any

from ioc_common.events import TELEMETRY_ADAPTER, encode_event
from ioc_common.reference.units import unit_tree
from ioc_common.timeutil import utc_now, vietnam_today
from ioc_common.topics import telemetry_topic

OPERATORS = ("Viettel", "VNPT", "MobiFone", "Vietnamobile")
TECHNOLOGIES = ("2G", "3G", "4G", "5G")
CHANNELS = ("qr", "card", "bank_transfer", "e_wallet", "mobile_money")
#: Tuyên Quang: the live-feed and alert probes report here; background load stays outside it.
PROBE_PROVINCE = "08"


@cache
def communes(province: str) -> tuple[str, ...]:
    today = vietnam_today()
    tree = unit_tree()
    return tuple(u.code for u in tree.children(province, today))


@cache
def load_communes() -> tuple[str, ...]:
    """Communes of a handful of provinces other than the probes' one."""
    today = vietnam_today()
    provinces = [p.code for p in unit_tree().provinces(today) if p.code != PROBE_PROVINCE][:6]
    return tuple(c for p in provinces for c in communes(p))


def submission(i: int, rng: random.Random, unit: str | None = None) -> dict[str, Any]:
    """One submission of a mix of families (BTS, public services, cashless) for this month."""
    month = f"{vietnam_today():%Y-%m}"
    unit = unit or rng.choice(load_communes())
    kind = i % 3
    if kind == 0:
        total = rng.randint(10, 60)
        payload: dict[str, Any] = {
            "operator": rng.choice(OPERATORS),
            "technology": rng.choice(TECHNOLOGIES),
            "sites": rng.randint(0, 40),
            "villages_total": total,
            "villages_covered": rng.randint(0, total),
        }
        family = "bts"
    elif kind == 1:
        total = rng.randint(1, 500)
        payload = {
            "service_level": rng.choice(("partial_online", "full_online")),
            "dossiers_total": total,
            "dossiers_online": rng.randint(0, total),
            "dossiers_processed_online": rng.randint(0, total),
            "paid_online": rng.randint(0, total),
        }
        family = "public_service"
    else:
        payload = {
            "channel": rng.choice(CHANNELS),
            "transactions": rng.randint(0, 10_000),
            "value_vnd": rng.randint(0, 10**9),
        }
        family = "cashless"
    return {
        "event_id": str(uuid.uuid4()),
        "family": family,
        "unit_code": unit,
        "observed_at": month,
        "payload": payload,
    }


def submissions(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [submission(i, rng) for i in range(n)]


def wire(sub: dict[str, Any]) -> tuple[str, bytes, bytes]:
    """(topic, value, key) exactly as ingest would publish this submission."""
    event = TELEMETRY_ADAPTER.validate_python({**sub, "received_at": utc_now(), "source": "bench"})
    key = unit_tree().district_of(event.unit_code, event.observed_at) or event.unit_code
    return telemetry_topic(event.family), encode_event(event), key.encode()


def stream(n: int, seed: int, duplicates: float = 0.05) -> list[tuple[str, bytes, bytes]]:
    """A pre-loaded telemetry stream: ``n`` records, a share of them re-sent duplicates."""
    rng = random.Random(seed)
    unique = [wire(s) for s in submissions(n - int(n * duplicates), seed)]
    resent = [rng.choice(unique) for _ in range(n - len(unique))]
    out = unique + resent
    rng.shuffle(out)
    return out
