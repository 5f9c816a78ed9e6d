"""From a telemetry event to the facts the aggregation works on.

A *fact* is one indicator's figure reported by one unit for one period: a value (flow/stock) or
a numerator and denominator (ratio). Every catalogue indicator derived from the event's family
yields one fact; an observation event yields one fact for the indicator it names. Events that
cannot yield facts (unknown unit on that date, unknown indicator, wrong value form) are poison.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Final
from uuid import UUID

from ioc_common.catalogue import AggregationKind, Catalogue, Indicator
from ioc_common.events import ObservationEvent, TelemetryEvent
from ioc_common.reference.units import REFORM_DATE, Level, UnitTree, UnknownUnitError
from ioc_common.timeutil import GRANULARITY_ORDER, Granularity

#: Levels from the top of the tree down; a scope lists a unit's codes in this order.
LEVELS: Final = (Level.PROVINCE, Level.DISTRICT, Level.COMMUNE)


class Part(StrEnum):
    """How a fact combines over time: a ratio's parts are both flows or both stocks."""

    FLOW = "flow"
    STOCK = "stock"


class Poison(Exception):
    """An event that yields no facts; ``reason`` is a stable code for the dead letter."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def gran_order(granularity: Granularity) -> int:
    return GRANULARITY_ORDER.index(granularity)


def era(day: date) -> int:
    """0 before the 1 July 2025 reform, 1 from it: stocks never carry across the two trees."""
    return 1 if day >= REFORM_DATE else 0


def part_of(indicator: Indicator) -> Part:
    if indicator.kind is AggregationKind.RATIO:
        assert indicator.numerator is not None
        assert indicator.denominator is not None
        if indicator.numerator.kind is not indicator.denominator.kind:
            raise ValueError(f"{indicator.code}: ratio parts of different kinds are not supported")
        return Part(indicator.numerator.kind.value)
    return Part(indicator.kind.value)


def scope_depth(scope: str) -> int:
    return scope.count("/") + 1


def parent_scope(scope: str) -> str:
    return scope.rpartition("/")[0]


def scope_code(scope: str) -> str:
    return scope.rpartition("/")[2]


@lru_cache(maxsize=65_536)
def scopes_of(scope: str) -> tuple[str, ...]:
    """``08/071/02233`` → ``(08, 08/071, 08/071/02233)``; cached: a batch asks per fact."""
    codes = scope.split("/")
    return tuple("/".join(codes[: i + 1]) for i in range(len(codes)))


def scope_level(scope: str) -> Level:
    return LEVELS[scope_depth(scope) - 1]


@dataclass(frozen=True, slots=True)
class Fact:
    indicator: str
    part: Part
    unit_code: str
    #: The unit's roll-up path at ``observed_at``, top down: ``08``, ``08/071``, ``08/071/02233``.
    scope: str
    series: str
    observed_at: date
    granularity: Granularity
    num: Decimal
    den: Decimal | None
    revision: int
    received_at: datetime
    event_id: UUID

    @property
    def level(self) -> Level:
        return scope_level(self.scope)

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scope of every node this fact rolls up into, the province first."""
        return scopes_of(self.scope)

    @property
    def fact_key(self) -> str:
        """Identity within (indicator, unit): every event for a flow; the period for a stock."""
        if self.part is Part.FLOW:
            return str(self.event_id)
        return f"{self.series}|{self.observed_at.isoformat()}|{self.granularity.value}"

    @property
    def rank(self) -> tuple[int, datetime, str]:
        """Among facts with one identity the highest wins, whatever order they arrive in."""
        return (self.revision, self.received_at, str(self.event_id))


def to_decimal(number: float | int) -> Decimal:
    # str() of a float is its shortest round-tripping form: 0.1 stays 0.1, exactly.
    return Decimal(number) if isinstance(number, int) else Decimal(str(number))


def scope_of(tree: UnitTree, unit_code: str, on: date) -> str:
    try:
        path = tree.roll_up(unit_code, on)
    except UnknownUnitError as exc:
        raise Poison("unknown_unit", str(exc)) from None
    return "/".join(path[level] for level in LEVELS if level in path)


def facts_of(event: TelemetryEvent, catalogue: Catalogue, tree: UnitTree) -> list[Fact]:
    """The facts an event yields; raises :class:`Poison` when it yields none it should."""
    scope = scope_of(tree, event.unit_code, event.observed_at)

    def fact(ind: Indicator, series: str, num: Decimal, den: Decimal | None) -> Fact:
        return Fact(
            indicator=ind.code,
            part=part_of(ind),
            unit_code=event.unit_code,
            scope=scope,
            series=series,
            observed_at=event.observed_at,
            granularity=event.granularity,
            num=num,
            den=den,
            revision=event.revision,
            received_at=event.received_at,
            event_id=event.event_id,
        )

    if isinstance(event, ObservationEvent):
        indicator = catalogue.get(event.indicator)
        if indicator is None:
            raise Poison("unknown_indicator", f"{event.indicator!r} is not in the catalogue")
        p = event.payload
        if indicator.is_ratio:
            if p.numerator is None or p.denominator is None:
                raise Poison(
                    "invalid_form", f"{indicator.code} is a ratio: send numerator/denominator"
                )
            return [fact(indicator, "", to_decimal(p.numerator), to_decimal(p.denominator))]
        if p.value is None:
            raise Poison("invalid_form", f"{indicator.code} is a {indicator.kind}: send value")
        return [fact(indicator, "", to_decimal(p.value), None)]

    payload = event.payload.model_dump(mode="json")
    out: list[Fact] = []
    for indicator in catalogue.derived_from(event.family.value):
        source = indicator.source
        series = "|".join(f"{name}={payload[name]}" for name in source.series_by)
        if indicator.is_ratio:
            assert source.numerator is not None
            assert source.denominator is not None
            num = to_decimal(payload[source.numerator])
            den = to_decimal(payload[source.denominator])
            out.append(fact(indicator, series, num, den))
        else:
            assert source.value is not None
            out.append(fact(indicator, series, to_decimal(payload[source.value]), None))
    return out
