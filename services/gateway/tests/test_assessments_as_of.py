"""``GET /v1/assessments`` through the gateway: the alerts service's as-of standing of units,
limited to the operator's scope (the shared ``within``), with its dates bounded."""

from __future__ import annotations

from typing import Any

from ioc_gateway.testing import Gateway

IND = "dossiers_processed_online_rate"


def standing(unit: str, status: str, **figures: Any) -> dict[str, Any]:
    return {"unit_code": unit, "level": "district", "status": status, **figures}


async def test_an_operator_sees_the_standing_of_the_units_in_their_scope(gateway: Gateway) -> None:
    gateway.fakes.assessments += [
        standing("070", "on_track", period="2024-05", value=97.0, expected=96.5, gap=-0.5),
        standing(
            "071", "lagging", severity="warning", period="2024-05", value=90.0, expected=97.6,
            gap=7.6,
        ),
        standing("336", "missing"),  # Thái Bình's: another province
    ]  # fmt: skip
    province = await gateway.user("asof-province", "viewer", "08")
    district = await gateway.user("asof-district", "viewer", "071")
    query = f"/v1/assessments?as_of=2024-06-15&indicator={IND}&level=district"
    async with await gateway.client(province) as api:
        wide = (await api.get(query)).json()
    async with await gateway.client(district) as api:
        narrow = (await api.get(query)).json()
        refused = await api.get(f"/v1/assessments?as_of=2024-06-15&indicator={IND}&unit=070")

    assert wide["as_of"] == "2024-06-15"
    assert [i["unit_code"] for i in wide["items"]] == ["070", "071"]
    assert wide["counts"] == {"on_track": 1, "lagging": 1, "deadline_missed": 0, "missing": 0}
    lagging = wide["items"][1]
    assert (lagging["period"], lagging["expected"], lagging["gap"]) == ("2024-05", 97.6, 7.6)
    assert lagging["unit_name"]
    assert [i["unit_code"] for i in narrow["items"]] == ["071"]
    assert refused.status_code == 403


async def test_dates_outside_1900_2200_are_refused_naming_the_field(gateway: Gateway) -> None:
    viewer = await gateway.user("asof-bounds", "viewer", "08")
    async with await gateway.client(viewer) as api:
        for day in ("1899-12-31", "2201-01-01"):
            r = await api.get(f"/v1/assessments?as_of={day}&indicator={IND}&level=district")
            assert r.status_code == 422, r.text
            assert r.json()["error"]["details"][0]["field"] == "as_of"
        r = await api.get(f"/v1/assessments?as_of=2024-13-01&indicator={IND}&level=district")
        assert r.status_code == 422
    # Refused at the door: the alerts service was not asked.
    assert not [c for c in gateway.fakes.calls if c[1] == "/v1/assessments"]
