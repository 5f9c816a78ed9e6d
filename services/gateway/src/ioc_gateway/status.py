"""Status against target, the way the alerts service judges lagging: the expected value on
the trajectory at the end of the period (or today), the shortfall in the indicator's
direction, then the warning and critical tolerances; past the deadline any shortfall from the
goal is critical. Targets come from the alerts service (``GET /v1/targets``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from ioc_common.catalogue import Direction, Indicator
from ioc_common.catalogue.targets import TargetRule, TargetScope, Tolerance
from ioc_common.timeutil import Granularity, parse_observed, period_end, vietnam_today
from ioc_gateway.scope import within
from ioc_gateway.upstream import Upstream


class Status(StrEnum):
    ON_TRACK = "on_track"
    WARNING = "warning"
    CRITICAL = "critical"
    NO_TARGET = "no_target"
    NO_DATA = "no_data"
    UNKNOWN = "unknown"  # the targets could not be read (alerts service unavailable)


@dataclass(frozen=True, slots=True)
class TargetView:
    id: str
    indicator: str
    scope: TargetScope
    goal: float
    deadline: date
    tolerance: Tolerance
    _trajectory: TargetRule

    def expected_at(self, on: date) -> float:
        return self._trajectory.expected_at(on)

    def applies(self, unit_code: str, level: str, on: date) -> bool:
        scope = self.scope
        if scope.units is not None:
            return unit_code in scope.units and _level_of(unit_code) == level
        if scope.level is None or scope.level.value != level:
            return False
        return scope.within is None or any(within(w, unit_code, (on,)) for w in scope.within)


def _level_of(code: str) -> str:
    return {2: "province", 3: "district"}.get(len(code), "commune")


def parse_target(item: dict[str, Any]) -> TargetView | None:
    """A target as the alerts API lists it; ``None`` when disabled or unreadable."""
    if not item.get("enabled", True):
        return None
    d = item.get("definition") or {}
    try:
        # Only what the rule needs; the rest (source, notes) is the alerts service's business.
        fields = {k: d[k] for k in TargetRule.model_fields if k in d}
        rule = TargetRule.model_validate({**fields, "id": item["id"]})
        return TargetView(
            id=rule.id,
            indicator=rule.indicator,
            scope=rule.scope,
            goal=rule.goal,
            deadline=rule.deadline,
            tolerance=rule.tolerance,
            _trajectory=rule,
        )
    except (KeyError, TypeError, ValueError, ValidationError):
        return None


class Targets:
    """The alerts service's targets, cached for ``ttl_s``."""

    def __init__(self, alerts: Upstream, ttl_s: float = 30.0) -> None:
        self.alerts = alerts
        self.ttl_s = ttl_s
        self._cached: tuple[float, list[TargetView]] | None = None

    async def all(self) -> list[TargetView]:
        if self._cached is not None and self._cached[0] > time.monotonic():
            return self._cached[1]
        found: list[TargetView] = []
        offset = 0
        while True:
            page = await self.alerts.get(
                "/v1/targets", {"enabled": "true", "limit": 500, "offset": offset}
            )
            found += [t for t in map(parse_target, page["items"]) if t is not None]
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                break
        self._cached = (time.monotonic() + self.ttl_s, found)
        return found

    def invalidate(self) -> None:
        self._cached = None


def find_target(
    targets: list[TargetView], indicator: str, unit_code: str, level: str, on: date
) -> TargetView | None:
    for target in targets:
        if target.indicator == indicator and target.applies(unit_code, level, on):
            return target
    return None


def as_of(period: str | None) -> date:
    """The day a period's value is judged on: its last day, or today while it runs."""
    today = vietnam_today()
    if not period:
        return today
    try:
        start, granularity = parse_observed(period)
    except ValueError:
        return today
    return min(period_end(start, Granularity(granularity)), today)


def judge(
    indicator: Indicator,
    target: TargetView | None,
    value: float | None,
    period: str | None,
    *,
    targets_known: bool = True,
) -> dict[str, Any]:
    """``status`` and the figures behind it for one value."""
    if not targets_known:
        return {"status": Status.UNKNOWN.value, "target": None}
    if target is None:
        return {
            "status": Status.NO_TARGET.value if value is not None else Status.NO_DATA.value,
            "target": None,
        }
    on = as_of(period)
    expected = target.goal if on > target.deadline else target.expected_at(on)
    info = {
        "id": target.id,
        "expected": round(expected, 4),
        "goal": target.goal,
        "deadline": target.deadline.isoformat(),
        "warning": target.tolerance.warning,
        "critical": target.tolerance.critical,
    }
    if value is None:
        return {"status": Status.NO_DATA.value, "target": info}
    higher = indicator.direction is Direction.HIGHER_IS_BETTER
    gap = expected - value if higher else value - expected
    if on > target.deadline:
        status = Status.CRITICAL if gap > 0 else Status.ON_TRACK
    elif gap > target.tolerance.critical:
        status = Status.CRITICAL
    elif gap > target.tolerance.warning:
        status = Status.WARNING
    else:
        status = Status.ON_TRACK
    return {"status": status.value, "target": info | {"gap": round(gap, 4)}}
