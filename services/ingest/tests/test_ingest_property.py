"""Arbitrary JSON and CSV thrown at the endpoints never gets a 5xx."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ioc_ingest.testing import Harness, memory_harness

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

# Event-shaped objects whose fields take odd values: they get past the first checks.
field_values = st.one_of(
    json_values,
    st.sampled_from(["071", "08", "02233", "999", "00691", "001", "1"]),
    st.sampled_from(["2025-05", "2025-Q2", "2024", "9999-12-31T23:59:59-12:00", "0001-01-01",
                     "2025-13", "2025-06-21", "2020-01-01T00:00:00Z"]),
)  # fmt: skip
event_like = st.fixed_dictionaries(
    {
        "family": st.sampled_from(["bts", "public_service", "cashless", "observation", "x"]),
        "unit_code": field_values,
        "observed_at": field_values,
        "payload": st.dictionaries(
            st.sampled_from(
                [
                    "operator",
                    "technology",
                    "sites",
                    "villages_total",
                    "value",
                    "numerator",
                    "denominator",
                    "channel",
                    "transactions",
                ]
            ),
            field_values,
        ),
    },
    optional={
        "event_id": field_values,
        "idempotency_key": field_values,
        "indicator": st.sampled_from(["households_fixed_broadband", "bts_sites", "nope"]),
        "revision": field_values,
        "backfill": field_values,
    },
)

_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def _post(h: Harness, path: str, body: bytes) -> int:
    r = await h.client.post(path, content=body, headers=h.headers(h.create_key(all_units=True)))
    return r.status_code


@_SETTINGS
@given(value=st.one_of(json_values, event_like))
async def test_arbitrary_json_never_gets_a_5xx(value: Any) -> None:
    async with memory_harness() as h:
        raw = orjson.dumps(value)
        assert await _post(h, "/v1/events", raw) < 500
        assert await _post(h, "/v1/events:batch", orjson.dumps({"events": [value]})) < 500
        assert await _post(h, "/v1/events:batch", raw) < 500


@_SETTINGS
@given(events=st.lists(event_like, min_size=1, max_size=5))
async def test_arbitrary_batches_never_get_a_5xx(events: list[Any]) -> None:
    async with memory_harness() as h:
        assert await _post(h, "/v1/events:batch", orjson.dumps({"events": events})) < 500


csv_cell = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["071", "2025-05", "Viettel", "4G", "1.234", "12,5", "", '"', "qr"]),
)
csv_text = st.builds(
    lambda header, rows, sep: "\n".join(sep.join(r) for r in [header, *rows]),
    st.lists(
        st.sampled_from(
            [
                "unit_code",
                "Mã đơn vị",
                "observed_at",
                "operator",
                "technology",
                "sites",
                "villages_total",
                "villages_covered",
                "STT",
                "x",
                "",
            ]
        ),
        max_size=8,
    ),
    st.lists(st.lists(csv_cell, max_size=9), max_size=4),
    st.sampled_from([",", ";", "\t"]),
)


@_SETTINGS
@given(
    data=st.one_of(
        st.binary(max_size=200),
        csv_text.map(str.encode),
        csv_text.map(lambda t: t.encode("utf-16")),
    ),
    family=st.sampled_from(["bts", "cashless", "observation", "nope"]),
)
async def test_arbitrary_csv_never_gets_a_5xx(data: bytes, family: str) -> None:
    async with memory_harness() as h:
        r = await h.client.post(
            "/v1/uploads",
            params={"family": family},
            files={"file": ("x.csv", data, "text/csv")},
            headers=h.headers(h.create_key(all_units=True)),
        )
        assert r.status_code < 500, r.text
        raw = await h.client.post(
            "/v1/uploads?family=bts", content=data, headers=h.headers(h.create_key(all_units=True))
        )
        assert raw.status_code < 500, raw.text
