"""The 2025 reform through the gateway: ``GET /v1/units/{code}`` shows what a code named before
and after 1 July 2025, and a merged province keeps its predecessors' history — an operator of
08 Tuyên Quang reads the former 02 Hà Giang's pre-reform series and sees alerts raised on it."""

from __future__ import annotations

import pytest

from ioc_gateway.testing import Gateway

pytestmark = pytest.mark.connected

RATE = "dossiers_processed_online_rate"


async def test_the_unit_api_names_successors_predecessors_and_re_used_codes(
    gateway: Gateway,
) -> None:
    operator = await gateway.user("op08", "operator", "08")
    async with await gateway.client(operator) as api:
        # A Hà Giang ward split in two on 1 July 2025 (Hà Giang is now part of 08).
        r = await api.get("/v1/units/00688")
        assert r.status_code == 200, r.text
        body = r.json()
        [legacy] = body["versions"]
        assert (legacy["name"], legacy["level"]) == ("Phường Quang Trung", "commune")
        assert (legacy["valid_from"], legacy["valid_to"]) == ("2008-08-01", "2025-06-30")
        assert legacy["parent"]["code"] == "024"
        assert [(s["code"], s["name"], s["is_split"]) for s in legacy["successors"]] == [
            ("00691", "Phường Hà Giang 2", True),
            ("00694", "Phường Hà Giang 1", True),
        ]
        assert body["reused"] is False
        # 00691 was Trần Phú and is now Hà Giang 2, made of five former wards and communes.
        body = (await api.get("/v1/units/00691")).json()
        old, new = body["versions"]
        assert (old["name"], new["name"]) == ("Phường Trần Phú", "Phường Hà Giang 2")
        assert new["valid_to"] is None
        assert new["parent"]["code"] == "08"
        assert new["former_district_code"] == "024"
        assert ("00688", True) in [(p["code"], p["is_split"]) for p in new["predecessors"]]
        assert body["reused"] is True
        assert "dùng lại" in body["warning_vi"]
        assert "re-used" in body["warning_en"]
        # The merged province lists the provinces it was made of.
        body = (await api.get("/v1/units/08")).json()
        assert [p["code"] for p in body["versions"][-1]["predecessors"]] == ["02", "08"]
        # A former district of Hà Giang is within 08's scope; an unknown code is a 404.
        district = (await api.get("/v1/units/024")).json()["versions"][0]
        assert district["former_district"] is True
        assert district["successors"][0]["code"] == "08"
        r = await api.get("/v1/units/99999")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
        # Another province's unit is out of scope.
        r = await api.get("/v1/units/00004")
        assert r.status_code == 403
        assert "phạm vi" in r.json()["error"]["message"]


async def test_a_district_operator_reads_only_units_of_their_district(gateway: Gateway) -> None:
    operator = await gateway.user("op071", "operator", "071")
    async with await gateway.client(operator) as api:
        assert (await api.get("/v1/units/071")).status_code == 200
        assert (await api.get("/v1/units/02")).status_code == 403
        assert (await api.get("/v1/units/00688")).status_code == 403


async def test_a_merged_province_operator_reads_its_predecessor_history(gateway: Gateway) -> None:
    operator = await gateway.user("tq", "operator", "08")
    gateway.fakes.values[(RATE, "02")] = 71.5  # former Hà Giang, a pre-reform period
    gateway.fakes.values[(RATE, "024")] = 64.0  # TP Hà Giang, a former district
    on_province = gateway.fakes.add_alert("02", level="province")
    on_commune = gateway.fakes.add_alert("00688", level="commune")  # a pre-reform ward
    elsewhere = gateway.fakes.add_alert("34", level="province")  # Thái Bình, now 33
    async with await gateway.client(operator) as api:
        for unit, value in (("02", 71.5), ("024", 64.0)):
            r = await api.get(f"/v1/series?indicator={RATE}&unit={unit}")
            assert r.status_code == 200, (unit, r.text)
            assert [p["value"] for p in r.json()["points"]] == [value]
        r = await api.get("/v1/units/02/scorecard")
        assert r.status_code == 200, r.text
        listed = (await api.get("/v1/alerts")).json()
        ids = {a["id"] for a in listed["items"]}
        assert {on_province["id"], on_commune["id"]} <= ids
        assert elsewhere["id"] not in ids
        assert (await api.get("/v1/alerts?unit=02")).status_code == 200
        r = await api.get(f"/v1/alerts/{on_province['id']}")
        assert r.status_code == 200, r.text
        r = await api.get(f"/v1/alerts/{elsewhere['id']}")
        assert r.status_code == 403


async def test_a_former_province_scope_does_not_reach_the_whole_merged_province(
    gateway: Gateway,
) -> None:
    """The other direction stays narrow: an operator still scoped to 02 Hà Giang reads Hà
    Giang's area (its former districts and their new communes) but not old Tuyên Quang."""
    operator = await gateway.user("hg", "operator", "02")
    gateway.fakes.values[(RATE, "070")] = 80.0  # TP Tuyên Quang
    gateway.fakes.values[(RATE, "00691")] = 66.0  # a 2025 ward of former Hà Giang
    async with await gateway.client(operator) as api:
        assert (await api.get(f"/v1/series?indicator={RATE}&unit=00691")).status_code == 200
        assert (await api.get(f"/v1/series?indicator={RATE}&unit=070")).status_code == 403
        assert (await api.get("/v1/units/08")).status_code == 403
