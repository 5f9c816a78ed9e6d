"""Event contracts: what travels on the topics, shared by every producer and consumer.

A telemetry event is an envelope (who, where, when, which revision) around a typed payload of
one of four families. ``observed_at`` is the first day of the period the figure covers and
``granularity`` says how long that period is, so a monthly figure is never split into days.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Literal, Protocol, Self
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    TypeAdapter,
    field_validator,
    model_validator,
)

from ioc_common.timeutil import Granularity, parse_observed

SCHEMA_VERSION: Final = 1

#: Official unit codes: province 2 digits, district 3, commune 5.
UnitCode = Annotated[str, Field(pattern=r"^(\d{2}|\d{3}|\d{5})$", examples=["071", "08", "02227"])]


class Family(StrEnum):
    BTS = "bts"
    PUBLIC_SERVICE = "public_service"
    CASHLESS = "cashless"
    OBSERVATION = "observation"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _any_case(choices: type[StrEnum]) -> BeforeValidator:
    """Accept a choice in any case and with stray spaces ("Mobifone", "QR "), stored in its
    canonical spelling: departments type these by hand."""
    canonical = {c.value.casefold(): c.value for c in choices}

    def fix(value: Any) -> Any:
        return canonical.get(value.strip().casefold(), value) if isinstance(value, str) else value

    return BeforeValidator(fix)


def exceeds(part: str, whole: str) -> str:
    """The reason a payload is refused when a part is larger than its whole."""
    return f"{part} không được lớn hơn {whole} / {part} must not exceed {whole}"


class Parts(_Strict):
    """A payload whose counts are parts of a total: ``PARTS`` lists (part, whole) pairs."""

    PARTS: ClassVar[tuple[tuple[str, str], ...]] = ()

    @model_validator(mode="after")
    def _parts_within_whole(self) -> Self:
        for part, whole in self.PARTS:
            if getattr(self, part) > getattr(self, whole):
                raise ValueError(exceeds(part, whole))
        return self

    @classmethod
    def exceeding_parts(cls, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The pairs that break the rule in an unvalidated payload (whole numbers only), so a
        refused payload can report this too, not only its first problem."""
        found = []
        for part, whole in cls.PARTS:
            a, b = _whole_number(raw.get(part)), _whole_number(raw.get(whole))
            if a is not None and b is not None and a > b:
                found.append((part, whole))
        return found


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


# --- payloads ---------------------------------------------------------------------------------


class MobileOperator(StrEnum):
    VIETTEL = "Viettel"
    VNPT = "VNPT"
    MOBIFONE = "MobiFone"
    VIETNAMOBILE = "Vietnamobile"
    GMOBILE = "Gmobile"


class Technology(StrEnum):
    G2 = "2G"
    G3 = "3G"
    G4 = "4G"
    G5 = "5G"


class BtsPayload(Parts):
    """Mobile base stations of one operator and technology in a unit, as of ``observed_at``."""

    PARTS: ClassVar[tuple[tuple[str, str], ...]] = (("villages_covered", "villages_total"),)

    operator: Annotated[MobileOperator, _any_case(MobileOperator)]
    technology: Annotated[Technology, _any_case(Technology)]
    sites: NonNegativeInt = Field(le=100_000, description="BTS sites on air / số trạm BTS")
    villages_total: NonNegativeInt = Field(le=100_000, description="villages in the unit / số thôn")
    villages_covered: NonNegativeInt = Field(
        le=100_000, description="villages with mobile signal / số thôn có sóng di động"
    )


class ServiceLevel(StrEnum):
    PARTIAL_ONLINE = "partial_online"  # formerly "level 3"
    FULL_ONLINE = "full_online"  # formerly "level 4"


class PublicServicePayload(Parts):
    """Online public-service dossiers of one service level handled in the period."""

    PARTS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("dossiers_online", "dossiers_total"),
        ("dossiers_processed_online", "dossiers_total"),
        ("paid_online", "dossiers_total"),
    )

    service_level: Annotated[ServiceLevel, _any_case(ServiceLevel)]
    dossiers_total: NonNegativeInt = Field(le=10**9, description="hồ sơ tiếp nhận")
    dossiers_online: NonNegativeInt = Field(le=10**9, description="hồ sơ nộp trực tuyến")
    dossiers_processed_online: NonNegativeInt = Field(
        le=10**9, description="hồ sơ xử lý trực tuyến"
    )
    paid_online: NonNegativeInt = Field(le=10**9, description="hồ sơ thanh toán trực tuyến")


class PaymentChannel(StrEnum):
    QR = "qr"
    CARD = "card"
    BANK_TRANSFER = "bank_transfer"
    E_WALLET = "e_wallet"
    MOBILE_MONEY = "mobile_money"


class CashlessPayload(_Strict):
    """Cashless payments through one channel in the period."""

    channel: Annotated[PaymentChannel, _any_case(PaymentChannel)]
    transactions: NonNegativeInt = Field(le=10**12, description="số giao dịch")
    value_vnd: NonNegativeInt = Field(le=10**16, description="giá trị (đồng)")


class ObservationPayload(_Strict):
    """Any catalogue indicator: ``value`` for a flow or stock, ``numerator``/``denominator``
    for a ratio (the catalogue says which; ingest checks the form against it)."""

    value: float | None = Field(default=None, ge=0, le=1e16, allow_inf_nan=False)
    numerator: float | None = Field(default=None, ge=0, le=1e16, allow_inf_nan=False)
    denominator: float | None = Field(default=None, gt=0, le=1e16, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        has_value = self.value is not None
        has_ratio = self.numerator is not None or self.denominator is not None
        if has_value == has_ratio:
            raise ValueError(
                "gửi value, hoặc numerator và denominator / "
                "give either value, or numerator and denominator"
            )
        if has_ratio and (self.numerator is None or self.denominator is None):
            raise ValueError(
                "tỷ lệ cần cả numerator và denominator / "
                "a ratio needs both numerator and denominator"
            )
        return self


#: Every payload choice by its case-folded spelling.
_CHOICES: Final = {
    c.value.casefold(): c.value
    for choices in (MobileOperator, Technology, ServiceLevel, PaymentChannel)
    for c in choices
}


def canonical_choice(text: str) -> str:
    """A payload choice as the platform spells it ("mobifone" → "MobiFone"); other text as
    given, stripped."""
    return _CHOICES.get(text.strip().casefold(), text.strip())


# --- the envelope ------------------------------------------------------------------------------


class _Envelope(_Strict):
    event_id: UUID = Field(description="set by the sender, or derived from its Idempotency-Key")
    schema_version: Literal[1] = SCHEMA_VERSION
    unit_code: UnitCode
    observed_at: date = Field(description="first day of the period the figure covers")
    granularity: Granularity = Field(description="length of that period")
    received_at: datetime
    source: str = Field(min_length=1, max_length=64, description="data provider id")
    revision: int = Field(default=1, ge=1, le=1_000_000, description="a higher one replaces")

    @model_validator(mode="before")
    @classmethod
    def _granularity_from_observed_at(cls, data: Any) -> Any:
        # Senders write 2024-05, 2024-Q2, ...; the wire form is a date plus a granularity.
        if isinstance(data, dict) and "granularity" not in data and "observed_at" in data:
            try:
                granularity = parse_observed(data["observed_at"])[1]
            except ValueError:
                granularity = Granularity.DAY  # the field validator reports the bad date
            data = {**data, "granularity": granularity}
        return data

    @field_validator("observed_at", mode="before")
    @classmethod
    def _period_start(cls, value: Any) -> Any:
        return parse_observed(value)[0]


class BtsEvent(_Envelope):
    family: Literal[Family.BTS]
    indicator: None = None
    payload: BtsPayload


class PublicServiceEvent(_Envelope):
    family: Literal[Family.PUBLIC_SERVICE]
    indicator: None = None
    payload: PublicServicePayload


class CashlessEvent(_Envelope):
    family: Literal[Family.CASHLESS]
    indicator: None = None
    payload: CashlessPayload


class ObservationEvent(_Envelope):
    family: Literal[Family.OBSERVATION]
    indicator: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$", description="catalogue code")
    payload: ObservationPayload


TelemetryEvent = Annotated[
    BtsEvent | PublicServiceEvent | CashlessEvent | ObservationEvent,
    Field(discriminator="family"),
]
TELEMETRY_ADAPTER: Final[TypeAdapter[TelemetryEvent]] = TypeAdapter(TelemetryEvent)

PAYLOAD_MODELS: Final[dict[Family, type[BaseModel]]] = {
    Family.BTS: BtsPayload,
    Family.PUBLIC_SERVICE: PublicServicePayload,
    Family.CASHLESS: CashlessPayload,
    Family.OBSERVATION: ObservationPayload,
}
EVENT_MODELS: Final[dict[Family, type[_Envelope]]] = {
    Family.BTS: BtsEvent,
    Family.PUBLIC_SERVICE: PublicServiceEvent,
    Family.CASHLESS: CashlessEvent,
    Family.OBSERVATION: ObservationEvent,
}


def decode_telemetry(raw: bytes | str) -> TelemetryEvent:
    """Parse one telemetry message; raises ``pydantic.ValidationError`` on a bad one."""
    return TELEMETRY_ADAPTER.validate_json(raw)


def encode_event(event: BaseModel) -> bytes:
    return event.model_dump_json().encode()


# --- event identity ----------------------------------------------------------------------------

#: What makes an event itself: the provider that sent it and the id it chose. Deduplication keys
#: on both everywhere (ingest's seen store, metrics' processed ids), so one department can never
#: claim, or silence, an id another one used.
EventKey = tuple[str, UUID]
#: Days an event's identity stays remembered once handled, by ingest (published) and metrics
#: (counted): kept in monthly partitions (``db.partitions.keep_window``), so a month is
#: forgotten once all its days are older than this. Longer than Kafka's 7-day retention (a
#: replay of the whole topic is still deduplicated) and a month of a department's resends.
DEDUP_WINDOW_DAYS: Final = 35
#: What a figure says, leaving out when it arrived and who/which id sent it.
_CONTENT_EXCLUDE: Final = frozenset({"event_id", "received_at", "source"})


class Identified(Protocol):
    """Anything that carries an event's identity (a decoded event of either decoder)."""

    @property
    def source(self) -> str: ...

    @property
    def event_id(self) -> UUID: ...


def event_key(event: Identified) -> EventKey:
    return (event.source, event.event_id)


def content_sha256(event: TelemetryEvent) -> bytes:
    """A digest of what the event says (unit, period, revision, payload…), equal for a re-send
    of the same figure, different for a changed one under the same id."""
    body = event.model_dump_json(exclude=set(_CONTENT_EXCLUDE)).encode()
    return hashlib.sha256(body).digest()


# --- downstream events -------------------------------------------------------------------------


class AggregationLevel(StrEnum):
    COMMUNE = "commune"
    DISTRICT = "district"
    PROVINCE = "province"


class MetricUpdated(_Strict):
    """One committed change of an aggregate: an item of ``MetricUpdates``."""

    indicator: str = Field(
        description="catalogue indicator code, e.g. dossiers_processed_online_rate"
    )
    unit_code: UnitCode = Field(
        description="the aggregate's unit: province, district or commune code"
    )
    level: AggregationLevel = Field(description="the unit's level in the aggregation")
    granularity: Granularity = Field(description="the period's length")
    period: str = Field(description="2024-05-31, 2024-05, 2024-Q2 or 2024")
    period_start: date = Field(description="the period's first day (Vietnam time)")
    value: float | None = Field(
        description="the value people see (a ratio × its scale, e.g. percent); null when "
        "undefined (a ratio over zero)"
    )
    previous_value: float | None = Field(description="the value before this change; null at first")
    numerator: float | None = Field(default=None, description="a ratio's summed numerator")
    denominator: float | None = Field(default=None, description="a ratio's summed denominator")
    version: int = Field(ge=1, description="increases with every change of this aggregate")
    updated_at: datetime = Field(description="when the change was committed")


#: Updates per ``MetricUpdates`` record at most (≈ 0.3 MB, well under Kafka's 1 MB default);
#: a producer splits above it.
MAX_METRIC_UPDATES: Final = 1000


class MetricUpdates(_Strict):
    """On ``ioc.metrics.updated.v2``: the changes of one unit's aggregates from one committed
    batch, in the order they were made; the record's key is that unit's code. A batch that
    changed more of the unit's aggregates than one record holds writes several, in order."""

    updates: list[MetricUpdated] = Field(
        min_length=1,
        max_length=MAX_METRIC_UPDATES,
        description="the changes, oldest first; all of one unit, the record's key",
    )

    @model_validator(mode="after")
    def _one_unit(self) -> Self:
        if len({u.unit_code for u in self.updates}) > 1:
            raise ValueError("a record's updates are all of one unit")
        return self


def join_metric_updates(items: Sequence[bytes]) -> bytes:
    """One ``MetricUpdates`` record's bytes from its items' JSON (each what
    ``MetricUpdated.model_dump_json`` writes): byte for byte what the model writes for them."""
    return b'{"updates":[' + b",".join(items) + b"]}"


def encode_metric_updates(updates: Sequence[MetricUpdated]) -> bytes:
    """One ``MetricUpdates`` record's bytes (1 to ``MAX_METRIC_UPDATES`` updates)."""
    if not 1 <= len(updates) <= MAX_METRIC_UPDATES:
        raise ValueError(f"a MetricUpdates record holds 1 to {MAX_METRIC_UPDATES} updates")
    return join_metric_updates([u.model_dump_json().encode() for u in updates])


class AlertSeverity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class AlertState(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertChanged(_Strict):
    """On ``ioc.alerts.v1`` for every state or severity change of an alert."""

    alert_id: UUID = Field(description="the alert; stays the same through its lifecycle")
    fingerprint: str = Field(
        description="rule:indicator:unit_code, e.g. lagging:bts_sites:071; one open alert at most"
    )
    rule: str = Field(description="lagging (behind the target's trajectory) or missing_data")
    indicator: str = Field(description="catalogue indicator code")
    unit_code: UnitCode = Field(description="the lagging or silent unit")
    pillar: str = Field(description="the indicator's pillar, e.g. digital_government")
    state: AlertState = Field(description="firing → acknowledged → resolved")
    severity: AlertSeverity
    summary_vi: str = Field(description="one sentence for people, in Vietnamese")
    summary_en: str = Field(description="the same in English")
    changed_at: datetime = Field(description="when this change happened")
    actor: str | None = Field(
        default=None, description="the operator who acted; null for the service's own changes"
    )
    version: int = Field(ge=1, description="increases with every change of this alert")


class DeadLetter(_Strict):
    """On ``ioc.dlq.v1``: a message a consumer could not process, with why and its bytes."""

    topic: str = Field(description="where the message was read")
    partition: int = Field(description="its partition there")
    offset: int = Field(description="its offset there")
    key: str | None = Field(description="its key (the district code for telemetry)")
    reason: str = Field(description="a short code, e.g. undecodable, schema_invalid, unknown_unit")
    detail: str = Field(description="what exactly was wrong, for the person fixing the sender")
    original_b64: str = Field(description="the message's original bytes, base64")
    consumer: str = Field(description="the consumer group that gave up on it")
    failed_at: datetime = Field(description="when it was set aside")
