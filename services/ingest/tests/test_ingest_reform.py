"""The 2025 reform at the door: a legacy code sent for a post-reform period is refused with its
successor(s) named in both languages, and the catalogue's newer indicators are accepted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from ioc_common.testing import bts_event
from ioc_ingest.testing import memory_harness

FULLY_SIGNED = "e_documents_fully_signed_rate"
AFTER = lambda: datetime(2025, 9, 15, tzinfo=UTC)  # noqa: E731 - a clock


def errors(body: dict[str, Any]) -> dict[str, str]:
    return {d["field"]: d["reason"] for d in body["error"]["details"]}


async def test_a_legacy_commune_after_the_reform_names_its_successors() -> None:
    async with memory_harness(now=AFTER) as h:
        r = await h.client.post(
            "/v1/events", json={**bts_event("00688"), "observed_at": "2025-08"}, headers=h.headers()
        )
        assert r.status_code == 422
        reason = errors(r.json())["unit_code"]
        vi, en = reason.split(" / ", 1)
        # Phường Quang Trung was split between Hà Giang 1 and Hà Giang 2.
        assert "Phường Quang Trung (00688) không còn từ 01/07/2025" in vi
        assert "00691 Phường Hà Giang 2 (một phần)" in vi
        assert "00694 Phường Hà Giang 1 (một phần)" in vi
        assert "ceased to exist on 2025-07-01" in en
        assert "00691 Phường Hà Giang 2 (part of it)" in en
        # The same code for a pre-reform period is fine.
        r = await h.client.post(
            "/v1/events",
            json={**bts_event("00688"), "observed_at": "2025-05", "backfill": True},
            headers=h.headers(),
        )
        assert r.status_code == 202, r.text


async def test_a_former_province_or_district_names_the_province_it_went_into() -> None:
    async with memory_harness(now=AFTER) as h:
        for code, vi, en in (
            ("02", "Tỉnh Hà Giang (02) không còn", "replaced by 08 Tỉnh Tuyên Quang"),
            ("024", "nay thuộc 08 Tỉnh Tuyên Quang", "now in 08 Tỉnh Tuyên Quang"),
        ):
            r = await h.client.post(
                "/v1/events",
                json={**bts_event(code), "observed_at": "2025-08"},
                headers=h.headers(),
            )
            assert r.status_code == 422
            reason = errors(r.json())["unit_code"]
            assert vi in reason
            assert en in reason


async def test_a_2025_commune_before_the_reform_names_its_predecessors() -> None:
    async with memory_harness(now=AFTER) as h:
        # 11948 Đặc khu Bạch Long Vĩ replaced the commune-less island district 318.
        r = await h.client.post(
            "/v1/events",
            json={**bts_event("11948"), "observed_at": "2025-05", "backfill": True},
            headers=h.headers(),
        )
        assert r.status_code == 422
        reason = errors(r.json())["unit_code"]
        assert "chỉ có từ 01/07/2025; trước đó là 318 Huyện Bạch Long Vĩ" in reason
        assert "exists only from 2025-07-01" in reason


async def test_the_new_catalogue_indicators_are_accepted_as_observations() -> None:
    async with memory_harness(now=AFTER) as h:
        for indicator, payload in (
            ("e_documents_fully_signed_rate", {"numerator": 822, "denominator": 1000}),
            ("report_regimes_connected_rate", {"numerator": 40, "denominator": 40}),
            ("services_on_national_portal", {"value": 582}),
        ):
            event = {
                "family": "observation",
                "indicator": indicator,
                "unit_code": "08",
                "observed_at": "2025-08",
                "event_id": str(uuid.uuid4()),
                "payload": payload,
            }
            r = await h.client.post("/v1/events", json=event, headers=h.headers())
            assert r.status_code == 202, (indicator, r.text)
        # A ratio indicator still wants its ratio form.
        r = await h.client.post(
            "/v1/events",
            json={
                **event,
                "event_id": str(uuid.uuid4()),
                "indicator": "e_documents_fully_signed_rate",
            },
            headers=h.headers(),
        )
        assert r.status_code == 422
