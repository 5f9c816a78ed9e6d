"""The fast decoders of the topics' telemetry and metric updates agree with the pydantic
contract: whatever they accept, pydantic accepts with the same values; whatever they do not,
goes to pydantic."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ioc_common.events import (
    EVENT_MODELS,
    Family,
    MetricUpdated,
    MetricUpdates,
    decode_telemetry,
    encode_event,
    encode_metric_updates,
    event_key,
)
from ioc_common.wire import (
    decode_fast,
    decode_metric_updates,
    decode_metric_updates_fast,
    decode_wire,
    metric_update_of,
)

_PAYLOADS: dict[Family, st.SearchStrategy[dict[str, Any]]] = {
    Family.BTS: st.fixed_dictionaries(
        {
            "operator": st.sampled_from(["Viettel", "VNPT", "MobiFone", "Vietnamobile", "Gmobile"]),
            "technology": st.sampled_from(["2G", "3G", "4G", "5G"]),
            "sites": st.integers(0, 100_000),
            "villages_total": st.integers(0, 100_000),
            "villages_covered": st.integers(0, 100_000),
        }
    ),
    Family.PUBLIC_SERVICE: st.fixed_dictionaries(
        {
            "service_level": st.sampled_from(["partial_online", "full_online"]),
            "dossiers_total": st.integers(0, 10**9),
            "dossiers_online": st.integers(0, 10**9),
            "dossiers_processed_online": st.integers(0, 10**9),
            "paid_online": st.integers(0, 10**9),
        }
    ),
    Family.CASHLESS: st.fixed_dictionaries(
        {
            "channel": st.sampled_from(["qr", "card", "bank_transfer", "e_wallet", "mobile_money"]),
            "transactions": st.integers(0, 10**12),
            "value_vnd": st.integers(0, 10**16),
        }
    ),
    Family.OBSERVATION: st.one_of(
        st.fixed_dictionaries({"value": st.floats(0, 1e16) | st.integers(0, 10**16)}),
        st.fixed_dictionaries(
            {"numerator": st.floats(0, 1e16), "denominator": st.floats(1e-9, 1e16)}
        ),
    ),
}

_ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=7))])


@st.composite
def canonical_events(draw: st.DrawFn) -> dict[str, Any]:
    family = draw(st.sampled_from(list(Family)))
    moment = draw(st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1)))
    zone = draw(_ZONES)
    if zone is not None:
        moment = moment.replace(tzinfo=zone)
    event: dict[str, Any] = {
        "event_id": str(draw(st.uuids())),
        "schema_version": 1,
        "unit_code": draw(st.sampled_from(["08", "071", "02233", "99999", "7"])),
        "observed_at": draw(st.dates(date(1990, 1, 1), date(2100, 1, 1))).isoformat(),
        "granularity": draw(st.sampled_from(["day", "month", "quarter", "year"])),
        "received_at": moment.isoformat(),
        "source": draw(st.sampled_from(["so-tttt", "bank-a", "x" * 64, "x" * 65, ""])),
        "revision": draw(st.integers(0, 1_000_001)),
        "family": family.value,
        "payload": draw(_PAYLOADS[family]),
    }
    if family is Family.OBSERVATION:
        event["indicator"] = draw(st.sampled_from(["bts_sites", "cashless_value_vnd", "X1"]))
    return event


def _texts(event: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in event["payload"].items() if isinstance(v, str)]


#: Spellings and values pydantic reads differently from (or more leniently than) JSON's own.
_MUTATIONS = [
    lambda e: e["payload"].update({k: str(v) for k, v in list(e["payload"].items())[-1:]}),
    lambda e: e["payload"].update({k: v.lower() for k, v in _texts(e)}),
    lambda e: e["payload"].update({k: f" {v} " for k, v in _texts(e)}),
    lambda e: e["payload"].update({k: True for k in list(e["payload"])[-1:]}),
    lambda e: e["payload"].update({k: -1 for k in list(e["payload"])[-1:]}),
    lambda e: e["payload"].update({"value": 1.0, "numerator": 1.0}),
    lambda e: e["payload"].pop(next(iter(e["payload"]))),
    lambda e: e.update(extra=1),
    lambda e: e["payload"].update(extra=1),
    lambda e: e.pop("granularity"),
    lambda e: e.update(observed_at=e["observed_at"][:7]),
    lambda e: e.update(observed_at=e["observed_at"][:4]),
    lambda e: e.update(observed_at=e["received_at"]),
    lambda e: e.update(unit_code=e["unit_code"] + "\n"),
    lambda e: e.update(unit_code="٠٧١"),
    lambda e: e.update(unit_code=71),
    lambda e: e.update(indicator="bts_sites\n"),
    lambda e: e.update(indicator=None),
    lambda e: e.update(revision="2"),
    lambda e: e.update(revision=1.0),
    lambda e: e.update(schema_version=2),
    lambda e: e.pop("schema_version"),
    lambda e: e.pop("revision"),
    lambda e: e.update(event_id=e["event_id"].replace("-", "").upper()),
    lambda e: e.update(event_id="{" + e["event_id"] + "}"),
    lambda e: e.update(received_at=e["received_at"].replace("T", " ")),
    lambda e: e.update(received_at=1_700_000_000),
    lambda e: e.update(family="BTS"),
    lambda e: e.update(family="unknown"),
]


def _same(fast: Any, slow: Any) -> None:
    for name in EVENT_MODELS[slow.family].model_fields:
        if name == "family":
            assert fast.family is slow.family
            continue
        if name == "payload":
            for field in type(slow.payload).model_fields:
                a, b = getattr(fast.payload, field), getattr(slow.payload, field)
                assert (a, type(a)) == (b, type(b)), field
            continue
        a, b = getattr(fast, name), getattr(slow, name)
        assert a == b, name
        assert type(a) is type(b) or isinstance(a, datetime), name
        if isinstance(a, datetime):
            assert a.utcoffset() == b.utcoffset(), name
    assert event_key(fast) == event_key(slow)


def _check(raw: bytes) -> None:
    fast = decode_fast(raw)
    try:
        slow = decode_telemetry(raw)
    except pydantic.ValidationError:
        assert fast is None, "the fast decoder accepted what the contract refuses"
        with pytest.raises(pydantic.ValidationError):
            decode_wire(raw)
        return
    if fast is not None:
        _same(fast, slow)
    _same(decode_wire(raw), slow)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(canonical_events(), st.lists(st.sampled_from(range(len(_MUTATIONS))), max_size=2))
def test_fast_decoding_accepts_a_subset_of_the_contract_with_the_same_values(
    event: dict[str, Any], mutations: list[int]
) -> None:
    for m in mutations:
        # A mutation that does not apply to this family changes nothing.
        with contextlib.suppress(KeyError, StopIteration, AttributeError, TypeError):
            _MUTATIONS[m](event)
    _check(json.dumps(event).encode())


@settings(max_examples=200, deadline=None)
@given(canonical_events())
def test_what_ingest_writes_takes_the_fast_path(event: dict[str, Any]) -> None:
    try:
        model = decode_telemetry(json.dumps(event))
    except pydantic.ValidationError:
        return
    raw = encode_event(model)
    fast = decode_fast(raw)
    if model.unit_code.isascii():
        assert fast is not None, raw
        _same(fast, model)


def test_duplicate_keys_read_as_the_contract_reads_them() -> None:
    base = (
        '{"event_id":"6f1c2b9e-0d7e-4c51-9a43-2a4a2f9f0c11","unit_code":"071",'
        '"observed_at":"2026-11-01","granularity":"month",'
        '"received_at":"2026-11-02T03:04:05+07:00","source":"so-tttt","family":"cashless",'
        '"payload":{"channel":"qr","transactions":5,"value_vnd":100,"transactions":7}}'
    )
    _check(base.encode())
    assert decode_wire(base.encode()).payload.transactions == 7  # type: ignore[union-attr]
    assert decode_wire(base.encode()).event_id == UUID("6f1c2b9e-0d7e-4c51-9a43-2a4a2f9f0c11")


# --- metric updates ------------------------------------------------------------------------------


@st.composite
def canonical_updates(draw: st.DrawFn) -> dict[str, Any]:
    unit = draw(st.sampled_from(["08", "071", "02233", "7", "0710"]))
    moment = draw(st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1)))
    zone = draw(_ZONES)
    numbers = st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-9, 10**6)
    items = [
        {
            "indicator": draw(st.sampled_from(["bts_sites", "cashless_value_vnd", ""])),
            "unit_code": unit,
            "level": draw(st.sampled_from(["commune", "district", "province"])),
            "granularity": draw(st.sampled_from(["day", "month", "quarter", "year"])),
            "period": draw(st.sampled_from(["2026-11", "2026-Q4", "2026", "2026-11-30"])),
            "period_start": draw(st.dates(date(1990, 1, 1), date(2100, 1, 1))).isoformat(),
            "value": draw(numbers),
            "previous_value": draw(numbers),
            "numerator": draw(numbers),
            "denominator": draw(numbers),
            "version": draw(st.integers(0, 2**40)),
            "updated_at": (moment if zone is None else moment.replace(tzinfo=zone)).isoformat(),
        }
        for _ in range(draw(st.integers(1, 3)))
    ]
    return {"updates": items}


#: What pydantic reads differently from (or more leniently than) JSON's own, in one item.
_UPDATE_MUTATIONS = [
    lambda u: u.update(value=str(u["value"])),
    lambda u: u.update(version=float(u["version"])),
    lambda u: u.update(version=str(u["version"])),
    lambda u: u.update(level=u["level"].upper()),
    lambda u: u.update(granularity=" month"),
    lambda u: u.update(unit_code="072"),  # a second unit in the record
    lambda u: u.update(unit_code="٠٧١"),
    lambda u: u.update(unit_code=71),
    lambda u: u.update(period_start=u["updated_at"]),
    lambda u: u.update(updated_at=u["updated_at"].replace("T", " ")),
    lambda u: u.update(updated_at=1_700_000_000),
    lambda u: u.update(value=True),
    lambda u: u.pop("numerator"),
    lambda u: u.pop("value"),
    lambda u: u.update(extra=1),
]


def _check_updates(raw: bytes) -> None:
    fast = decode_metric_updates_fast(raw)
    try:
        slow = MetricUpdates.model_validate_json(raw).updates
    except pydantic.ValidationError:
        assert fast is None, "the fast decoder accepted what the contract refuses"
        with pytest.raises(pydantic.ValidationError):
            decode_metric_updates(raw)
        return
    for got in (fast, decode_metric_updates(raw)):
        if got is None:
            continue
        assert len(got) == len(slow)
        for a, b in zip(got, slow, strict=True):
            for name in MetricUpdated.model_fields:
                x, y = getattr(a, name), getattr(b, name)
                assert (x, type(x)) == (y, type(y)), name
                if isinstance(x, datetime):
                    assert x.utcoffset() == y.utcoffset(), name


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    canonical_updates(),
    st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(range(len(_UPDATE_MUTATIONS)))), max_size=3
    ),
)
def test_fast_update_decoding_accepts_a_subset_of_the_contract_with_the_same_values(
    record: dict[str, Any], mutations: list[tuple[int, int]]
) -> None:
    items = record["updates"]
    for at, m in mutations:
        with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):
            _UPDATE_MUTATIONS[m](items[at % len(items)])
    _check_updates(json.dumps(record).encode())


@settings(max_examples=200, deadline=None)
@given(canonical_updates())
def test_what_metrics_writes_takes_the_fast_update_path(record: dict[str, Any]) -> None:
    try:
        models = MetricUpdates.model_validate_json(json.dumps(record)).updates
    except pydantic.ValidationError:
        return
    raw = encode_metric_updates(models)
    fast = decode_metric_updates_fast(raw)
    assert fast is not None, raw
    assert [metric_update_of(m) for m in models] == fast


def test_update_records_outside_the_contract_are_refused_by_it() -> None:
    with pytest.raises(pydantic.ValidationError, match="updates"):
        decode_metric_updates(b'{"updates":[]}')
    with pytest.raises(pydantic.ValidationError):
        decode_metric_updates(b"not json")
