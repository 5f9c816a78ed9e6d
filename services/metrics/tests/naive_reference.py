"""A naive reference aggregation, written from the rules in docs/metrics.md and nothing else.

It loops over every event for every node and period: slow, plain, independent of the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ioc_common.catalogue import load_catalogue
from ioc_common.reference.units import unit_tree

REFORM = date(2025, 7, 1)
GRANS = ("day", "month", "quarter", "year")


@dataclass
class RefFact:
    indicator: str
    kind: str  # "flow" or "stock"
    unit: str
    path: dict[str, str]  # level -> code
    series: str
    day: date
    gran: str
    num: Decimal
    den: Decimal | None
    revision: int
    received_at: datetime
    event_id: str
    provider: str


def _dec(x: Any) -> Decimal:
    return Decimal(x) if isinstance(x, int) else Decimal(str(x))


def _kind(code: str) -> str:
    ind = load_catalogue().require(code)
    if ind.kind.value == "ratio":
        assert ind.numerator is not None
        return ind.numerator.kind.value
    return ind.kind.value


def expand(event: dict[str, Any]) -> list[RefFact]:
    """The facts of one event, given as the JSON dict that travels on Kafka."""
    from ioc_common.timeutil import parse_observed

    day, gran = parse_observed(event["observed_at"])
    gran_name = event.get("granularity") or gran.value
    path = {lvl.value: code for lvl, code in unit_tree().roll_up(event["unit_code"], day).items()}
    common = dict(
        unit=event["unit_code"],
        path=path,
        day=day,
        gran=gran_name,
        revision=event.get("revision", 1),
        received_at=datetime.fromisoformat(event["received_at"]),
        event_id=str(event["event_id"]),
        provider=str(event["source"]),
    )
    p = event["payload"]
    if event["family"] == "observation":
        code = event["indicator"]
        if p.get("value") is not None:
            return [RefFact(code, _kind(code), series="", num=_dec(p["value"]), den=None, **common)]
        return [
            RefFact(code, _kind(code), series="", num=_dec(p["numerator"]),
                    den=_dec(p["denominator"]), **common)
        ]  # fmt: skip
    if event["family"] == "bts":
        return [
            RefFact("bts_sites", "stock", series=f"operator={p['operator']}|technology="
                    f"{p['technology']}", num=_dec(p["sites"]), den=None, **common),
            RefFact("villages_mobile_coverage", "stock", series="",
                    num=_dec(p["villages_covered"]), den=_dec(p["villages_total"]), **common),
        ]  # fmt: skip
    if event["family"] == "cashless":
        return [
            RefFact("cashless_transactions", "flow", series="", num=_dec(p["transactions"]),
                    den=None, **common),
            RefFact("cashless_value_vnd", "flow", series="", num=_dec(p["value_vnd"]), den=None,
                    **common),
        ]  # fmt: skip
    if event["family"] == "public_service":
        total = _dec(p["dossiers_total"])
        return [
            RefFact("dossiers_online", "flow", series="", num=_dec(p["dossiers_online"]),
                    den=None, **common),
            RefFact("dossiers_processed_online_rate", "flow", series="",
                    num=_dec(p["dossiers_processed_online"]), den=total, **common),
            RefFact("online_payment_rate", "flow", series="", num=_dec(p["paid_online"]),
                    den=total, **common),
            RefFact("dossiers_submitted_online_rate", "flow", series="",
                    num=_dec(p["dossiers_online"]), den=total, **common),
        ]  # fmt: skip
    raise ValueError(event["family"])


def period_of(day: date, gran: str) -> tuple[date, date]:
    if gran == "day":
        return day, day
    if gran == "month":
        start = day.replace(day=1)
    elif gran == "quarter":
        start = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    else:
        start = date(day.year, 1, 1)
    months = {"month": 1, "quarter": 3, "year": 12}[gran]
    m = start.month - 1 + months
    nxt = date(start.year + m // 12, m % 12 + 1, 1)
    return start, nxt - timedelta(days=1)


def _counts_in(fact_gran: str, period_gran: str) -> bool:
    return GRANS.index(fact_gran) <= GRANS.index(period_gran)


def _era(d: date) -> int:
    return 1 if d >= REFORM else 0


def resolve(events: list[dict[str, Any]]) -> list[RefFact]:
    """Every fact of every distinct event that its figure's highest revision keeps: for a
    stock the one winning fact of its (indicator, unit, series, period); for a flow every fact
    of the provider's (indicator, unit, series, period) at the highest revision it sent —
    same-revision reports add, lower ones are replaced."""
    seen: set[tuple[str, str]] = set()  # an event is (provider, event_id)
    flow_groups: dict[tuple[str, str, str, str, date, str], list[RefFact]] = {}
    stocks: dict[tuple[str, str, str, date, str], RefFact] = {}
    for event in events:
        key = (str(event["source"]), str(event["event_id"]))
        if key in seen:
            continue
        seen.add(key)
        for f in expand(event):
            if f.kind == "flow":
                figure = (f.provider, f.indicator, f.unit, f.series, f.day, f.gran)
                flow_groups.setdefault(figure, []).append(f)
                continue
            ident = (f.indicator, f.unit, f.series, f.day, f.gran)
            held = stocks.get(ident)
            if held is None or (f.revision, f.received_at, f.event_id) > (
                held.revision,
                held.received_at,
                held.event_id,
            ):
                stocks[ident] = f
    flows = [
        f
        for group in flow_groups.values()
        for f in group
        if f.revision == max(g.revision for g in group)
    ]
    return flows + list(stocks.values())


def value(
    facts: list[RefFact], indicator: str, gran: str, start: date, level: str, code: str
) -> tuple[Decimal, Decimal | None, bool] | None:
    """(numerator-or-value, denominator, carried) of a node for a period, or None."""
    _, end = period_of(start, gran)
    mine = [f for f in facts if f.indicator == indicator and _counts_in(f.gran, gran)]
    if not mine:
        return None
    if mine[0].kind == "flow":
        current = [f for f in mine if start <= f.day <= end]
    else:
        latest: dict[tuple[str, str], RefFact] = {}
        for f in mine:
            if f.day > end or _era(f.day) != _era(end):
                continue
            held = latest.get((f.unit, f.series))
            if held is None or (f.day, GRANS.index(f.gran)) > (held.day, GRANS.index(held.gran)):
                latest[(f.unit, f.series)] = f
        current = list(latest.values())
    under = [f for f in current if f.path.get(level) == code]
    if not under:
        return None
    order = ["province", "district", "commune"]
    above = order[: order.index(level)]
    groups: dict[tuple[str | None, ...], list[RefFact]] = {}
    for f in under:
        groups.setdefault(tuple(f.path.get(lv) for lv in above), []).append(f)
    counted: list[RefFact] = []
    for group in groups.values():
        own = [f for f in group if f.unit == code]
        if own:
            counted += own
            continue
        reporters = {f.unit for f in group}
        counted += [
            f
            for f in group
            if not (level == "province" and "commune" in f.path and f.path.get("district")
                    in reporters)
        ]  # fmt: skip
    num = sum((f.num for f in counted), Decimal(0))
    dens = [f.den for f in counted if f.den is not None]
    den = sum(dens, Decimal(0)) if dens else None
    return num, den, all(f.day < start for f in counted)


def table(
    facts: list[RefFact], first: date, last: date
) -> dict[tuple[str, str, str, str, date], tuple[Decimal, Decimal | None, bool]]:
    """Every node's value for every period between ``first`` and ``last``, by
    (indicator, granularity, level, code, period start): the same rules as :func:`value`,
    swept period by period so that large streams stay tractable."""
    out: dict[tuple[str, str, str, str, date], tuple[Decimal, Decimal | None, bool]] = {}
    for indicator in sorted({f.indicator for f in facts}):
        for gran in GRANS:
            mine = [f for f in facts if f.indicator == indicator and _counts_in(f.gran, gran)]
            if not mine:
                continue
            starts: list[date] = []
            day = first
            while day <= last:
                start, end = period_of(day, gran)
                starts.append(start)
                day = end + timedelta(days=1)
            by_time = sorted(mine, key=lambda f: (f.day, GRANS.index(f.gran)))
            latest: dict[tuple[str, str], RefFact] = {}
            i = 0
            for start in starts:
                _, end = period_of(start, gran)
                if mine[0].kind == "flow":
                    current = [f for f in mine if start <= f.day <= end]
                else:
                    while i < len(by_time) and by_time[i].day <= end:
                        f = by_time[i]
                        latest[(f.unit, f.series)] = f
                        i += 1
                    current = [f for f in latest.values() if _era(f.day) == _era(end)]
                nodes = {(lv, code) for f in current for lv, code in f.path.items()}
                for level, code in nodes:
                    got = value(current_as_facts(current), indicator, gran, start, level, code)
                    if got is not None:
                        out[(indicator, gran, level, code, start)] = got
    return out


def current_as_facts(current: list[RefFact]) -> list[RefFact]:
    """The as-of set is already chosen; :func:`value` re-choosing from it is a no-op."""
    return current
