"""Status against target on the dashboard: the verdict of
:func:`ioc_common.catalogue.targets.judge` — the one the alerts service raises its alerts on —
presented for a tile or a table row. Targets come from the alerts service
(``GET /v1/targets``), cached here."""

from __future__ import annotations

import time
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from ioc_common.catalogue import Indicator
from ioc_common.catalogue.targets import TargetRule, Verdict, applies, judge, judging_day
from ioc_common.contracts.alerts import TargetOut
from ioc_common.timeutil import Granularity, parse_observed, vietnam_today
from ioc_gateway.upstream import AlertsApi


class Status(StrEnum):
    ON_TRACK = "on_track"
    WARNING = "warning"
    CRITICAL = "critical"
    NO_TARGET = "no_target"
    NO_DATA = "no_data"
    UNKNOWN = "unknown"  # the targets could not be read (alerts service unavailable)


def parse_target(item: TargetOut) -> TargetRule | None:
    """A target as the alerts API lists it; ``None`` when disabled or unreadable."""
    if not item.enabled:
        return None
    d = item.definition
    try:
        # Only what the rule needs; the rest (source, notes) is the alerts service's business.
        fields = {k: d[k] for k in TargetRule.model_fields if k in d}
        return TargetRule.model_validate({**fields, "id": item.id})
    except (KeyError, TypeError, ValueError, ValidationError):
        return None


class Targets:
    """The alerts service's targets, cached for ``ttl_s``."""

    def __init__(self, alerts: AlertsApi, ttl_s: float = 30.0) -> None:
        self.alerts = alerts
        self.ttl_s = ttl_s
        self._cached: tuple[float, list[TargetRule]] | None = None

    async def all(self) -> list[TargetRule]:
        if self._cached is not None and self._cached[0] > time.monotonic():
            return self._cached[1]
        found: list[TargetRule] = []
        offset = 0
        while True:
            page = await self.alerts.targets(offset=offset)
            found += [t for t in map(parse_target, page.items) if t is not None]
            offset += len(page.items)
            if not page.items or offset >= page.total:
                break
        self._cached = (time.monotonic() + self.ttl_s, found)
        return found

    def invalidate(self) -> None:
        self._cached = None


def find_target(
    targets: list[TargetRule], indicator: str, unit_code: str, level: str, on: date
) -> TargetRule | None:
    for target in targets:
        if target.indicator == indicator and applies(target, unit_code, level, on):
            return target
    return None


def as_of(period: str | None, today: date | None = None) -> date:
    """The day a period's value is judged on: its last day (``judging_day``), whether it has
    ended or still runs — the plan for that period, never today's; today for a value of no
    (readable) period."""
    today = today or vietnam_today()
    if not period:
        return today
    try:
        start, granularity = parse_observed(period)
    except ValueError:
        return today
    return judging_day(start, Granularity(granularity))


#: The dashboard's colours: a missed deadline shows as critical.
_STATUS = {
    Verdict.ON_TRACK: Status.ON_TRACK,
    Verdict.WARNING: Status.WARNING,
    Verdict.CRITICAL: Status.CRITICAL,
    Verdict.DEADLINE_MISSED: Status.CRITICAL,
    Verdict.NO_TARGET: Status.NO_TARGET,
    Verdict.NO_DATA: Status.NO_DATA,
}


def status_of(
    indicator: Indicator,
    target: TargetRule | None,
    value: float | None,
    period: str | None,
    *,
    targets_known: bool = True,
    today: date | None = None,
) -> dict[str, Any]:
    """``status`` and the figures behind it for one value."""
    if not targets_known:
        return {"status": Status.UNKNOWN.value, "target": None}
    today = today or vietnam_today()
    found = judge(
        target, value, direction=indicator.direction, on=as_of(period, today), period=period
    )
    status = _STATUS[found.verdict].value
    if target is None:
        return {"status": status, "target": None}
    assert found.expected is not None  # a target gives an expected value
    info: dict[str, Any] = {
        "id": target.id,
        "expected": round(found.expected, 4),
        "goal": target.goal,
        "deadline": target.deadline.isoformat(),
        "warning": target.tolerance.warning,
        "critical": target.tolerance.critical,
        # A demo target of ioc dev, not the province's own: the dashboard labels it so.
        "demo": target.demo,
    }
    if found.gap is not None:
        info["gap"] = round(found.gap, 4)
    return {"status": status, "target": info}
