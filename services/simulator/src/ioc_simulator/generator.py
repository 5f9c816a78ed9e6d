"""Telemetry as departments would send it: monthly reports for the history (fast-forward) and
small increments for the live stream. Pure functions of the profile, the dates and the seed,
so a re-run over the same span resends the same event ids and ingest answers "duplicate".

Every catalogue indicator gets figures: the bts, public_service and cashless families feed
theirs, and each observation-only indicator is reported as ``profile.FIGURES`` describes —
by every district or commune, or once by the province for province-wide systems."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from ioc_common.timeutil import Granularity, period_end
from ioc_simulator.profile import (
    CHANNEL_DAILY,
    FIGURES,
    OPERATOR_SHARE,
    PROVINCE_BTS_SITES,
    PROVINCE_VILLAGES,
    TECHNOLOGY_SHARE,
    VILLAGES_WITHOUT_SIGNAL,
    Figure,
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


def _months_since_baseline(month: date) -> int:
    return max((month.year - 2022) * 12 + month.month - 5, 0)


def monthly_reports(profile: ProvinceProfile, month: date, seed: int) -> list[Submission]:
    """One month of reports from every reporting unit of the province, and the province's
    own figures for its province-wide systems."""
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
        out += _observations(r, month, rng, seed, province=False)
    out += _observations(profile.province_reporter(), month, rng, seed, province=True)
    return out


def _observations(
    r: Reporter, month: date, rng: random.Random, seed: int, *, province: bool, part: object = ""
) -> list[Submission]:
    """The observation-only indicators ``r`` reports for ``month``: flows over the month,
    stocks as on its last day (or on ``part``'s day for a live refresh)."""
    last_day = period_end(month, Granularity.MONTH)
    out = []
    for indicator, figure in FIGURES.items():
        if figure.by_province != province:
            continue
        observed_at = f"{month.year:04d}-{month.month:02d}" if figure.flow else last_day.isoformat()
        out.append(
            _observation(
                r, indicator, observed_at, seed, part=part, **_figure(figure, r, month, rng)
            )
        )
    return out


def _figure(figure: Figure, r: Reporter, month: date, rng: random.Random) -> dict[str, float]:
    months = _months_since_baseline(month)
    total = figure.total * r.weight * (1 + figure.growth) ** months * rng.uniform(0.97, 1.03)
    if figure.share is None:
        return {"value": max(0, round(total))}
    # Noise around the trend, and a share at its cap (100 % of OCOP products) stays there.
    trend = figure.share + figure.share_step * months + rng.uniform(-0.02, 0.02)
    share = min(figure.share_cap, max(0.0, trend))
    denominator = max(1, round(total))
    return {"numerator": round(denominator * share), "denominator": denominator}


def history(profile: ProvinceProfile, start: date, end: date, seed: int) -> Iterator[Submission]:
    for month in _months(start, end):
        yield from monthly_reports(profile, month, seed)


def _bts(
    r: Reporter, day: date, rng: random.Random, seed: int, part: object = ""
) -> list[Submission]:
    sites = PROVINCE_BTS_SITES * r.weight * _growth(day)
    villages = max(1, round(PROVINCE_VILLAGES * r.weight))
    # Each village is without signal with the province's odds (23 of ~1,735 in the reports),
    # so small communes get their share too and the province keeps a few dozen white spots.
    odds = VILLAGES_WITHOUT_SIGNAL / PROVINCE_VILLAGES
    uncovered = sum(1 for _ in range(villages) if rng.random() < odds)
    out = []
    for op, op_share in OPERATOR_SHARE.items():
        for tech, tech_share in TECHNOLOGY_SHARE.items():
            n = round(sites * op_share * tech_share)
            if n == 0:
                continue
            out.append(
                {
                    "event_id": _event_id(
                        seed, "bts", r.code, day, op.value, tech.value, *[p for p in (part,) if p]
                    ),
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
    profile: ProvinceProfile,
    r: Reporter,
    label: str,
    rng: random.Random,
    seed: int,
    *,
    size: float | None = None,
    part: object = "",
) -> list[Submission]:
    lagging = r.district in profile.lagging
    out = []
    for level, share in (("full_online", 0.6), ("partial_online", 0.4)):
        # A month's intake scales with the unit; a live increment (``size``: dossiers of the
        # increment) is big enough that rounding keeps the unit's rates (a lagging unit lags).
        scale = size if size is not None else 4_000 * r.weight
        total = max(1, round(scale * share * rng.uniform(0.9, 1.1)))
        online = round(total * rng.uniform(0.86, 0.97))
        processed_rate = rng.uniform(0.50, 0.58) if lagging else rng.uniform(0.84, 0.95)
        processed = min(online, round(total * processed_rate))
        out.append(
            {
                "event_id": _event_id(seed, "ps", r.code, label, level, *[p for p in (part,) if p]),
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
    r: Reporter, indicator: str, observed_at: str, seed: int, part: object = "", **payload: float
) -> Submission:
    return {
        # A live refresh's ``part`` makes a new id; history keeps its ids across versions.
        "event_id": _event_id(
            seed, "obs", indicator, r.code, observed_at, *[p for p in (part,) if p]
        ),
        "family": "observation",
        "indicator": indicator,
        "unit_code": r.code,
        "observed_at": observed_at,
        "payload": payload,
    }


#: Submissions per unit heard from in a live tick: 2 dossier counts and 5 payment channels.
_BURST = 2 + len(CHANNEL_DAILY)
#: Units heard from per live tick at least, each from the next district in turn: with the
#: province's 18 (former) districts every one reports within 6 ticks, well inside the demo
#: reporting interval of ``ioc dev`` even on a busy machine.
UNITS_PER_TICK = 3
#: A live tick re-sends one reporter's stock figures (dated today) every this many ticks,
#: so stocks stay fresh under the demo's short reporting intervals (see ``ioc_simulator.dev``).
STOCK_REFRESH_EVERY = 10


def live_tick(
    profile: ProvinceProfile, today: date, tick: int, events: int, seed: int
) -> list[Submission]:
    """At least ``events`` small same-day increments (cashless payments and dossiers) from
    at least ``UNITS_PER_TICK`` reporting units, taken district by district in turn so every
    district that reports is heard from within a few ticks, and every ``STOCK_REFRESH_EVERY``
    ticks one unit's and the province's stock figures again; every tick gets fresh ids (new
    payments, new reports)."""
    rng = random.Random(f"{seed}:live:{today}:{tick}")
    reporters = [r for r in profile.reporters(today) if not profile.is_silent(r, today)]
    by_district: dict[str, list[Reporter]] = {}
    for r in reporters:
        by_district.setdefault(r.district, []).append(r)
    districts = sorted(by_district)
    out: list[Submission] = []
    day = today.isoformat()
    bursts = max(UNITS_PER_TICK, -(-events // _BURST)) if districts else 0
    for turn in range(tick * bursts, (tick + 1) * bursts):
        r = rng.choice(by_district[districts[turn % len(districts)]])
        part = f"live{tick}.{len(out)}"
        burst = _public_service(profile, r, day, rng, seed, size=30, part=part)
        for item in _cashless(r, day, rng, seed, days=1, part=part):
            item["payload"]["transactions"] = max(1, item["payload"]["transactions"] // 200)
            item["payload"]["value_vnd"] = max(1, item["payload"]["value_vnd"] // 200)
            burst.append(item)
        out += burst
    if tick % STOCK_REFRESH_EVERY == 0 and reporters:
        out += refresh_stocks(profile, today, tick, seed)
    return out


def refresh_stocks(profile: ProvinceProfile, today: date, tick: int, seed: int) -> list[Submission]:
    """One reporter's (in turn) and the province's stock figures as of ``today``."""
    rng = random.Random(f"{seed}:stocks:{today}:{tick}")
    month = today.replace(day=1)
    reporters = [r for r in profile.reporters(today) if not profile.is_silent(r, today)]
    r = reporters[(tick // STOCK_REFRESH_EVERY) % len(reporters)]
    part = f"refresh{tick}"
    out = _bts(r, today, rng, seed, part=part)
    for reporter, province in ((r, False), (profile.province_reporter(), True)):
        for item in _observations(reporter, month, rng, seed, province=province, part=part):
            if not FIGURES[item["indicator"]].flow:
                item["observed_at"] = today.isoformat()
                out.append(item)
    return out
