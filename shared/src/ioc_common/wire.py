"""Telemetry as it travels on the topics, decoded fast.

Ingest writes every event through the pydantic models (``events.encode_event``), so a topic's
records share one canonical form: ``observed_at`` a full date beside its ``granularity``,
choices spelled as the platform spells them, numbers as JSON numbers. msgspec decodes that form
in a fraction of pydantic's time (≈ 1 µs against ≈ 7 µs an event), which is most of what a
consumer of thousands of events a second spends before its own work.

The contract stays pydantic's. :func:`decode_wire` accepts a *subset* of what
``events.decode_telemetry`` accepts, with the same values; anything else — another spelling
pydantic would mend, a rule only pydantic checks, a refusal whose reason must be pydantic's —
goes to ``decode_telemetry``, which accepts it or raises ``pydantic.ValidationError`` as
before. ``shared/tests/test_wire_decoding.py`` holds the two to that, on generated input.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, ClassVar, Final, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from ioc_common.events import (
    SCHEMA_VERSION,
    Family,
    MobileOperator,
    PaymentChannel,
    ServiceLevel,
    Technology,
    TelemetryEvent,
    decode_telemetry,
)
from ioc_common.timeutil import Granularity

_Amount = Annotated[float, Meta(ge=0, le=1e16)]


class _Payload(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    #: (part, whole) pairs: a part above its whole is pydantic's to refuse, with its reason.
    PARTS: ClassVar[tuple[tuple[str, str], ...]] = ()

    def sound(self) -> bool:
        return all(getattr(self, part) <= getattr(self, whole) for part, whole in self.PARTS)


class BtsWirePayload(_Payload, frozen=True):
    PARTS: ClassVar[tuple[tuple[str, str], ...]] = (("villages_covered", "villages_total"),)

    operator: MobileOperator
    technology: Technology
    sites: Annotated[int, Meta(ge=0, le=100_000)]
    villages_total: Annotated[int, Meta(ge=0, le=100_000)]
    villages_covered: Annotated[int, Meta(ge=0, le=100_000)]


class PublicServiceWirePayload(_Payload, frozen=True):
    PARTS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("dossiers_online", "dossiers_total"),
        ("dossiers_processed_online", "dossiers_total"),
        ("paid_online", "dossiers_total"),
    )

    service_level: ServiceLevel
    dossiers_total: Annotated[int, Meta(ge=0, le=10**9)]
    dossiers_online: Annotated[int, Meta(ge=0, le=10**9)]
    dossiers_processed_online: Annotated[int, Meta(ge=0, le=10**9)]
    paid_online: Annotated[int, Meta(ge=0, le=10**9)]


class CashlessWirePayload(_Payload, frozen=True):
    channel: PaymentChannel
    transactions: Annotated[int, Meta(ge=0, le=10**12)]
    value_vnd: Annotated[int, Meta(ge=0, le=10**16)]


class ObservationWirePayload(_Payload, frozen=True):
    value: _Amount | None = None
    numerator: _Amount | None = None
    denominator: Annotated[float, Meta(gt=0, le=1e16)] | None = None

    def sound(self) -> bool:
        # Exactly one form, complete: anything else is pydantic's to refuse.
        if self.value is not None:
            return self.numerator is None and self.denominator is None
        return self.numerator is not None and self.denominator is not None


class _WireEvent(
    msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True, tag_field="family"
):
    family: ClassVar[Family]
    event_id: UUID
    schema_version: Literal[1] = SCHEMA_VERSION
    unit_code: str
    observed_at: date
    granularity: Granularity
    received_at: datetime
    source: Annotated[str, Meta(min_length=1, max_length=64)]
    revision: Annotated[int, Meta(ge=1, le=1_000_000)] = 1


class BtsWireEvent(_WireEvent, tag=Family.BTS.value, frozen=True, kw_only=True):
    family: ClassVar[Family] = Family.BTS
    indicator: None = None
    payload: BtsWirePayload


class PublicServiceWireEvent(
    _WireEvent, tag=Family.PUBLIC_SERVICE.value, frozen=True, kw_only=True
):
    family: ClassVar[Family] = Family.PUBLIC_SERVICE
    indicator: None = None
    payload: PublicServiceWirePayload


class CashlessWireEvent(_WireEvent, tag=Family.CASHLESS.value, frozen=True, kw_only=True):
    family: ClassVar[Family] = Family.CASHLESS
    indicator: None = None
    payload: CashlessWirePayload


class ObservationWireEvent(_WireEvent, tag=Family.OBSERVATION.value, frozen=True, kw_only=True):
    family: ClassVar[Family] = Family.OBSERVATION
    indicator: str
    payload: ObservationWirePayload


WireEvent = BtsWireEvent | PublicServiceWireEvent | CashlessWireEvent | ObservationWireEvent
#: An event from either decoder: the same attribute names, types and values.
AnyTelemetry = TelemetryEvent | WireEvent

_DECODER: Final = msgspec.json.Decoder(WireEvent)
#: ``events.UnitCode`` and the indicator pattern, written for Python's ``fullmatch`` (ASCII
#: digits only: pydantic's ``\d`` also takes other scripts' digits — those go to pydantic).
_UNIT_CODE: Final = re.compile(r"[0-9]{2}|[0-9]{3}|[0-9]{5}")
_INDICATOR: Final = re.compile(r"[a-z][a-z0-9_]{1,63}")


def decode_fast(raw: bytes | str) -> WireEvent | None:
    """The event when it is in the canonical form and passes every rule; None otherwise."""
    try:
        event = _DECODER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if _UNIT_CODE.fullmatch(event.unit_code) is None or not event.payload.sound():
        return None
    if isinstance(event, ObservationWireEvent) and _INDICATOR.fullmatch(event.indicator) is None:
        return None
    return event


def decode_wire(raw: bytes | str) -> AnyTelemetry:
    """One telemetry record: fast when canonical, else through the pydantic contract (which
    raises ``pydantic.ValidationError`` on a bad one, as ``decode_telemetry`` does)."""
    fast = decode_fast(raw)
    return fast if fast is not None else decode_telemetry(raw)
