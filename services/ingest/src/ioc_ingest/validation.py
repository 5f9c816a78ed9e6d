"""From what a department sends to the wire event: one validation path for every endpoint.

The submission ``{event_id?, family, indicator?, unit_code, observed_at, revision?, backfill?,
payload}`` is completed with ``received_at`` and ``source`` and validated by the shared
``TELEMETRY_ADAPTER``; then the rules that need reference data or the clock: the unit exists
at the right level on the period's first day, the period is not in the future, old periods are
flagged as backfill, and an observation names a catalogue indicator in the right form.

Most submissions come in the plain form the API documents (exact family and choice spellings,
JSON integers, a UUID string, a period ``parse_observed`` reads, no platform field). Those
take a fast path: read with plain checks and msgspec, the same rules applied, and the record's
bytes and content digest written directly — byte for byte what ``encode_event`` and
``content_sha256`` write for the pydantic event. Anything else, and every refusal, goes through
pydantic as before, so every answer and reason stays the model's.
``tests/test_ingest_fast_path.py`` holds the two paths to the same results.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Final
from uuid import UUID

import msgspec
from msgspec import Meta
from pydantic import TypeAdapter, ValidationError

from ioc_common.catalogue import (
    AggregationKind,
    Catalogue,
    Indicator,
    UnknownIndicatorError,
    load_catalogue,
)
from ioc_common.catalogue import Unit as MeasureUnit
from ioc_common.errors import FieldError
from ioc_common.events import (
    PAYLOAD_MODELS,
    TELEMETRY_ADAPTER,
    Family,
    ObservationEvent,
    Parts,
    content_sha256,
    encode_event,
    exceeds,
)
from ioc_common.reference.units import (
    REFORM_DATE,
    Level,
    UnitLink,
    UnitTree,
    UnknownUnitError,
    unit_history,
    unit_tree,
)
from ioc_common.timeutil import VIETNAM_TZ, Granularity, parse_observed, utc_now
from ioc_common.topics import telemetry_topic
from ioc_common.wire import (
    UNIT_CODE,
    AnyTelemetry,
    BtsWireEvent,
    BtsWirePayload,
    CashlessWireEvent,
    CashlessWirePayload,
    PublicServiceWireEvent,
    PublicServiceWirePayload,
    WireEvent,
)
from ioc_ingest.reasons import reason

#: Fixed forever: derived event ids must stay the same across releases.
EVENT_ID_NAMESPACE: Final = uuid.UUID("dbfcd4e1-4cd6-41af-b5c0-f9f346b09884")
#: Fields the platform sets; a sender may not.
PLATFORM_FIELDS: Final = ("received_at", "source", "granularity", "schema_version")
FAMILIES: Final = tuple(f.value for f in Family)
MAX_IDEMPOTENCY_KEY: Final = 255
#: Stands in for a missing id while the rest of the submission is checked.
NO_ID: Final = uuid.UUID(int=0)

_EXCEEDS = re.compile(r"^Value error, \w+ không được lớn hơn \w+ / ")
_TOPICS: Final = {f: telemetry_topic(f) for f in Family}
#: (unit, day) answers kept by a validator before it starts afresh.
_UNIT_CACHE: Final = 65_536

# --- the plain form (the fast path) ------------------------------------------------------------


class _PlainItem(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="family"):
    """A submission in the plain form: the fields a sender may write, typed as JSON writes
    them, bounded as the models bound them (the unit code's pattern is checked after)."""

    event_id: UUID | None = None
    indicator: None = None
    unit_code: str
    observed_at: str
    revision: Annotated[int, Meta(ge=1, le=1_000_000)] = 1
    backfill: bool = False
    idempotency_key: Annotated[str, Meta(min_length=1, max_length=MAX_IDEMPOTENCY_KEY)] | None = (
        None
    )


class _PlainBts(_PlainItem, tag=Family.BTS.value, kw_only=True):
    payload: BtsWirePayload


class _PlainPublicService(_PlainItem, tag=Family.PUBLIC_SERVICE.value, kw_only=True):
    payload: PublicServiceWirePayload


class _PlainCashless(_PlainItem, tag=Family.CASHLESS.value, kw_only=True):
    payload: CashlessWirePayload


_PlainForm = _PlainBts | _PlainPublicService | _PlainCashless
#: By family, the plain form and the event it describes. An observation is not read here (the
#: catalogue's checks on its floats are pydantic's path's); msgspec's own tagged-union lookup
#: from a dict costs more than this one.
_PLAIN_FAMILIES: Final[dict[str, tuple[type[_PlainForm], Callable[..., WireEvent]]]] = {
    Family.BTS.value: (_PlainBts, BtsWireEvent),
    Family.PUBLIC_SERVICE.value: (_PlainPublicService, PublicServiceWireEvent),
    Family.CASHLESS.value: (_PlainCashless, CashlessWireEvent),
}


class _Record(msgspec.Struct):
    """The record as ``encode_event`` writes it: the models' fields in their order."""

    event_id: UUID
    schema_version: int
    unit_code: str
    observed_at: date
    granularity: Granularity
    #: ``received_at`` and ``source`` as pydantic writes them (one pair per request).
    received_at: msgspec.Raw
    source: msgspec.Raw
    revision: int
    family: Family
    indicator: None
    #: A plain family's: integers and choices (an observation's floats never come this way).
    payload: msgspec.Struct


class _Content(msgspec.Struct):
    """What ``content_sha256`` digests: the record without id, arrival and source."""

    schema_version: int
    unit_code: str
    observed_at: date
    granularity: Granularity
    revision: int
    family: Family
    indicator: None
    payload: msgspec.Struct


_ENCODER: Final = msgspec.json.Encoder()
_DATETIME_JSON: Final = TypeAdapter(datetime)
_STR_JSON: Final = TypeAdapter(str)


def derive_event_id(provider: str, idempotency_key: str) -> uuid.UUID:
    """The event id of a submission that came with an idempotency key instead of an id.

    Anyone can compute it, and that is harmless: an event's identity is (provider, event_id)
    (``ioc_common.events.EventKey``), so the same id from another provider is another event."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{provider}:{idempotency_key}")


@dataclass(frozen=True, slots=True)
class Checked:
    """A valid event, ready to publish."""

    event: AnyTelemetry
    topic: str
    key: str
    #: Written by the fast path (else None): the record's bytes and its content digest, what
    #: ``encode_event`` and ``content_sha256`` give for the pydantic event.
    value: bytes | None = None
    digest: bytes | None = None

    def record_value(self) -> bytes:
        if self.value is not None:
            return self.value
        assert not isinstance(self.event, msgspec.Struct)  # the fast path always writes it
        return encode_event(self.event)

    def content_digest(self) -> bytes:
        if self.digest is not None:
            return self.digest
        assert not isinstance(self.event, msgspec.Struct)
        return content_sha256(self.event)


@dataclass(frozen=True, slots=True)
class Rejection:
    errors: list[FieldError]
    #: The metrics label: schema, event_id, unit, future, backfill, catalogue, scope.
    reason: str
    code: str = "invalid_input"
    event_id: uuid.UUID | None = None
    family: str | None = None


@dataclass
class _Problems:
    errors: list[FieldError] = field(default_factory=list)
    reason: str | None = None

    def add(self, reason: str, field_name: str, text: str) -> None:
        self.errors.append(FieldError(field_name, text))
        self.reason = self.reason or reason


def _pydantic_errors(exc: ValidationError, problems: _Problems) -> set[str]:
    """The model's errors in both languages; returns the fields at fault."""
    bad_fields = set()
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(err["loc"])
        kind = err["type"]
        if kind in ("union_tag_not_found", "union_tag_invalid"):
            problems.add("schema", "family", reason(err, "family"))
            bad_fields.add("family")
            continue
        if loc and loc[0] in FAMILIES:
            loc = loc[1:]  # the union tag is not a field the sender wrote
        name = ".".join(str(p) for p in loc) or "body"
        if name == "payload" and kind == "value_error" and _EXCEEDS.match(str(err["msg"])):
            continue  # reported below with every other part larger than its whole
        bad_fields.add(name)
        problems.add("schema", name, reason(err, name))
    # granularity is derived from observed_at; its own error would only repeat that one.
    problems.errors = [e for e in problems.errors if e.field != "granularity"]
    return bad_fields


def _parts_problems(data: Mapping[str, Any], family: str | None, problems: _Problems) -> None:
    """Every part larger than its whole (``villages_covered`` > ``villages_total``…), also
    when other fields of the payload were refused (the model then never compares them)."""
    payload = data.get("payload")
    model = PAYLOAD_MODELS.get(Family(family)) if family else None
    if not isinstance(payload, Mapping) or model is None or not issubclass(model, Parts):
        return
    for part, whole in model.exceeding_parts(payload):
        problems.add("schema", f"payload.{part}", exceeds(part, whole))


def _read_plain(
    raw: object,
    provider: str,
    received_at: datetime,
    idempotency_key: str | None,
    item_keys: bool,
) -> tuple[WireEvent, bool] | None:
    """The event of a plain submission, with its backfill flag; None when it is not plain or
    a field is refused (pydantic's to read or refuse). The values are the ones pydantic would
    give: the period through the same ``parse_observed``, the payload through the contract's
    msgspec structs (exact choices, JSON integers, the same bounds, parts within their whole)."""
    if type(raw) is not dict:
        return None
    family = raw.get("family")
    types = _PLAIN_FAMILIES.get(family) if type(family) is str else None
    if types is None or (not item_keys and "idempotency_key" in raw):
        return None
    try:
        item = msgspec.convert(raw, types[0])
        start, granularity = parse_observed(item.observed_at)
    except (msgspec.ValidationError, ValueError, OverflowError, TypeError):
        return None
    if (
        UNIT_CODE.fullmatch(item.unit_code) is None
        or not item.payload.sound()
        or not 1 <= len(provider) <= 64
    ):
        return None
    event_id = item.event_id
    if event_id is None:
        key = item.idempotency_key or idempotency_key
        if key is None:
            return None
        event_id = derive_event_id(provider, key)
    event = types[1](
        event_id=event_id,
        unit_code=item.unit_code,
        observed_at=start,
        granularity=granularity,
        received_at=received_at,
        source=provider,
        revision=item.revision,
        payload=item.payload,
    )
    return event, item.backfill


def _write_plain(
    event: WireEvent, received_at: msgspec.Raw, source: msgspec.Raw
) -> tuple[bytes, bytes]:
    """The record's bytes and its content digest, byte for byte what ``encode_event`` and
    ``content_sha256`` write for the pydantic event of the same values."""
    record = _Record(
        event.event_id,
        event.schema_version,
        event.unit_code,
        event.observed_at,
        event.granularity,
        received_at,
        source,
        event.revision,
        event.family,
        None,
        event.payload,
    )
    content = _Content(
        event.schema_version,
        event.unit_code,
        event.observed_at,
        event.granularity,
        event.revision,
        event.family,
        None,
        event.payload,
    )
    return _ENCODER.encode(record), hashlib.sha256(_ENCODER.encode(content)).digest()


def _links(links: tuple[UnitLink, ...]) -> tuple[str, str]:
    """``00691 Phường Hà Giang 2 (một phần / part)``, … in Vietnamese and English."""
    vi = ", ".join(f"{u.code} {u.name}{' (một phần)' if u.is_split else ''}" for u in links)
    en = ", ".join(f"{u.code} {u.name}{' (part of it)' if u.is_split else ''}" for u in links)
    return vi, en


def _across_the_reform(code: str, on: date, tree: UnitTree) -> str | None:
    """Why a code valid on the other side of 1 July 2025 is refused, naming what replaced it
    (a legacy code, post-reform period) or what it replaced (a 2025 code, earlier period)."""
    try:
        history = unit_history(code, tree)
    except (UnknownUnitError, ValueError):
        return None
    side = [v for v in history.versions if (v.unit.valid_from >= REFORM_DATE) == (on < REFORM_DATE)]
    if not side:
        return None
    version = side[0]
    name = f"{version.unit.name} ({code})"
    if on >= REFORM_DATE:
        vi, en = _links(version.successors)
        if version.unit.level is Level.DISTRICT:
            text = (
                f"cấp huyện đã bãi bỏ từ {REFORM_DATE:%d/%m/%Y}: {name} nay thuộc {vi}; gửi theo "
                f"mã xã hoặc mã tỉnh / districts were abolished on {REFORM_DATE}: {name} "
                f"is a former district, now in {en}; report periods from then on by commune or "
                "province code"
            )
        else:
            text = (
                f"{name} không còn từ {REFORM_DATE:%d/%m/%Y}; thay bằng {vi} / {name} ceased to "
                f"exist on {REFORM_DATE}; replaced by {en}: report periods from then on by the "
                "new code"
            )
    else:
        vi, en = _links(version.predecessors)
        text = (
            f"{name} chỉ có từ {REFORM_DATE:%d/%m/%Y}; trước đó là {vi} / {name} exists only "
            f"from {REFORM_DATE}; before it, report by the former units: {en}"
        )
    return text


class EventValidator:
    def __init__(
        self,
        *,
        future_skew: timedelta,
        backfill_after: timedelta,
        catalogue: Catalogue | None = None,
        tree: UnitTree | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.future_skew = future_skew
        self.backfill_after = backfill_after
        self.catalogue = catalogue or load_catalogue()
        self.tree = tree or unit_tree()
        self.now = now
        self._units: dict[tuple[str, date], tuple[bool, str | None]] = {}
        self._last_stamp: tuple[datetime, str, tuple[msgspec.Raw, msgspec.Raw]] | None = None

    def build(
        self,
        raw: object,
        *,
        provider: str,
        received_at: datetime,
        idempotency_key: str | None = None,
        item_keys: bool = False,
        now: datetime | None = None,
    ) -> Checked | Rejection:
        """Validate one submission; ``item_keys`` lets it carry its own ``idempotency_key``.

        ``now``: the clock reading to judge the period by (a batch reads the clock once, not
        once per event); by default the validator's clock."""
        clock = now or self.now()
        fast = self.build_fast(
            raw,
            provider=provider,
            received_at=received_at,
            idempotency_key=idempotency_key,
            item_keys=item_keys,
            now=clock,
        )
        if fast is not None:
            return fast
        return self.build_slow(
            raw,
            provider=provider,
            received_at=received_at,
            idempotency_key=idempotency_key,
            item_keys=item_keys,
            now=clock,
        )

    def build_fast(
        self,
        raw: object,
        *,
        provider: str,
        received_at: datetime,
        idempotency_key: str | None = None,
        item_keys: bool = False,
        now: datetime | None = None,
    ) -> Checked | None:
        """A plain, valid submission as ``build_slow`` would accept it, its record already
        written; None for anything else (``build_slow`` then accepts it or says why)."""
        plain = _read_plain(raw, provider, received_at, idempotency_key, item_keys)
        if plain is None:
            return None
        event, backfill = plain
        exists, district = self._unit(event.unit_code, event.observed_at)
        if not exists:
            return None
        problems = _Problems()
        self._check_period(event.observed_at, backfill, problems, now or self.now())
        if problems.errors:
            return None
        value, digest = _write_plain(event, *self._stamp(received_at, provider))
        return Checked(event, _TOPICS[event.family], district or event.unit_code, value, digest)

    def _stamp(self, received_at: datetime, provider: str) -> tuple[msgspec.Raw, msgspec.Raw]:
        """``received_at`` and ``source`` as pydantic writes them: the same for a whole
        request, so written once for it."""
        last = self._last_stamp
        if last is None or last[0] is not received_at or last[1] != provider:
            written = (
                msgspec.Raw(_DATETIME_JSON.dump_json(received_at)),
                msgspec.Raw(_STR_JSON.dump_json(provider)),
            )
            last = self._last_stamp = (received_at, provider, written)
        return last[2]

    def build_slow(
        self,
        raw: object,
        *,
        provider: str,
        received_at: datetime,
        idempotency_key: str | None = None,
        item_keys: bool = False,
        now: datetime | None = None,
    ) -> Checked | Rejection:
        """``build`` through the pydantic models: any submission, every reason a refused one
        has."""
        if isinstance(raw, Rejection):
            return raw  # refused before validation (a malformed CSV row)
        problems = _Problems()
        if not isinstance(raw, Mapping):
            problems.add("schema", "body", "phải là một đối tượng JSON / must be a JSON object")
            return Rejection(problems.errors, "schema")
        data: dict[str, Any] = dict(raw)
        family = data.get("family") if data.get("family") in FAMILIES else None

        backfill = data.pop("backfill", False)
        if not isinstance(backfill, bool):
            problems.add("schema", "backfill", "phải là true hoặc false / must be true or false")
            backfill = False
        item_key = data.pop("idempotency_key", None) if item_keys else None
        if item_key is not None and (
            not isinstance(item_key, str) or not 1 <= len(item_key) <= MAX_IDEMPOTENCY_KEY
        ):
            problems.add(
                "event_id",
                "idempotency_key",
                "phải là chuỗi 1-255 ký tự / must be a string of 1-255 characters",
            )
            item_key = None
        for name in PLATFORM_FIELDS:
            if name in data:
                problems.add(
                    "schema", name, "do nền tảng điền, không được gửi / set by the platform"
                )
                del data[name]

        if data.get("event_id") is None:
            key = item_key or idempotency_key
            if key is None:
                hint = (
                    ("event_id hoặc idempotency_key", "event_id or idempotency_key")
                    if item_keys
                    else (
                        "event_id hoặc tiêu đề Idempotency-Key",
                        "event_id or an Idempotency-Key header",
                    )
                )
                problems.add(
                    "event_id", "event_id", f"bắt buộc: gửi {hint[0]} / required: give {hint[1]}"
                )
                data["event_id"] = NO_ID  # keep validating the rest
            else:
                data["event_id"] = derive_event_id(provider, key)

        period_known = "observed_at" in data
        if period_known:
            try:
                start, granularity = parse_observed(data["observed_at"])
            except (OverflowError, TypeError):
                # Dates at the edge of the calendar: report here, as the parser would crash.
                problems.add("schema", "observed_at", "ngày ngoài phạm vi lịch / date out of range")
                data["observed_at"] = "2000-01-01"  # keep validating the rest
                period_known = False
            except ValueError:
                pass  # the model reports it with its own reason
            else:
                # Parsed once: the envelope keeps a given granularity and a date as they are
                # (otherwise both of its validators would parse the string again).
                data["observed_at"], data["granularity"] = start, granularity

        data["received_at"] = received_at
        data["source"] = provider
        clock = now or self.now()
        try:
            event = TELEMETRY_ADAPTER.validate_python(data)
        except ValidationError as exc:
            # Every problem at once: the model's, then the rules that need reference data on
            # whichever of their fields were valid by themselves.
            bad = _pydantic_errors(exc, problems)
            _parts_problems(data, family, problems)
            code, first_day = data.get("unit_code"), data.get("observed_at")
            if period_known and isinstance(first_day, date) and "observed_at" not in bad:
                if isinstance(code, str) and "unit_code" not in bad:
                    self._check_unit(code, first_day, problems)
                self._check_period(first_day, backfill, problems, clock)
            indicator = data.get("indicator")
            if (
                family == Family.OBSERVATION
                and isinstance(indicator, str)
                and "indicator" not in bad
            ):
                self._catalogue_indicator(indicator, problems)
            if not problems.errors:  # pragma: no cover - pydantic always names at least one
                problems.add("schema", "body", "sự kiện không hợp lệ / invalid event")
            return Rejection(problems.errors, problems.reason or "schema", family=family)

        if period_known:
            self._check_unit(event.unit_code, event.observed_at, problems)
            self._check_period(event.observed_at, backfill, problems, clock)
        if isinstance(event, ObservationEvent):
            self._check_indicator(event, problems)
        if problems.errors:
            return Rejection(
                problems.errors,
                problems.reason or "schema",
                event_id=None if event.event_id == NO_ID else event.event_id,
                family=event.family.value,
            )
        district = self._unit(event.unit_code, event.observed_at)[1]
        return Checked(event, _TOPICS[event.family], district or event.unit_code)

    # --- rules that need reference data or the clock

    def _unit(self, code: str, on: date) -> tuple[bool, str | None]:
        """Whether the unit exists on that day, and its district (the Kafka key).

        The tree is immutable reference data and a batch repeats the same few (unit, period)
        pairs, so the answers are kept (bounded)."""
        key = (code, on)
        found = self._units.get(key)
        if found is None:
            exists = self.tree.get(code, on) is not None
            found = (exists, self.tree.district_of(code, on) if exists else None)
            if len(self._units) >= _UNIT_CACHE:
                self._units.clear()
            self._units[key] = found
        return found

    def _check_unit(self, code: str, on: date, problems: _Problems) -> None:
        if self._unit(code, on)[0]:
            return
        moved = _across_the_reform(code, on, self.tree)
        if moved is not None:
            problems.add("unit", "unit_code", moved)
            return
        problems.add(
            "unit",
            "unit_code",
            f"không có đơn vị hành chính mã {code} vào ngày {on:%d/%m/%Y} / "
            f"no administrative unit {code} exists on {on} (the period's first day)",
        )

    def _check_period(
        self, observed_at: date, backfill: bool, problems: _Problems, clock: datetime
    ) -> None:
        now = clock.astimezone(VIETNAM_TZ)
        start = datetime.combine(observed_at, time.min, VIETNAM_TZ)
        if start > now + self.future_skew:
            problems.add(
                "future",
                "observed_at",
                f"kỳ báo cáo bắt đầu {observed_at} ở tương lai / "
                f"the period starts {observed_at}, in the future",
            )
            return
        oldest: date = (now - self.backfill_after).date()
        if observed_at < oldest and not backfill:
            problems.add(
                "backfill",
                "observed_at",
                f"kỳ báo cáo trước {oldest}: đặt backfill: true nếu cố ý gửi bù số liệu cũ / "
                f"the period starts before {oldest}: set backfill: true to send old data on "
                "purpose",
            )

    def _catalogue_indicator(self, code: str, problems: _Problems) -> Indicator | None:
        try:
            return self.catalogue.require(code)
        except UnknownIndicatorError as exc:
            problems.add(
                "catalogue",
                "indicator",
                f"chỉ tiêu {code!r} không có trong danh mục (GET /v1/families) / {exc.message}",
            )
            return None

    def _check_indicator(self, event: ObservationEvent, problems: _Problems) -> None:
        indicator = self._catalogue_indicator(event.indicator, problems)
        if indicator is None:
            return
        payload = event.payload
        if indicator.kind is AggregationKind.RATIO:
            if payload.numerator is None or payload.denominator is None:
                problems.add(
                    "catalogue",
                    "payload",
                    f"{indicator.code} là tỷ lệ: gửi numerator và denominator / "
                    f"{indicator.code} is a ratio: send numerator and denominator, not value",
                )
            elif indicator.unit is MeasureUnit.PERCENT and payload.numerator > payload.denominator:
                problems.add(
                    "catalogue",
                    "payload.numerator",
                    "tử số không được lớn hơn mẫu số / numerator must not exceed denominator "
                    f"({indicator.code} is a share)",
                )
        elif payload.value is None:
            problems.add(
                "catalogue",
                "payload",
                f"{indicator.code} là chỉ tiêu {indicator.kind.value}: gửi value / "
                f"{indicator.code} is a {indicator.kind.value}: send value, not a ratio",
            )
