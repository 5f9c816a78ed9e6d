"""The telemetry envelope: good events parse, bad ones are refused naming the field."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from ioc_common.events import (
    TELEMETRY_ADAPTER,
    BtsEvent,
    CashlessEvent,
    ObservationEvent,
    PublicServiceEvent,
    decode_telemetry,
    encode_event,
)
from ioc_common.testing import bts_event
from ioc_common.timeutil import Granularity


def event(**overrides: Any) -> dict[str, Any]:
    base = bts_event(
        "071",
        observed_at="2024-05-31",
        received_at="2024-06-01T08:00:00+07:00",
        source="so-tttt-tuyen-quang",
    )
    return base | overrides


def error_fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"][1:]) for e in exc.errors()}


def test_each_family_parses_to_its_model() -> None:
    samples = {
        BtsEvent: event(),
        PublicServiceEvent: event(
            family="public_service",
            unit_code="00322",
            observed_at="2024-01",
            payload={
                "service_level": "full_online",
                "dossiers_total": 1250,
                "dossiers_online": 1010,
                "dossiers_processed_online": 990,
                "paid_online": 640,
            },
        ),
        CashlessEvent: event(
            family="cashless",
            unit_code="070",
            payload={"channel": "qr", "transactions": 18240, "value_vnd": 5_230_000_000},
        ),
        ObservationEvent: event(
            family="observation",
            indicator="households_fixed_broadband",
            unit_code="46",
            observed_at="2022",
            payload={"numerator": 80470, "denominator": 100000},
        ),
    }
    for model, raw in samples.items():
        parsed = TELEMETRY_ADAPTER.validate_python(raw)
        assert type(parsed) is model


def test_month_observed_at_becomes_first_day_with_month_granularity() -> None:
    parsed = TELEMETRY_ADAPTER.validate_python(event(observed_at="2024-01"))
    assert parsed.observed_at == date(2024, 1, 1)
    assert parsed.granularity is Granularity.MONTH


def test_wire_round_trip_is_lossless() -> None:
    parsed = TELEMETRY_ADAPTER.validate_python(event(observed_at="2024-Q2", revision=3))
    again = decode_telemetry(encode_event(parsed))
    assert again == parsed
    assert again.granularity is Granularity.QUARTER
    assert again.observed_at == date(2024, 4, 1)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"unit_code": "7"}, "unit_code"),
        ({"observed_at": "2024-13"}, "observed_at"),
        ({"family": "weather"}, "family"),
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"revision": 0}, "revision"),
        ({"source": ""}, "source"),
    ],
)
def test_bad_envelope_field_is_named(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TELEMETRY_ADAPTER.validate_python(event(**overrides))
    text = str(caught.value)
    assert field in text


def test_negative_sites_is_refused_at_payload_sites() -> None:
    bad = event()
    bad["payload"] = {**bad["payload"], "sites": -1}
    with pytest.raises(ValidationError) as caught:
        TELEMETRY_ADAPTER.validate_python(bad)
    assert "payload.sites" in error_fields(caught.value)


def test_covered_villages_cannot_exceed_total() -> None:
    bad = event()
    bad["payload"] = {**bad["payload"], "villages_covered": 66}
    with pytest.raises(ValidationError, match="villages_covered must not exceed villages_total"):
        TELEMETRY_ADAPTER.validate_python(bad)


def test_online_dossiers_cannot_exceed_total() -> None:
    bad = event(
        family="public_service",
        payload={
            "service_level": "full_online",
            "dossiers_total": 10,
            "dossiers_online": 11,
            "dossiers_processed_online": 5,
            "paid_online": 1,
        },
    )
    with pytest.raises(ValidationError, match="dossiers_online must not exceed dossiers_total"):
        TELEMETRY_ADAPTER.validate_python(bad)


def test_unknown_payload_field_is_refused() -> None:
    bad = event()
    bad["payload"] = {**bad["payload"], "satellites": 3}
    with pytest.raises(ValidationError) as caught:
        TELEMETRY_ADAPTER.validate_python(bad)
    assert "payload.satellites" in error_fields(caught.value)


@pytest.mark.parametrize(
    "payload",
    [
        {"value": 1, "numerator": 1, "denominator": 2},
        {"numerator": 1},
        {},
        {"numerator": 1, "denominator": 0},
    ],
)
def test_observation_needs_exactly_one_form(payload: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TELEMETRY_ADAPTER.validate_python(
            event(family="observation", indicator="open_datasets", payload=payload)
        )


def test_observation_requires_indicator_and_others_forbid_it() -> None:
    with pytest.raises(ValidationError, match="indicator"):
        TELEMETRY_ADAPTER.validate_python(event(family="observation", payload={"value": 1}))
    with pytest.raises(ValidationError, match="indicator"):
        TELEMETRY_ADAPTER.validate_python(event(indicator="bts_sites"))
