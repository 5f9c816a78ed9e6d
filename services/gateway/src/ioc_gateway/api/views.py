"""Helpers the read endpoints share: indicator lookup, targets that may be unavailable,
period arithmetic and a tile's description of an indicator."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ioc_common.catalogue import Indicator, Pillar
from ioc_common.catalogue.targets import TargetRule
from ioc_common.errors import FieldError, InvalidInput
from ioc_common.timeutil import Granularity, period_label, period_start, vietnam_today
from ioc_gateway.state import GatewayState
from ioc_gateway.upstream import UpstreamUnavailable

PILLAR_NAMES: dict[Pillar, tuple[str, str]] = {
    Pillar.INFRASTRUCTURE: ("Hạ tầng số", "Digital infrastructure"),
    Pillar.DIGITAL_GOVERNMENT: ("Chính quyền số", "Digital government"),
    Pillar.DIGITAL_ECONOMY: ("Kinh tế số", "Digital economy"),
    Pillar.DIGITAL_SOCIETY: ("Xã hội số", "Digital society"),
}


def invalid(field: str, reason: str) -> InvalidInput:
    return InvalidInput("Tham số không hợp lệ", "Invalid parameter", [FieldError(field, reason)])


def require_indicator(state: GatewayState, code: str) -> Indicator:
    found = state.catalogue.get(code)
    if found is None:
        raise invalid("indicator", f"unknown indicator {code!r}; see GET /v1/indicators")
    return found


def describe(ind: Indicator) -> dict[str, Any]:
    return {
        "indicator": ind.code,
        "name_vi": ind.name_vi,
        "name_en": ind.name_en,
        "pillar": ind.pillar.value,
        "kind": ind.kind.value,
        "unit": ind.unit.value,
        "unit_vi": ind.unit_vi,
        "direction": ind.direction.value,
    }


async def targets_or_none(state: GatewayState) -> tuple[list[TargetRule], list[str]]:
    """The targets, or none and ``["alerts"]`` when the alerts service is unavailable — the
    figures are still worth showing without their status."""
    try:
        return await state.targets.all(), []
    except UpstreamUnavailable:
        return [], ["alerts"]


def current_period(granularity: Granularity) -> date:
    return period_start(vietnam_today(), granularity)


def periods_back(last: date, granularity: Granularity, count: int) -> date:
    """The start of the period ``count`` periods before ``last``."""
    start = last
    for _ in range(count):
        start = period_start(start - timedelta(days=1), granularity)
    return start


def label(start: date, granularity: Granularity) -> str:
    return period_label(start, granularity)
