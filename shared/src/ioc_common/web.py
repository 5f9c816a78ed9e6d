"""What every service's FastAPI app has: /healthz, /readyz, /metrics, the error shape.

app = FastAPI(...)
install_service_basics(app, service="ingest", registry=registry, readiness=check)
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException

from ioc_common.errors import FieldError, InvalidInput, IocError
from ioc_common.logs import configure_logging, get_logger
from ioc_common.observability import (
    HttpMetrics,
    HttpMetricsMiddleware,
    ReadinessCheck,
    metrics_response,
)
from ioc_common.settings import ServiceSettings

log = get_logger("ioc.web")

ERROR_RESPONSE_SCHEMA: dict[str, Any] = {
    "description": "Lỗi / Error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message", "message_en", "details"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "message_en": {"type": "string"},
                            "details": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "field": {"type": "string"},
                                        "reason": {"type": "string"},
                                    },
                                },
                            },
                        },
                    }
                },
            }
        }
    },
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` for a router or route: each status documented with the error shape.

    ``APIRouter(prefix=..., responses=error_responses(401, 404, 422))``
    """
    return {status: ERROR_RESPONSE_SCHEMA for status in statuses}


def loc_to_field(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """``("body", "payload", "sites")`` → ``payload.sites``; keeps indexes: ``events.3.unit``."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def error_response(err: IocError) -> JSONResponse:
    headers = {}
    retry_after = getattr(err, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    return JSONResponse(err.body(), status_code=err.status, headers=headers)


_STATUS_CODES: dict[int, tuple[str, str, str]] = {
    404: ("not_found", "Không tìm thấy địa chỉ này", "Not found"),
    405: ("method_not_allowed", "Phương thức không được hỗ trợ", "Method not allowed"),
    413: ("payload_too_large", "Nội dung gửi lên quá lớn", "Request body too large"),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(IocError)
    async def _ioc_error(_: Request, exc: IocError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [FieldError(loc_to_field(e["loc"]), e["msg"]) for e in exc.errors()]
        err = InvalidInput("Dữ liệu không hợp lệ", "Invalid input", details)
        return error_response(err)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, vi, en = _STATUS_CODES.get(exc.status_code, ("http_error", str(exc.detail), ""))
        body = {"error": {"code": code, "message": vi, "message_en": en or vi, "details": []}}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("http.unhandled_error", error=type(exc).__name__, exc_info=True)
        body = IocError(
            "Lỗi hệ thống; đã ghi nhật ký, vui lòng báo quản trị viên",
            "Internal error; it was logged, please tell the platform admin",
        ).body()
        return JSONResponse(body, status_code=500)


def prepare_service(settings: ServiceSettings) -> None:
    """The first thing every ``create_app`` does, before it builds anything: JSON logs at the
    settings' level (the one place a service configures logging; under ``uvicorn --factory``
    uvicorn has set up its loggers by then, and its ``--no-access-log`` is kept), then refuse
    weak secrets with a clear message rather than half-start."""
    configure_logging(settings.log_level)
    settings.refuse_weak_secrets()


def install_service_basics(
    app: FastAPI, *, service: str, registry: CollectorRegistry, readiness: ReadinessCheck
) -> None:
    """Add the error shape, HTTP metrics and the three operations endpoints."""
    install_error_handlers(app)
    app.add_middleware(HttpMetricsMiddleware, metrics=HttpMetrics(registry, service))

    @app.get("/healthz", tags=["operations"], summary="Tiến trình còn sống / Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Sẵn sàng phục vụ / Readiness (dependencies reachable)",
        responses={503: {"description": "a dependency is unreachable"}},
    )
    async def readyz() -> JSONResponse:
        checks = await readiness()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "service": service, "checks": checks},
            status_code=200 if ok else 503,
        )

    # Documented as text/plain: it is Prometheus' text format, not JSON.
    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
    )
    async def metrics() -> Response:
        return metrics_response(registry)
