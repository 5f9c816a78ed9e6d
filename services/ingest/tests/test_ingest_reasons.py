"""What a department reads when a figure is refused: every reason in Vietnamese and English,
every problem of an item at once, and hand-typed names accepted in any case."""

from __future__ import annotations

import copy
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from ioc_common.events import TELEMETRY_ADAPTER, BtsEvent, CashlessEvent, decode_telemetry
from ioc_ingest.reasons import REASONS
from ioc_ingest.testing import FIXED_NOW, Harness
from ioc_ingest.validation import EventValidator, Rejection

#: Valid payloads of each family; every field is then spoilt in turn.
GOOD: dict[str, dict[str, Any]] = {
    "bts": {
        "operator": "Viettel",
        "technology": "4G",
        "sites": 10,
        "villages_total": 20,
        "villages_covered": 15,
    },
    "public_service": {
        "service_level": "full_online",
        "dossiers_total": 100,
        "dossiers_online": 80,
        "dossiers_processed_online": 70,
        "paid_online": 10,
    },
    "cashless": {"channel": "qr", "transactions": 5, "value_vnd": 1000},
    "observation": {"numerator": 80, "denominator": 100},
}
#: What a hand-made file or a buggy exporter sends instead of the right value.
HOSTILE: list[object] = [
    None, "", "x", "abc" * 40, -1, 0, 1.5, 10**20, 1e300, float("nan"), float("inf"), True,
    [], {}, "1,5", "31/05/2024", "45443", "2024-13", "2024-Q5", "Mobifon", "00000000-zz",
    {"nested": 1}, "08", "99",
]  # fmt: skip
#: A Vietnamese letter that English never uses: the reason has a Vietnamese part.
VIETNAMESE = re.compile(r"[àáảãạăắằẳẵặâấầẩẫậđèéẻẽẹêếềểễệìíỉĩịòóỏõọôốồổỗộơớờởỡợùúủũụưứừửữựỳýỷỹỵ]")


def _submissions() -> list[dict[str, Any]]:
    """Every field of every family (envelope and payload) replaced by each hostile value,
    removed, and joined by an unknown field."""
    out: list[dict[str, Any]] = []
    for family, payload in GOOD.items():
        base: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "family": family,
            "unit_code": "071",
            "observed_at": "2025-05",
            "revision": 1,
            "payload": payload,
        }
        base["indicator"] = "households_fixed_broadband" if family == "observation" else None
        for name in [*base, "unknown_field"]:
            for value in HOSTILE:
                out.append(copy.deepcopy(base) | {name: value})
            out.append({k: v for k, v in copy.deepcopy(base).items() if k != name})
        for name in [*payload, "value", "unknown_field"]:
            for value in HOSTILE:
                spoilt = copy.deepcopy(base)
                spoilt["payload"][name] = value
                out.append(spoilt)
            spoilt = copy.deepcopy(base)
            spoilt["payload"].pop(name, None)
            out.append(spoilt)
    return out


SUBMISSIONS = _submissions()


def test_every_error_type_a_submission_can_produce_has_bilingual_words() -> None:
    produced: set[str] = set()
    for raw in SUBMISSIONS:
        with_platform = {**raw, "received_at": FIXED_NOW, "source": "so-tttt-tq"}
        try:
            TELEMETRY_ADAPTER.validate_python(with_platform)
        except ValidationError as exc:
            produced |= {str(e["type"]) for e in exc.errors()}
    assert {"extra_forbidden", "enum", "union_tag_invalid"} <= produced  # the feed reaches them
    untranslated = produced - set(REASONS) - {"value_error"}  # ours: written in both
    assert not untranslated, f"add these pydantic error types to REASONS: {untranslated}"


def test_every_reason_ingest_gives_is_in_vietnamese_and_english() -> None:
    validator = EventValidator(
        future_skew=timedelta(minutes=5), backfill_after=timedelta(days=400), now=lambda: FIXED_NOW
    )
    one_language: set[str] = set()
    rejected = 0
    for raw in SUBMISSIONS:
        built = validator.build(raw, provider="so-tttt-tq", received_at=FIXED_NOW)
        if not isinstance(built, Rejection):
            continue
        rejected += 1
        for e in built.errors:
            vi, sep, en = e.reason.partition(" / ")
            if not (sep and VIETNAMESE.search(vi) and en.strip()):
                one_language.add(f"{e.field}: {e.reason}")
    assert rejected > 500
    assert not one_language, "\n".join(sorted(one_language))


async def test_every_problem_of_an_item_is_reported_at_once(harness: Harness) -> None:
    event = {
        "event_id": str(uuid.uuid4()),
        "family": "bts",
        "unit_code": "99999",  # well-formed, but no such unit
        "observed_at": "2023-01",  # old, without backfill
        "colour": "blue",
        "payload": {
            "operator": "Mobifon",
            "technology": "4G",
            "sites": -3,
            "villages_total": 10,
            "villages_covered": 12,
        },
    }
    r = await harness.client.post("/v1/events", json=event, headers=harness.headers())
    assert r.status_code == 422, r.text
    fields = {d["field"] for d in r.json()["error"]["details"]}
    assert fields == {
        "colour",
        "payload.operator",
        "payload.sites",
        "payload.villages_covered",
        "unit_code",
        "observed_at",
    }


async def test_a_csv_row_reports_all_its_problems(harness: Harness) -> None:
    text = (
        "unit_code,observed_at,operator,technology,sites,villages_total,villages_covered\n"
        "071,31/05/2025,Mobifon,6G,many,10,12\n"
    )
    r = await harness.upload("bts", text)
    assert r.status_code == 200, r.text
    [row] = r.json()["results"]
    reasons = {e["field"]: e["reason"] for e in row["errors"]}
    assert set(reasons) == {
        "observed_at",
        "payload.operator",
        "payload.technology",
        "payload.sites",
        "payload.villages_covered",
    }
    assert "2025-05-31" in reasons["observed_at"]  # the fix for a spreadsheet date
    assert "MobiFone" in reasons["payload.operator"]


@pytest.mark.parametrize(
    ("operator", "technology"), [("Mobifone", "4g"), ("MOBIFONE", "4G"), (" mobifone ", "4G")]
)
async def test_operator_names_in_any_case_are_stored_as_spelt_by_the_platform(
    harness: Harness, operator: str, technology: str
) -> None:
    text = (
        "unit_code,observed_at,operator,technology,sites,villages_total,villages_covered\n"
        f"071,2025-05,{operator},{technology},42,65,63\n"
    )
    r = await harness.upload("bts", text)
    assert r.status_code == 202, r.text
    [record] = harness.broker.records("ioc.telemetry.bts.v1")
    event = decode_telemetry(record.value)
    assert isinstance(event, BtsEvent)
    assert (event.payload.operator.value, event.payload.technology.value) == ("MobiFone", "4G")
    assert b'"MobiFone"' in record.value


async def test_one_figure_in_two_spellings_is_a_duplicate(harness: Harness) -> None:
    header = "unit_code,observed_at,channel,transactions,value_vnd\n"
    first = await harness.upload("cashless", header + "070,2025-06,qr,1,2\n")
    again = await harness.upload("cashless", header + "070,2025-06,QR,1,2\n")
    assert first.json()["accepted"] == 1
    assert again.json()["duplicates"] == 1, again.text
    [record] = harness.broker.records("ioc.telemetry.cashless.v1")
    event = decode_telemetry(record.value)
    assert isinstance(event, CashlessEvent)
    assert event.payload.channel.value == "qr"
