"""The indicator catalogue: what the IOC measures, kept as data in ``data/indicators.yaml``.

Each indicator belongs to one of the four pillars and has an aggregation kind that fixes how
its values combine over time and up the administrative hierarchy:

* ``flow``  — things that happen: summed over a period and over child units;
* ``stock`` — a level at a moment: the latest value per series of a reporting unit, summed over
  series and child units;
* ``ratio`` — numerator ÷ denominator, each itself a flow or a stock; always the ratio of the
  summed parts, never an average of percentages.

``source`` says which telemetry family an indicator is derived from and which payload fields
give its value. The payload fields each family carries are listed in :data:`FAMILY_FIELDS`;
any indicator may in addition be reported through the generic ``observation`` event.

Typical use::

    catalogue = load_catalogue()
    catalogue.require("bts_sites").kind  # AggregationKind.STOCK
    catalogue.derived_from("public_service")  # indicators fed by that family
"""

from __future__ import annotations

import difflib
import functools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Annotated, Any, Final, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

from ioc_common.events import Family

__all__ = [
    "FAMILY_FIELDS",
    "MIN_INDICATORS_PER_PILLAR",
    "AggregationKind",
    "Catalogue",
    "Direction",
    "FieldRole",
    "Indicator",
    "IndicatorSource",
    "PayloadField",
    "Pillar",
    "RatioPart",
    "Unit",
    "UnknownIndicatorError",
    "load_catalogue",
    "load_yaml",
    "parse_catalogue",
    "read_data_file",
]


class Pillar(StrEnum):
    INFRASTRUCTURE = "infrastructure"
    DIGITAL_GOVERNMENT = "digital_government"
    DIGITAL_ECONOMY = "digital_economy"
    DIGITAL_SOCIETY = "digital_society"


class AggregationKind(StrEnum):
    FLOW = "flow"
    STOCK = "stock"
    RATIO = "ratio"


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


class Unit(StrEnum):
    """What one unit of an indicator's value counts (ratios are shown in ``percent``)."""

    SITE = "site"
    VILLAGE = "village"
    POINT = "point"
    DOSSIER = "dossier"
    DOCUMENT = "document"
    SERVICE = "service"
    DATABASE = "database"
    DATASET = "dataset"
    TASK = "task"
    TRANSACTION = "transaction"
    VND = "vnd"
    PRODUCT = "product"
    ENTERPRISE = "enterprise"
    HOUSEHOLD = "household"
    PERSON = "person"
    SUBSCRIBER = "subscriber"
    PERCENT = "percent"


# --- the payload fields of each family -------------------------------------------------------


class FieldRole(StrEnum):
    MEASURE = "measure"  # a number an indicator can be derived from
    DIMENSION = "dimension"  # a label that tells independent series apart (operator, channel)


@dataclass(frozen=True, slots=True)
class PayloadField:
    role: FieldRole
    #: How a measure aggregates by nature; ``None`` for dimensions and for the observation
    #: payload, whose numbers are whatever the reported indicator says.
    kind: AggregationKind | None = None


_DIM: Final = PayloadField(FieldRole.DIMENSION)
_FLOW: Final = PayloadField(FieldRole.MEASURE, AggregationKind.FLOW)
_STOCK: Final = PayloadField(FieldRole.MEASURE, AggregationKind.STOCK)
_ANY: Final = PayloadField(FieldRole.MEASURE)

#: The payload fields of each telemetry family, as the catalogue may reference them. The event
#: models live in ``ioc_common.events``; this is the catalogue's own description of them, kept
#: here so the catalogue validates without importing the wire contracts (a test cross-checks
#: the two). A ``bts`` report is one operator and technology in one unit; its village counts
#: describe the unit as a whole (villages with a signal from any operator).
FAMILY_FIELDS: Final[Mapping[Family, Mapping[str, PayloadField]]] = MappingProxyType(
    {
        Family.BTS: MappingProxyType(
            {
                "operator": _DIM,
                "technology": _DIM,
                "sites": _STOCK,
                "villages_total": _STOCK,
                "villages_covered": _STOCK,
            }
        ),
        Family.PUBLIC_SERVICE: MappingProxyType(
            {
                "service_level": _DIM,
                "dossiers_total": _FLOW,
                "dossiers_online": _FLOW,
                "dossiers_processed_online": _FLOW,
                "paid_online": _FLOW,
            }
        ),
        Family.CASHLESS: MappingProxyType(
            {"channel": _DIM, "transactions": _FLOW, "value_vnd": _FLOW}
        ),
        Family.OBSERVATION: MappingProxyType(
            {"value": _ANY, "numerator": _ANY, "denominator": _ANY}
        ),
    }
)

#: The platform shows every pillar as a row of tiles; fewer than this leaves a row bare.
MIN_INDICATORS_PER_PILLAR: Final = 3


def _fields_with(family: Family, role: FieldRole) -> list[str]:
    return [name for name, spec in FAMILY_FIELDS[family].items() if spec.role is role]


# --- models ----------------------------------------------------------------------------------


class _Frozen(BaseModel):
    # Spelled out here (not via a shared ConfigDict variable) so mypy's pydantic plugin sees it.
    model_config = ConfigDict(frozen=True, extra="forbid")


Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$", max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class RatioPart(_Frozen):
    """The numerator or denominator of a ratio indicator."""

    kind: AggregationKind

    @field_validator("kind")
    @classmethod
    def _flow_or_stock(cls, kind: AggregationKind) -> AggregationKind:
        if kind is AggregationKind.RATIO:
            raise ValueError("a ratio's numerator or denominator is a flow or a stock")
        return kind


class IndicatorSource(_Frozen):
    """Where an indicator's values come from.

    ``value`` (flow/stock) or ``numerator`` and ``denominator`` (ratio) name measure fields of
    the family's payload. ``series_by`` names the dimension fields that tell independent series
    of a stock apart within one reporting unit: the latest value of each series is kept and the
    series are summed. The ``observation`` family names no fields: its event carries the
    indicator code and the value(s).
    """

    family: Family
    value: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    series_by: tuple[str, ...] = ()

    @property
    def is_observation(self) -> bool:
        return self.family is Family.OBSERVATION

    def measure_fields(self) -> dict[str, str]:
        """The payload fields this source reads, by role (``value``, ``numerator``, ...)."""
        named = {"value": self.value, "numerator": self.numerator, "denominator": self.denominator}
        return {role: field for role, field in named.items() if field is not None}

    @model_validator(mode="after")
    def _fields_exist_in_family(self) -> Self:
        measures = self.measure_fields()
        if self.is_observation:
            if measures or self.series_by:
                named = [f"source.{role}" for role in measures]
                named += ["source.series_by"] if self.series_by else []
                raise ValueError(
                    f"{', '.join(named)}: an observation source names no payload fields "
                    "(the event carries the indicator code and its value)"
                )
            return self
        known_measures = _fields_with(self.family, FieldRole.MEASURE)
        for role, field in measures.items():
            if field not in known_measures:
                raise ValueError(
                    f"source.{role}: {field!r} is not a numeric field of the {self.family} "
                    f"payload (one of: {', '.join(known_measures)})"
                )
        dimensions = _fields_with(self.family, FieldRole.DIMENSION)
        for field in self.series_by:
            if field not in dimensions:
                raise ValueError(
                    f"source.series_by: {field!r} is not a dimension of the {self.family} "
                    f"payload (one of: {', '.join(dimensions)})"
                )
        if len(set(self.series_by)) != len(self.series_by):
            raise ValueError("source.series_by: a field is listed twice")
        if self.value is not None and (self.numerator is not None or self.denominator is not None):
            raise ValueError("source: give either value, or numerator and denominator")
        return self


class Indicator(_Frozen):
    """One indicator of the catalogue; see the module docstring for the aggregation kinds."""

    code: Code
    name_vi: Text
    name_en: Text
    pillar: Pillar
    unit: Unit
    unit_vi: Text
    direction: Direction
    kind: AggregationKind
    #: How often a reporting unit is expected to send a figure; longer silence is "missing data".
    reporting_interval_days: int = Field(ge=1, le=366)
    description_vi: Text
    description_en: Text
    numerator: RatioPart | None = None
    denominator: RatioPart | None = None
    #: Display multiplier of a ratio: 100 shows it as a percentage.
    scale: int = Field(default=1, ge=1)
    source: IndicatorSource

    @property
    def is_ratio(self) -> bool:
        return self.kind is AggregationKind.RATIO

    def _fail(self, message: str) -> ValueError:
        return ValueError(f"indicator {self.code!r}: {message}")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.is_ratio:
            missing = [p for p in ("numerator", "denominator") if getattr(self, p) is None]
            if missing:
                raise self._fail(f"{' and '.join(missing)} required: kind is 'ratio'")
        else:
            present = [p for p in ("numerator", "denominator") if getattr(self, p) is not None]
            if present:
                raise self._fail(f"{' and '.join(present)} only apply to kind 'ratio'")
            if self.scale != 1:
                raise self._fail("scale only applies to kind 'ratio'")
        # A percentage is exactly a ratio shown ×100; anything else would mislabel the value.
        if (self.unit is Unit.PERCENT) != (self.is_ratio and self.scale == 100):
            raise self._fail("unit 'percent' goes with kind 'ratio' and scale 100, and only then")
        self._check_source()
        return self

    def _check_source(self) -> None:
        source = self.source
        if source.is_observation:
            return
        fields = FAMILY_FIELDS[source.family]
        if self.is_ratio:
            assert self.numerator is not None
            assert self.denominator is not None
            if None in (source.numerator, source.denominator) or source.value is not None:
                raise self._fail(
                    f"source.numerator and source.denominator required (and no source.value): "
                    f"kind is 'ratio' and the family is {source.family}"
                )
            parts = {"numerator": self.numerator.kind, "denominator": self.denominator.kind}
        else:
            if source.value is None or (source.numerator, source.denominator) != (None, None):
                raise self._fail(
                    f"source.value required (and no source.numerator/denominator): kind is "
                    f"{self.kind.value!r} and the family is {source.family}"
                )
            parts = {"value": self.kind}
        for role, field in source.measure_fields().items():
            natural = fields[field].kind
            if natural is not None and natural is not parts[role]:
                raise self._fail(
                    f"source.{role}: {source.family}.{field} is a {natural}, "
                    f"but the indicator's {role} is declared a {parts[role]}"
                )
        # Flows are summed across every series anyway, so series_by would only mislead.
        if source.series_by and AggregationKind.STOCK not in parts.values():
            raise self._fail("source.series_by only applies to stock values")


class UnknownIndicatorError(KeyError):
    """An indicator code that is not in the catalogue."""

    def __init__(self, code: str, known: Iterable[str] = ()) -> None:
        self.code = code
        close = difflib.get_close_matches(code, list(known), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        self.message = f"unknown indicator {code!r}: not in the catalogue{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:
        # KeyError would otherwise print the repr of the message, quotes and all.
        return self.message


class Catalogue(_Frozen):
    """The whole catalogue, as loaded from ``indicators.yaml``."""

    version: Text
    indicators: tuple[Indicator, ...] = Field(min_length=1)

    _by_code: dict[str, Indicator] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _whole_catalogue(self) -> Self:
        counts = Counter(i.code for i in self.indicators)
        dupes = sorted(code for code, n in counts.items() if n > 1)
        if dupes:
            raise ValueError(f"indicators: duplicate code(s) {', '.join(dupes)}")
        thin = [p.value for p in Pillar if len(self.by_pillar(p)) < MIN_INDICATORS_PER_PILLAR]
        if thin:
            raise ValueError(
                f"indicators: pillar(s) {', '.join(thin)} have fewer than "
                f"{MIN_INDICATORS_PER_PILLAR} indicators"
            )
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._by_code = {i.code: i for i in self.indicators}

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(i.code for i in self.indicators)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def get(self, code: str) -> Indicator | None:
        return self._by_code.get(code)

    def require(self, code: str) -> Indicator:
        """The indicator with this code; raises :class:`UnknownIndicatorError` otherwise."""
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownIndicatorError(code, self._by_code) from None

    def by_pillar(self, pillar: Pillar | str) -> list[Indicator]:
        wanted = Pillar(pillar)
        return [i for i in self.indicators if i.pillar is wanted]

    def derived_from(self, family: Family | str) -> list[Indicator]:
        """Indicators whose values are computed from events of ``family``.

        For ``observation`` these are the indicators reported *only* that way; any other
        indicator may still also arrive as an observation.
        """
        wanted = Family(family)
        return [i for i in self.indicators if i.source.family is wanted]


# --- loading ---------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys, which plain YAML silently overwrites."""


def _construct_unique_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)


def load_yaml(text: str) -> Any:
    """Parse YAML safely, rejecting duplicate keys."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506  # a SafeLoader subclass


def read_data_file(name: str) -> str:
    """A file of this package's ``data`` folder, read from the installed package."""
    return (resources.files(__name__) / "data" / name).read_text(encoding="utf-8")


def parse_catalogue(text: str) -> Catalogue:
    """Validate a catalogue given as YAML text; raises ``pydantic.ValidationError``."""
    return Catalogue.model_validate(load_yaml(text))


def display_value(
    num: Decimal | float | None, den: Decimal | float | None, scale: int | None
) -> float | None:
    """The number people see: a value, or a ratio's numerator ÷ denominator × its scale (None
    when the denominator is 0) — never an average of percentages. Metrics shows aggregates with
    it, alerts judges with it, the gateway combines merged provinces' parts with it."""
    if num is None:
        return None
    if den is None:
        return float(num)
    if den == 0:
        return None
    if isinstance(num, Decimal) and isinstance(den, Decimal):
        return float(num / den * (scale or 1))  # exact, as metrics stores them
    return float(num) / float(den) * (scale or 1)


@functools.cache
def load_catalogue() -> Catalogue:
    """The catalogue shipped with the package (parsed once per process)."""
    return parse_catalogue(read_data_file("indicators.yaml"))
