"""Calls to the metrics and alerts services, with timeouts.

Errors the operator can act on (bad input, not found, conflict) come back in the platform's
error shape as the upstream service worded them; a service that does not answer, times out
or fails becomes a 503 that names it::

    UpstreamUnavailable (503)   the metrics or alerts service is down, slow or failing
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from ioc_common.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    IocError,
    NotFound,
    Unavailable,
)
from ioc_common.logs import get_logger
from ioc_gateway.observability import GatewayMetrics

log = get_logger("ioc.gateway.upstream")

SERVICE_NAMES_VI = {"metrics": "chỉ số (metrics)", "alerts": "cảnh báo (alerts)"}


@dataclass(eq=False)
class UpstreamUnavailable(Unavailable):
    service: str = ""
    code: ClassVar[str] = "upstream_unavailable"


def unavailable(service: str, why: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(
        f"Dịch vụ {SERVICE_NAMES_VI.get(service, service)} hiện không phản hồi; "
        "vui lòng thử lại sau",
        f"The {service} service is unavailable ({why}); please retry later",
        [FieldError("service", service)],
        retry_after=5.0,
        service=service,
    )


_PASS_THROUGH: dict[int, type[IocError]] = {404: NotFound, 409: Conflict, 422: InvalidInput}


class Upstream:
    def __init__(
        self,
        service: str,
        client: httpx.AsyncClient,
        metrics: GatewayMetrics,
    ) -> None:
        self.service = service
        self.client = client
        self.metrics = metrics

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        actor: str | None = None,
    ) -> Any:
        headers = {"X-IOC-Actor": actor} if actor else {}
        try:
            response = await self.client.request(
                method, path, params=params, json=json, headers=headers
            )
        except httpx.TimeoutException:
            self._failed("timeout", path)
            raise unavailable(self.service, "timeout") from None
        except httpx.HTTPError as exc:
            self._failed("connect", path, type(exc).__name__)
            raise unavailable(self.service, "not reachable") from None
        if response.status_code >= 500 or response.status_code in (401, 403):
            # 401/403: the gateway's own credentials for the service are wrong — an outage
            # of the link, not the operator's fault.
            self._failed(f"http_{response.status_code}", path)
            raise unavailable(self.service, f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise self._passed_on(response)
        return response.json()

    async def get(self, path: str, params: Any = None) -> Any:
        return await self.request("GET", path, params=params)

    def _failed(self, reason: str, path: str, detail: str = "") -> None:
        self.metrics.upstream_errors.labels(self.service, reason).inc()
        log.warning(
            "gateway.upstream_failed", service=self.service, reason=reason, path=path, detail=detail
        )

    def _passed_on(self, response: httpx.Response) -> IocError:
        try:
            error = response.json()["error"]
            details = [
                FieldError(d.get("field", ""), d.get("reason", "")) for d in error["details"]
            ]
            vi, en = str(error["message"]), str(error.get("message_en") or error["message"])
        except (ValueError, KeyError, TypeError, AttributeError):
            details, vi, en = [], "Yêu cầu không hợp lệ", f"Request refused by {self.service}"
        kind = _PASS_THROUGH.get(response.status_code, InvalidInput)
        return kind(vi, en, details)
