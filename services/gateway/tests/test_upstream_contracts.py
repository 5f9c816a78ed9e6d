"""The gateway reads the metrics and alerts services through their contracts
(``ioc_common.contracts``): an answer of another shape is a broken link — a 503 that names the
service — never a 500, and the stand-in the other tests use answers inside the contract."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest

from ioc_common.timeutil import Granularity
from ioc_gateway.testing import Gateway

IND = "dossiers_processed_online_rate"


def _answers(path: str, body: dict[str, Any]) -> Any:
    def handler(method: str, got: str, params: httpx.QueryParams, _: Any) -> tuple[int, Any]:
        return (200, body) if got == path else (404, {"error": {"code": "not_found"}})

    return handler


@pytest.mark.parametrize(
    ("service", "path", "url"),
    [
        ("metrics", "/v1/values", f"/v1/series?indicator={IND}&unit=071"),
        ("metrics", "/v1/units/08/scorecard", "/v1/units/08/scorecard"),
        ("alerts", "/v1/alerts", "/v1/alerts"),
        ("alerts", "/v1/silences", "/v1/silences"),
        (
            "alerts",
            "/v1/assessments",
            f"/v1/assessments?as_of=2024-06-15&indicator={IND}&level=district",
        ),
    ],
)
async def test_an_answer_outside_the_contract_is_a_503_naming_the_service(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, service: str, path: str, url: str
) -> None:
    viewer = await gateway.user(f"contract-{service}-{path.count('/')}", "viewer", "08")
    # The right envelope, an item of the wrong shape.
    body = {"items": [{"id": "not-a-uuid"}], "total": 1, "limit": 500, "offset": 0}
    monkeypatch.setattr(gateway.fakes, f"_{service}", _answers(path, body))
    async with await gateway.client(viewer) as api:
        r = await api.get(url)
        exposed = (await api.get("/metrics")).text
    assert r.status_code == 503, r.text
    assert r.json()["error"]["details"] == [{"field": "service", "reason": service}]
    assert r.headers["retry-after"]
    assert f'ioc_gateway_upstream_errors_total{{reason="contract",service="{service}"}}' in exposed


async def test_the_stand_in_answers_inside_the_contract(gateway: Gateway) -> None:
    """Every call the gateway makes, against ``FakeServices``: the typed clients validate each
    answer (and raise ``UpstreamUnavailable`` otherwise)."""
    fakes, state = gateway.fakes, gateway.state
    for unit, value in (("071", 62.0), ("08", 80.0)):
        fakes.values[(IND, unit)] = value
    alert = fakes.add_alert("071")
    operator = await state.users.get(await gateway.user("contract-op", "operator", "08"))
    assert operator is not None

    card = await state.metrics_api.scorecard("071", Granularity.MONTH)
    assert {i.indicator for i in card.items} >= {IND}
    ranking = await state.metrics_api.rankings(IND, "08", Granularity.MONTH, "2026-11")
    assert {r.unit_code for r in ranking.items} >= {"070", "071"}
    series = await state.metrics_api.values(IND, "071", Granularity.MONTH, "2026-11", "2026-11")
    assert [p.value if p else None for p in series.items] == [62.0]
    assert {f.unit_code for f in (await state.metrics_api.freshness("08")).items} == {"071", "08"}

    listed = await state.alerts_api.alerts()
    assert [str(a.id) for a in listed.items] == [alert["id"]]
    acked = await state.alerts_api.acknowledge(listed.items[0].id, "xem", actor=operator)
    assert acked.state == "acknowledged"
    created = await state.alerts_api.create_silence(
        {"unit_code": "071", "ends_at": "2030-01-01T00:00:00+07:00", "reason": "bảo trì"},
        actor=operator,
    )
    assert (await state.alerts_api.silence(created.id)).active
    assert not (await state.alerts_api.expire_silence(created.id, actor=operator)).active
    assert [s.id for s in (await state.alerts_api.silences()).items] == [created.id]
    assert (await state.alerts_api.targets()).items == []
    fakes.assessments.append({"unit_code": "071", "level": "district", "status": "missing"})
    standing = await state.alerts_api.assessments(
        as_of=date(2024, 6, 15), indicator=IND, level="district"
    )
    assert [(i.unit_code, i.status) for i in standing.items] == [("071", "missing")]
