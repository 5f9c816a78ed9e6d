"""Prometheus helpers. Every metric is created on a registry the caller passes, so tests use a
fresh ``CollectorRegistry`` and services never collide on the global one."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def new_registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


def metrics_response(registry: CollectorRegistry) -> Response:
    return Response(_generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class MetricFactory:
    """Makes a service's instruments, each on the one registry the service was given.

    ``new = MetricFactory(registry)``; ``self.events = new.counter("ioc_x_events", "…", ["kind"])``
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        *,
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        return Histogram(name, documentation, labels, buckets=buckets, registry=self.registry)


class HttpMetrics:
    """Requests by route template, method and status, and their latency."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        new = MetricFactory(registry)
        self.requests = new.counter(
            "ioc_http_requests", "HTTP requests handled", ["service", "method", "route", "status"]
        )
        self.latency = new.histogram(
            "ioc_http_request_seconds", "HTTP request latency", ["service", "method", "route"]
        )
        self.service = service


class HttpMetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware) so streaming responses and WebSockets pass untouched."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope.get("method", "GET")
            self.metrics.requests.labels(self.metrics.service, method, template, str(status)).inc()
            self.metrics.latency.labels(self.metrics.service, method, template).observe(
                time.perf_counter() - started
            )


ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


async def always_ready() -> dict[str, bool]:
    return {}


def request_language(request: Request) -> str:
    """``en`` when the client asks for English first, else Vietnamese."""
    accept = request.headers.get("accept-language", "vi").lower()
    return "en" if accept.startswith("en") else "vi"
