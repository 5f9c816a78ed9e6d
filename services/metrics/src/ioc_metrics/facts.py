"""From a telemetry event to the facts the aggregation works on.

A *fact* is one indicator's figure reported by one unit for one period: a value (flow/stock) or
a numerator and denominator (ratio). Every catalogue indicator derived from the event's family
yields one fact; an observation event yields one fact for the indicator it names. Events that
cannot yield facts (unknown unit on that date, unknown indicator, wrong value form) are poison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final, NamedTuple
from uuid import UUID

from ioc_common.catalogue import AggregationKind, Catalogue, Indicator
from ioc_common.events import Family, ObservationEvent
from ioc_common.reference.units import REFORM_DATE, Level, UnitTree, UnknownUnitError
from ioc_common.timeutil import GRANULARITY_ORDER, Granularity
from ioc_common.wire import AnyTelemetry, ObservationWireEvent, fields_getter

#: Levels from the top of the tree down; a scope lists a unit's codes in this order.
LEVELS: Final = (Level.PROVINCE, Level.DISTRICT, Level.COMMUNE)


class Part(StrEnum):
    """How a fact combines over time: a ratio's parts are both flows or both stocks."""

    FLOW = "flow"
    STOCK = "stock"


#: Enum members read through the class are descriptor look-ups: hot loops use these.
_FLOW: Final = Part.FLOW


class Poison(Exception):
    """An event that yields no facts; ``reason`` is a stable code for the dead letter."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


#: A granularity's place from the finest on (a dict: hot loops ask per fact and period).
_GRAN_ORDER: Final = {g: i for i, g in enumerate(GRANULARITY_ORDER)}


def gran_order(granularity: Granularity) -> int:
    return _GRAN_ORDER[granularity]


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


class Fact(NamedTuple):
    """(A tuple: a batch builds one per indicator an event feeds, and a frozen dataclass's
    constructor costs several times a tuple's.)"""

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
    #: The provider that sent the event: with ``event_id``, the event's identity.
    source: str
    #: Identity within (indicator, unit): ``fact_key_of``, made once with the fact (a batch
    #: asks it several times per fact).
    fact_key: str

    @property
    def level(self) -> Level:
        return scope_level(self.scope)

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scope of every node this fact rolls up into, the province first."""
        return scopes_of(self.scope)


def outranks(a: Fact, b: Fact) -> bool:
    """Whether ``a`` ranks above ``b``, a fact of the same identity: the higher revision, then
    the later ``received_at``, then the greater ``event_id`` wins, whatever order they arrive
    in. (UUIDs order as their text does, which is how PostgreSQL breaks the same tie.) No rank
    tuples are built: a batch compares thousands."""
    if a.revision != b.revision:
        return a.revision > b.revision
    if a.received_at != b.received_at:
        return a.received_at > b.received_at
    return a.event_id > b.event_id


#: ``Fact`` without its generated ``__new__`` (a Python function, ≈ 3× the tuple's cost):
#: hot paths build facts as ``_NEW_FACT(Fact, (fields…))``, in field order.
_NEW_FACT: Final = tuple.__new__


@lru_cache(maxsize=4096)
def period_tag(observed_at: date, granularity: Granularity) -> str:
    """The period part of a fact's identity: ``2025-03-01|month``; cached: a batch has few
    periods."""
    # A StrEnum formats as its value (``.value`` is a slow property in a hot path).
    return f"{observed_at.isoformat()}|{granularity}"


def fact_key_of(part: Part, series: str, period: str, source: str) -> str:
    """Identity within (indicator, unit): the series and period (``period_tag``) for a stock
    (whoever reports it); the same plus the provider for a flow — each provider's flows are
    its own figures, which add up with the other providers' ones. The provider comes last:
    series are built from payload enums, which never contain a date, so keys cannot
    collide."""
    return f"{series}|{period}|{source}" if part is _FLOW else f"{series}|{period}"


def to_decimal(number: float | int) -> Decimal:
    # str() of a float is its shortest round-tripping form: 0.1 stays 0.1, exactly.
    return Decimal(number) if isinstance(number, int) else Decimal(str(number))


def scope_of(tree: UnitTree, unit_code: str, on: date) -> str:
    try:
        return _cached_scope(tree, unit_code, on)
    except UnknownUnitError as exc:
        raise Poison("unknown_unit", str(exc)) from None


@lru_cache(maxsize=65_536)
def _cached_scope(tree: UnitTree, unit_code: str, on: date) -> str:
    # A batch holds many events of one unit and period: the tree walk is done once for them.
    path = tree.roll_up(unit_code, on)
    return "/".join(path[level] for level in LEVELS if level in path)


def _no_fields(payload: Any) -> tuple[Any, ...]:
    return ()


@dataclass(frozen=True, slots=True)
class _Recipe:
    """How one catalogue indicator reads a family's payload (resolved once per catalogue)."""

    code: str
    part: Part
    series_by: tuple[str, ...]
    value: str | None
    numerator: str | None
    denominator: str | None
    #: The payload's measure fields (value, or numerator and denominator), as one tuple.
    measures: Callable[[Any], tuple[Any, ...]] = field(init=False)
    #: The payload's series fields, as one tuple (read in C).
    series_fields: Callable[[Any], tuple[Any, ...]] = field(init=False)
    #: The payload's series fields' values → the series text (payloads have few distinct).
    series_cache: dict[tuple[Any, ...], str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        fields = (self.value,) if self.value is not None else (self.numerator, self.denominator)
        object.__setattr__(
            self, "measures", fields_getter(tuple(f for f in fields if f is not None))
        )
        series = fields_getter(self.series_by) if self.series_by else _no_fields
        object.__setattr__(self, "series_fields", series)

    def series(self, payload: Any) -> str:
        """``operator=Viettel|technology=4G``: the series this payload reports under."""
        if not self.series_by:
            return ""
        values = self.series_fields(payload)
        text = self.series_cache.get(values)
        if text is None:
            # Payload fields are ints or StrEnums: f-strings give their JSON form's text.
            text = "|".join(f"{n}={v}" for n, v in zip(self.series_by, values, strict=True))
            self.series_cache[values] = text
        return text


#: id(catalogue) → (catalogue, family → recipes); the catalogue is kept so its id stays unique.
_RECIPES: dict[int, tuple[Catalogue, dict[Family, tuple[_Recipe, ...]]]] = {}


def _recipes(catalogue: Catalogue, family: Family) -> tuple[_Recipe, ...]:
    held = _RECIPES.get(id(catalogue))
    if held is None or held[0] is not catalogue:
        held = (catalogue, {})
        _RECIPES[id(catalogue)] = held
    by_family = held[1]
    recipes = by_family.get(family)
    if recipes is None:
        recipes = tuple(
            _Recipe(
                code=ind.code,
                part=part_of(ind),
                series_by=tuple(ind.source.series_by),
                value=ind.source.value if not ind.is_ratio else None,
                numerator=ind.source.numerator if ind.is_ratio else None,
                denominator=ind.source.denominator if ind.is_ratio else None,
            )
            for ind in catalogue.derived_from(family)
        )
        by_family[family] = recipes
    return recipes


#: Both decoders' observation events (a tuple: ``A | B`` would build a union per call).
_OBSERVATIONS: Final = (ObservationEvent, ObservationWireEvent)


def facts_of(event: AnyTelemetry, catalogue: Catalogue, tree: UnitTree) -> list[Fact]:
    """The facts an event yields; raises :class:`Poison` when it yields none it should."""
    unit_code, observed_at = event.unit_code, event.observed_at
    scope = scope_of(tree, unit_code, observed_at)
    den: Decimal | None
    granularity, revision = event.granularity, event.revision
    received_at, event_id, source = event.received_at, event.event_id, event.source

    if isinstance(event, _OBSERVATIONS):
        indicator = catalogue.get(event.indicator)
        if indicator is None:
            raise Poison("unknown_indicator", f"{event.indicator!r} is not in the catalogue")
        p = event.payload
        if indicator.is_ratio:
            if p.numerator is None or p.denominator is None:
                raise Poison(
                    "invalid_form", f"{indicator.code} is a ratio: send numerator/denominator"
                )
            num, den = to_decimal(p.numerator), to_decimal(p.denominator)
        else:
            if p.value is None:
                raise Poison("invalid_form", f"{indicator.code} is a {indicator.kind}: send value")
            num, den = to_decimal(p.value), None
        part = part_of(indicator)
        key = fact_key_of(part, "", period_tag(observed_at, granularity), source)
        return [
            Fact(indicator.code, part, unit_code, scope, "", observed_at, granularity, num, den,
                 revision, received_at, event_id, source, key)
        ]  # fmt: skip

    payload = event.payload
    period = period_tag(observed_at, granularity)
    out: list[Fact] = []
    for r in _recipes(catalogue, event.family):  # the enum: ``.value`` is a slow property
        measures = r.measures(payload)
        num = to_decimal(measures[0])
        den = to_decimal(measures[1]) if len(measures) > 1 else None
        series = r.series(payload)
        key = fact_key_of(r.part, series, period, source)
        out.append(
            _NEW_FACT(Fact, (r.code, r.part, unit_code, scope, series, observed_at, granularity,
                             num, den, revision, received_at, event_id, source, key))
        )  # fmt: skip
    return out
