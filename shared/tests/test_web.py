"""Every service's common surface: the error shape, /healthz, /readyz, /metrics."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from ioc_common.errors import FieldError, Forbidden, InvalidInput
from ioc_common.observability import new_registry
from ioc_common.web import install_service_basics


class Body(BaseModel):
    count: int


def make_app(ready: bool) -> FastAPI:
    app = FastAPI()

    async def readiness() -> dict[str, bool]:
        return {"kafka": ready, "database": True}

    install_service_basics(app, service="test", registry=new_registry(), readiness=readiness)

    @app.post("/things")
    async def things(body: Body) -> dict[str, int]:
        return {"count": body.count}

    @app.get("/forbidden")
    async def forbidden() -> None:
        raise Forbidden("Khóa không được ghi đơn vị 072", "Key may not write unit 072")

    @app.get("/invalid")
    async def invalid() -> None:
        raise InvalidInput("Sai", "Wrong", [FieldError("payload.sites", "must be >= 0")])

    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_request_validation_uses_the_error_shape_with_field() -> None:
    async with client(make_app(True)) as c:
        resp = await c.post("/things", json={"count": "many"})
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"][0]["field"] == "count"


async def test_ioc_errors_keep_status_code_and_both_languages() -> None:
    async with client(make_app(True)) as c:
        resp = await c.get("/forbidden")
        invalid = await c.get("/invalid")
        missing = await c.get("/nowhere")
    assert resp.status_code == 403
    assert resp.json()["error"]["message_en"] == "Key may not write unit 072"
    assert invalid.json()["error"]["details"] == [
        {"field": "payload.sites", "reason": "must be >= 0"}
    ]
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


async def test_readyz_reports_each_dependency() -> None:
    async with client(make_app(False)) as c:
        down = await c.get("/readyz")
        live = await c.get("/healthz")
    assert down.status_code == 503
    assert down.json()["checks"] == {"kafka": False, "database": True}
    assert live.status_code == 200


async def test_metrics_count_requests_by_route_template() -> None:
    async with client(make_app(True)) as c:
        await c.post("/things", json={"count": 1})
        text = (await c.get("/metrics")).text
    assert (
        'ioc_http_requests_total{method="POST",route="/things",service="test",status="200"} 1.0'
        in text
    )
