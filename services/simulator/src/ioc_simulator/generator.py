"""Telemetry as departments would send it: monthly reports for the history (fast-forward) and
small increments for the live stream. Pure functions of the profile, the dates and the seed,
so a re-run over the same span resends the same event ids and ingest answers "duplicate"."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from ioc_common.timeutil import Granularity, period_end
from ioc_simulator.profile import (
    CHANNEL_DAILY,
    DIGITAL_TEAM_MEMBERS,
    OPERATOR_SHARE,
    PROVINCE_BTS_SITES,
    PROVINCE_VILLAGES,
    TECHNOLOGY_SHARE,
    VILLAGES_WITHOUT_SIGNAL,
    ProvinceProfile,
    Reporter,
)

_NAMESPACE = uuid.UUID("6f1c2d3e-9a4b-4c5d-8e6f-7a8b9c0d1e2f")
Submission = dict[str, Any]


def _event_id(seed: int, *parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(map(str, (seed, *parts)))))


def _months(start: date, end: date) -> Iterator[date]:
    month = start.replace(day=1)
    while month <= end:
        yield month
        month = period_end(month, Granularity.MONTH) + timedelta(days=1)


def _growth(month: date) -> float:
    """Slow growth from mid-2022 (the reports' baseline): about 0.5 % a month."""
    months = (month.year - 2022) * 12 + month.month - 5
    return 1.0 + 0.005 * max(months, 0)


def monthly_reports(profile: ProvinceProfile, month: date, seed: int) -> list[Submission]:
    """One month of reports from every reporting unit of the province."""
    rng = random.Random(f"{seed}:{month}")
    last_day = period_end(month, Granularity.MONTH)
    label = f"{month.year:04d}-{month.month:02d}"
    out: list[Submission] = []
    for r in profile.reporters(last_day):
        if profile.is_silent(r, last_day):
            continue
        out += _bts(r, last_day, rng, seed)
        out += _public_service(profile, r, label, rng, seed)
        out += _cashless(r, label, rng, seed, days=last_day.day)
        out.append(
            _observation(
                r, "community_digital_team_members", last_day.isoformat(), seed,
                value=round(DIGITAL_TEAM_MEMBERS * r.weight * rng.uniform(0.95, 1.05)),
            )
        )  # fmt: skip
    return out


def history(profile: ProvinceProfile, start: date, end: date, seed: int) -> Iterator[Submission]:
    for month in _months(start, end):
        yield from monthly_reports(profile, month, seed)


def _bts(r: Reporter, day: date, rng: random.Random, seed: int) -> list[Submission]:
    sites = PROVINCE_BTS_SITES * r.weight * _growth(day)
    villages = max(1, round(PROVINCE_VILLAGES * r.weight))
    uncovered = round(VILLAGES_WITHOUT_SIGNAL * r.weight * 2) if rng.random() < 0.5 else 0
    out = []
    for op, op_share in OPERATOR_SHARE.items():
        for tech, tech_share in TECHNOLOGY_SHARE.items():
            n = round(sites * op_share * tech_share)
            if n == 0:
                continue
            out.append(
                {
                    "event_id": _event_id(seed, "bts", r.code, day, op.value, tech.value),
                    "family": "bts",
                    "unit_code": r.code,
                    "observed_at": day.isoformat(),
                    "payload": {
                        "operator": op.value,
                        "technology": tech.value,
                        "sites": n,
                        "villages_total": villages,
                        "villages_covered": villages - min(uncovered, villages),
                    },
                }
            )
    return out


def _public_service(
    profile: ProvinceProfile, r: Reporter, label: str, rng: random.Random, seed: int
) -> list[Submission]:
    lagging = r.district in profile.lagging
    out = []
    for level, share in (("full_online", 0.6), ("partial_online", 0.4)):
        total = max(1, round(4_000 * r.weight * share * rng.uniform(0.9, 1.1)))
        online = round(total * rng.uniform(0.86, 0.97))
        processed_rate = rng.uniform(0.50, 0.58) if lagging else rng.uniform(0.84, 0.95)
        processed = min(online, round(total * processed_rate))
        out.append(
            {
                "event_id": _event_id(seed, "ps", r.code, label, level),
                "family": "public_service",
                "unit_code": r.code,
                "observed_at": label,
                "payload": {
                    "service_level": level,
                    "dossiers_total": total,
                    "dossiers_online": online,
                    "dossiers_processed_online": processed,
                    "paid_online": round(online * rng.uniform(0.3, 0.6)),
                },
            }
        )
    return out


def _cashless(
    r: Reporter, label: str, rng: random.Random, seed: int, days: int, part: object = ""
) -> list[Submission]:
    communes = max(1.0, 137 * r.weight)  # per-commune daily figures scaled to the reporter
    out = []
    for channel, (per_day, avg_value) in CHANNEL_DAILY.items():
        tx = max(0, round(per_day * communes * days * rng.uniform(0.8, 1.2)))
        out.append(
            {
                "event_id": _event_id(seed, "cash", r.code, label, channel.value, part),
                "family": "cashless",
                "unit_code": r.code,
                "observed_at": label,
                "payload": {
                    "channel": channel.value,
                    "transactions": tx,
                    "value_vnd": round(tx * avg_value * rng.uniform(0.9, 1.1)),
                },
            }
        )
    return out


def _observation(
    r: Reporter, indicator: str, observed_at: str, seed: int, value: float
) -> Submission:
    return {
        "event_id": _event_id(seed, "obs", indicator, r.code, observed_at),
        "family": "observation",
        "indicator": indicator,
        "unit_code": r.code,
        "observed_at": observed_at,
        "payload": {"value": value},
    }


def live_tick(
    profile: ProvinceProfile, today: date, tick: int, events: int, seed: int
) -> list[Submission]:
    """About ``events`` small same-day increments (cashless payments and dossiers) from
    random reporting units; every tick gets fresh ids (they are new payments)."""
    rng = random.Random(f"{seed}:live:{today}:{tick}")
    reporters = [r for r in profile.reporters(today) if not profile.is_silent(r, today)]
    out: list[Submission] = []
    day = today.isoformat()
    while len(out) < events and reporters:
        r = rng.choice(reporters)
        burst = _cashless(r, day, rng, seed, days=1, part=f"live{tick}.{len(out)}")
        for item in burst:
            item["payload"]["transactions"] = max(1, item["payload"]["transactions"] // 200)
            item["payload"]["value_vnd"] = max(1, item["payload"]["value_vnd"] // 200)
        out += burst[: max(1, events - len(out))]
    return out
