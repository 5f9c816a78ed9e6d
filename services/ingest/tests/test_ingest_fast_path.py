"""The fast path of a plain submission gives exactly what the pydantic path gives: the same
event, the same record bytes on Kafka, the same content digest — or it declines, and the
pydantic path answers as before (every refusal and its reasons stay the model's)."""

from __future__ import annotations

import contextlib
import copy
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import cache
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench.payloads import submissions
from ioc_common.events import EVENT_MODELS, content_sha256, encode_event
from ioc_common.reference.units import unit_tree
from ioc_common.timeutil import utc_now
from ioc_ingest.testing import FIXED_NOW
from ioc_ingest.validation import Checked, EventValidator

#: Before and after the 2025 reform: district codes valid on one side only.
_CLOCKS = (FIXED_NOW, datetime(2026, 11, 20, 3, 0, tzinfo=UTC))
_ZONES: st.SearchStrategy[tzinfo] = st.sampled_from([UTC, timezone(timedelta(hours=7))])


@cache
def _validator() -> EventValidator:
    return EventValidator(future_skew=timedelta(minutes=5), backfill_after=timedelta(days=400))


@cache
def _unit_codes(on: date) -> tuple[str, ...]:
    """Provinces, districts (before the reform) and communes that exist on that day."""
    tree = unit_tree()
    codes: set[str] = set()
    for province in tree.provinces(on)[:2]:
        codes.add(province.code)
        for child in tree.children(province.code, on)[:3]:
            codes.add(child.code)
            codes.update(u.code for u in tree.children(child.code, on)[:2])
    return tuple(sorted(codes))


#: Codes that never name a unit, or only on the other side of the reform, or not in ASCII.
_ODD_CODES = ("99999", "999", "7", "0710", "٠٧١", *_unit_codes(date(2024, 1, 1))[:4])


def _periods(day: date) -> st.SearchStrategy[str]:
    quarter = (day.month - 1) // 3 + 1
    every = st.sampled_from(
        [
            day.isoformat(),
            f"{day:%Y-%m}",
            f"{day.year}-Q{quarter}",
            f"{day.year}",
            f"{day.isoformat()}T23:30:00Z",
            f"{day.isoformat()}T01:00:00+07:00",
            f"{day.isoformat()}T12:00:00",
            f" {day:%Y-%m} ",
            f"{day:%d/%m/%Y}",
            f"{day.year}-13",
            "0999",
            "0000",
            "9999-12-31T23:59:59-12:00",
        ]
    )
    common = st.sampled_from([day.isoformat(), f"{day:%Y-%m}", f"{day.year}-Q{quarter}"])
    return st.one_of(common, common, common, every)


def _rare(draw: st.DrawFn) -> bool:
    """True one time in ten (``integers`` would favour its bounds)."""
    return draw(st.sampled_from([False] * 9 + [True]))


@st.composite
def _within(draw: st.DrawFn, names: tuple[str, ...], whole: str, top: int) -> dict[str, int]:
    """A whole and its parts, mostly within it, now and then out of bounds."""
    total = draw(st.sampled_from([top, top + 1])) if _rare(draw) else draw(st.integers(0, top))
    parts = {
        n: draw(st.sampled_from([total + 1, -1])) if _rare(draw) else draw(st.integers(0, total))
        for n in names
    }
    return {whole: total, **parts}


_PAYLOADS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "bts": st.builds(
        lambda choices, sites, counts: {**choices, "sites": sites, **counts},
        st.fixed_dictionaries(
            {
                "operator": st.sampled_from(
                    ["Viettel", "VNPT", "MobiFone", "Vietnamobile", "Gmobile"]
                ),
                "technology": st.sampled_from(["2G", "3G", "4G", "5G"]),
            }
        ),
        st.integers(0, 100_001),
        _within(("villages_covered",), "villages_total", 100_000),
    ),
    "public_service": st.builds(
        lambda level, counts: {"service_level": level, **counts},
        st.sampled_from(["partial_online", "full_online"]),
        _within(
            ("dossiers_online", "dossiers_processed_online", "paid_online"),
            "dossiers_total",
            10**9,
        ),
    ),
    "cashless": st.fixed_dictionaries(
        {
            "channel": st.sampled_from(["qr", "card", "bank_transfer", "e_wallet", "mobile_money"]),
            "transactions": st.integers(0, 10**12),
            "value_vnd": st.integers(0, 10**16),
        }
    ),
    "observation": st.one_of(
        st.fixed_dictionaries({"value": st.floats(0, 1e16) | st.integers(0, 10**6)}),
        st.fixed_dictionaries({"numerator": st.floats(0, 100), "denominator": st.floats(1, 100)}),
    ),
}


@st.composite
def plain_submissions(draw: st.DrawFn) -> tuple[dict[str, Any], datetime]:
    """A submission in the plain form and the clock to judge it by: mostly valid, some periods
    in the future or old, some units that do not exist then; ids given, derived or missing."""
    clock = draw(st.sampled_from(_CLOCKS))
    family = draw(st.sampled_from(list(_PAYLOADS)))
    day = clock.date() - timedelta(days=draw(st.integers(-40, 500)))
    codes = _unit_codes(clock.date())
    item: dict[str, Any] = {
        "family": family,
        "unit_code": draw(st.sampled_from(_ODD_CODES if _rare(draw) else codes)),
        "observed_at": draw(_periods(day)),
        "payload": draw(_PAYLOADS[family]),
    }
    given = draw(st.integers(0, 4))
    if given < 3:
        item["event_id"] = str(draw(st.uuids()))
    elif given == 3:
        item["event_id"] = None
    if draw(st.booleans()):
        keys = ["x" * 256, "ă" * 256, ""] if _rare(draw) else ["k-1", "ă" * 255, "x" * 255]
        item["idempotency_key"] = draw(st.sampled_from(keys))
    if draw(st.booleans()):
        values = [1_000_001, 0] if _rare(draw) else [1, 2, 1_000_000]
        item["revision"] = draw(st.sampled_from(values))
    if draw(st.booleans()):
        item["backfill"] = draw(st.booleans())
    if family == "observation" or _rare(draw):
        item["indicator"] = draw(st.sampled_from(["bts_sites", "households_fixed_broadband"]))
    return item, clock


def _texts(item: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in item["payload"].items() if isinstance(v, str)]


#: Spellings and values pydantic reads differently from (or more leniently than) JSON's own.
_MUTATIONS = [
    lambda e: e["payload"].update({k: str(v) for k, v in list(e["payload"].items())[-1:]}),
    lambda e: e["payload"].update({k: v.lower() for k, v in _texts(e)}),
    lambda e: e["payload"].update({k: v.upper() for k, v in _texts(e)}),
    lambda e: e["payload"].update({k: f" {v} " for k, v in _texts(e)}),
    lambda e: e["payload"].update({k: True for k in list(e["payload"])[-1:]}),
    lambda e: e["payload"].update({k: float(v) for k, v in list(e["payload"].items())[-1:]}),
    lambda e: e["payload"].update({k: -1 for k in list(e["payload"])[-1:]}),
    lambda e: e["payload"].update({k: None for k in list(e["payload"])[-1:]}),
    lambda e: e["payload"].pop(next(iter(e["payload"]))),
    lambda e: e["payload"].update(extra=1),
    lambda e: e.update(payload=list(e["payload"].items())),
    lambda e: e.update(extra=1),
    lambda e: e.update(received_at="2025-06-20T03:00:00Z"),
    lambda e: e.update(source="other"),
    lambda e: e.update(granularity="month"),
    lambda e: e.update(schema_version=1),
    lambda e: e.update(unit_code=e["unit_code"] + "\n"),
    lambda e: e.update(unit_code=int(e["unit_code"])),
    lambda e: e.update(unit_code=f" {e['unit_code']}"),
    lambda e: e.update(observed_at=date(2025, 5, 1)),
    lambda e: e.update(observed_at=202505),
    lambda e: e.update(revision="2"),
    lambda e: e.update(revision=2.0),
    lambda e: e.update(revision=True),
    lambda e: e.update(revision=None),
    lambda e: e.update(backfill="true"),
    lambda e: e.update(backfill=1),
    lambda e: e.update(indicator=""),
    lambda e: e.update(event_id=e["event_id"].replace("-", "").upper()),
    lambda e: e.update(event_id=e["event_id"].upper()),
    lambda e: e.update(event_id="{" + e["event_id"] + "}"),
    lambda e: e.update(event_id="urn:uuid:" + e["event_id"]),
    lambda e: e.update(event_id=e["event_id"][:-1]),
    lambda e: e.update(event_id=1),
    lambda e: e.update(idempotency_key=""),
    lambda e: e.update(idempotency_key=7),
    lambda e: e.update(idempotency_key=None),
    lambda e: e.update(family="BTS"),
    lambda e: e.update(family=" bts"),
    lambda e: e.update(family=["bts"]),
    lambda e: e.update(family="unknown"),
    lambda e: e.pop("family"),
    lambda e: e.pop("unit_code"),
    lambda e: e.pop("observed_at"),
    lambda e: e.pop("payload"),
]


def _same_event(fast: Any, slow: Any) -> None:
    """Every field of the model, equal and of the same type (an aware datetime's offset too)."""
    for name in EVENT_MODELS[slow.family].model_fields:
        if name == "payload":
            for part in type(slow.payload).model_fields:
                a, b = getattr(fast.payload, part), getattr(slow.payload, part)
                assert (a, type(a)) == (b, type(b)), part
            continue
        a, b = getattr(fast, name), getattr(slow, name)
        assert (a, type(a)) == (b, type(b)), name
        if isinstance(a, datetime):
            assert a.utcoffset() == b.utcoffset(), name


def _check(
    item: object,
    *,
    provider: str,
    received_at: datetime,
    clock: datetime,
    idempotency_key: str | None,
    item_keys: bool,
) -> Checked | None:
    validator = _validator()
    args: dict[str, Any] = {
        "provider": provider,
        "received_at": received_at,
        "idempotency_key": idempotency_key,
        "item_keys": item_keys,
        "now": clock,
    }
    before = copy.deepcopy(item)
    fast = validator.build_fast(item, **args)
    assert item == before, "the fast path changed the submission"
    slow = validator.build_slow(item, **args)
    either = validator.build(item, **args)
    if fast is None:
        assert either == slow  # the same event or the same reasons, from the pydantic path
        return None
    assert isinstance(slow, Checked), f"the fast path accepted what pydantic refuses: {slow}"
    assert not isinstance(slow.event, msgspec.Struct)
    _same_event(fast.event, slow.event)
    assert (fast.topic, fast.key) == (slow.topic, slow.key)
    assert fast.record_value() == encode_event(slow.event) == slow.record_value()
    assert fast.content_digest() == content_sha256(slow.event) == slow.content_digest()
    assert either == fast
    return fast


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    submission=plain_submissions(),
    mutations=st.lists(st.sampled_from(range(len(_MUTATIONS))), max_size=2) | st.just([]),
    provider=st.sampled_from(["so-tttt-tq"] * 6 + ['sở "tt" \\ ă\n', "x" * 64, "x" * 65, ""]),
    received_at=st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=_ZONES)
    | st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)),
    header_key=st.sampled_from([None, "hdr-1"]),
    item_keys=st.booleans(),
)
def test_fast_path_gives_what_the_pydantic_path_gives_or_declines(
    submission: tuple[dict[str, Any], datetime],
    mutations: list[int],
    provider: str,
    received_at: datetime,
    header_key: str | None,
    item_keys: bool,
) -> None:
    item, clock = submission
    for m in mutations:
        # A mutation that does not apply to this item changes nothing.
        with contextlib.suppress(KeyError, StopIteration, AttributeError, ValueError, TypeError):
            _MUTATIONS[m](item)
    fast = _check(
        item,
        provider=provider,
        received_at=received_at,
        clock=clock,
        idempotency_key=header_key,
        item_keys=item_keys,
    )
    if fast is not None:
        event("fast")
    else:
        slow = _validator().build_slow(
            item,
            provider=provider,
            received_at=received_at,
            idempotency_key=header_key,
            item_keys=item_keys,
            now=clock,
        )
        event(f"declined, pydantic {'accepts' if isinstance(slow, Checked) else 'refuses'}")


def test_plain_submissions_take_the_fast_path() -> None:
    """What the bench (and a well-behaved sender) sends: every item fast, equal to pydantic's."""
    now, received_at = utc_now(), utc_now()
    for item in submissions(300, seed=7):
        del item["event_id"]
        item["idempotency_key"] = f"k-{id(item)}"
        for sub in (item, {**item, "revision": 3, "backfill": True}):
            got = _check(
                sub,
                provider="bench",
                received_at=received_at,
                clock=now,
                idempotency_key=None,
                item_keys=True,
            )
            assert got is not None, sub


@pytest.mark.parametrize(
    "change",
    [
        {"operator": "viettel"},
        {"operator": " Viettel"},
        {"sites": "3"},
        {"sites": 3.0},
    ],
)
def test_what_pydantic_reads_leniently_goes_to_the_pydantic_path(change: dict[str, Any]) -> None:
    item = submissions(1, seed=3)[0]
    assert item["family"] == "bts"
    item["payload"] = {**item["payload"], **change}
    now = utc_now()
    validator = _validator()
    args: dict[str, Any] = {"provider": "bench", "received_at": now, "now": now}
    assert validator.build_fast(item, **args) is None
    assert isinstance(validator.build_slow(item, **args), Checked)
