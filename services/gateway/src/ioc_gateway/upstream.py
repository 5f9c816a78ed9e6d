"""Calls to the metrics and alerts services, with timeouts.

Errors the operator can act on (bad input, not found, conflict) come back in the platform's
error shape as the upstream service worded them; a service that does not answer, times out
or fails — or answers in a shape other than its contract (``ioc_common.contracts``) — becomes
a 503 that names it::

    UpstreamUnavailable (503)   the metrics or alerts service is down, slow, failing or
                                answering outside its contract

``MetricsApi`` and ``AlertsApi`` are the typed clients: each method is one endpoint the
gateway uses, its answer validated into the contract's model.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, TypedDict, TypeVar, Unpack

import httpx
from pydantic import BaseModel, SecretStr, ValidationError
from starlette.requests import HTTPConnection

from ioc_common.catalogue import Pillar
from ioc_common.contracts.alerts import (
    AlertDetailOut,
    AlertsPage,
    AssessmentsOut,
    SilenceOut,
    SilencesPage,
    TargetsPage,
)
from ioc_common.contracts.metrics import FreshnessPage, RankingOut, ScorecardOut, SeriesOut
from ioc_common.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    IocError,
    NotFound,
    Unavailable,
)
from ioc_common.events import AlertSeverity, AlertState
from ioc_common.logs import get_logger
from ioc_common.service_auth import service_headers
from ioc_common.timeutil import Granularity
from ioc_gateway.auth import Operator
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

M = TypeVar("M", bound=BaseModel)


class CallOptions(TypedDict, total=False):
    """What a call carries besides its method and path (``Upstream.request``)."""

    params: Any
    json: Any
    actor: Operator | None
    origin: HTTPConnection | None


#: The operator's own request, for the address and browser the service's audit log records.
Origin = HTTPConnection | None


class Upstream:
    def __init__(
        self,
        service: str,
        client: httpx.AsyncClient,
        metrics: GatewayMetrics,
        actor_key: SecretStr | None = None,
    ) -> None:
        self.service = service
        self.client = client
        self.metrics = metrics
        #: Signs the operator's identity for the service (``ioc_common.service_auth``).
        self.actor_key = actor_key

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        actor: Operator | None = None,
        origin: HTTPConnection | None = None,
    ) -> Any:
        """``actor``: the operator this call acts for, stated to the service in a signed,
        short-lived assertion bound to this method and path (``origin``: the operator's own
        request, for the address and browser the service's audit log records)."""
        headers = (
            service_headers(
                None,  # the client sends the service token on every request
                actor=actor.username,
                key=self.actor_key,
                method=method,
                path=path,
                role=actor.role.value,
                unit_scope=actor.scope,
                source_address=origin.client.host if origin and origin.client else None,
                user_agent=origin.headers.get("user-agent") if origin else None,
            )
            if actor is not None
            else {}
        )
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

    async def answer(
        self, model: type[M], method: str, path: str, **call: Unpack[CallOptions]
    ) -> M:
        """``request``, its answer validated into ``model``: one that does not fit breaks the
        link like an outage does (a 503 naming the service), not the gateway (a 500)."""
        body = await self.request(method, path, **call)
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            self._failed("contract", path, f"{model.__name__}: {exc.error_count()} errors")
            raise unavailable(self.service, f"{model.__name__} contract broken") from None

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


class MetricsApi(Upstream):
    """The metrics service's query API (``ioc_common.contracts.metrics``)."""

    def __init__(self, client: httpx.AsyncClient, metrics: GatewayMetrics) -> None:
        super().__init__("metrics", client, metrics)

    async def scorecard(self, code: str, granularity: Granularity) -> ScorecardOut:
        return await self.answer(
            ScorecardOut,
            "GET",
            f"/v1/units/{code}/scorecard",
            params={"granularity": granularity.value},
        )

    async def rankings(
        self, indicator: str, province: str, granularity: Granularity, period: str
    ) -> RankingOut:
        params = {
            "indicator": indicator,
            "province": province,
            "granularity": granularity.value,
            "period": period,
            "limit": 1000,
        }
        return await self.answer(RankingOut, "GET", "/v1/rankings", params=params)

    async def values(
        self, indicator: str, unit: str, granularity: Granularity, first: str, last: str
    ) -> SeriesOut:
        """``first`` and ``last``: period labels (``2024-05``, ``2024-Q2`` …), both included."""
        params = {
            "indicator": indicator,
            "unit": unit,
            "granularity": granularity.value,
            "from": first,
            "to": last,
            "limit": 1000,
        }
        return await self.answer(SeriesOut, "GET", "/v1/values", params=params)

    async def freshness(self, province: str, indicator: str | None = None) -> FreshnessPage:
        params: dict[str, Any] = {"province": province, "limit": 1000}
        if indicator is not None:
            params["indicator"] = indicator
        return await self.answer(FreshnessPage, "GET", "/v1/freshness", params=params)


class AlertsApi(Upstream):
    """The alerts service's API as operators use it (``ioc_common.contracts.alerts``); every
    change is made in the operator's name (``actor``, ``origin``: see ``request``)."""

    def __init__(
        self, client: httpx.AsyncClient, metrics: GatewayMetrics, actor_key: SecretStr | None
    ) -> None:
        super().__init__("alerts", client, metrics, actor_key)

    async def alerts(
        self,
        *,
        states: Sequence[AlertState] = (),
        severity: AlertSeverity | None = None,
        pillar: Pillar | None = None,
        indicator: str | None = None,
        limit: int = 500,
    ) -> AlertsPage:
        params: dict[str, Any] = {"limit": limit}
        if states:
            params["state"] = [s.value for s in states]
        for name, value in (("severity", severity), ("pillar", pillar), ("indicator", indicator)):
            if value is not None:
                params[name] = str(value)
        return await self.answer(AlertsPage, "GET", "/v1/alerts", params=params)

    async def alert(self, alert_id: uuid.UUID) -> AlertDetailOut:
        return await self.answer(AlertDetailOut, "GET", f"/v1/alerts/{alert_id}")

    async def acknowledge(
        self, alert_id: uuid.UUID, note: str, *, actor: Operator, origin: Origin = None
    ) -> AlertDetailOut:
        return await self._act(alert_id, "acknowledge", note, actor, origin)

    async def resolve(
        self, alert_id: uuid.UUID, note: str | None, *, actor: Operator, origin: Origin = None
    ) -> AlertDetailOut:
        return await self._act(alert_id, "resolve", note, actor, origin)

    async def _act(
        self, alert_id: uuid.UUID, verb: str, note: str | None, actor: Operator, origin: Origin
    ) -> AlertDetailOut:
        path = f"/v1/alerts/{alert_id}/{verb}"
        body = {"note": note}
        return await self.answer(
            AlertDetailOut, "POST", path, json=body, actor=actor, origin=origin
        )

    async def silences(self, *, active: bool | None = None) -> SilencesPage:
        params: dict[str, Any] = {"limit": 500}
        if active is not None:
            params["active"] = str(active).lower()
        return await self.answer(SilencesPage, "GET", "/v1/silences", params=params)

    async def silence(self, silence_id: uuid.UUID) -> SilenceOut:
        return await self.answer(SilenceOut, "GET", f"/v1/silences/{silence_id}")

    async def create_silence(
        self, body: dict[str, Any], *, actor: Operator, origin: Origin = None
    ) -> SilenceOut:
        """``body``: the alerts service's ``SilenceIn``, as JSON."""
        return await self.answer(
            SilenceOut, "POST", "/v1/silences", json=body, actor=actor, origin=origin
        )

    async def expire_silence(
        self, silence_id: uuid.UUID, *, actor: Operator, origin: Origin = None
    ) -> SilenceOut:
        path = f"/v1/silences/{silence_id}"
        return await self.answer(SilenceOut, "DELETE", path, actor=actor, origin=origin)

    async def assessments(
        self,
        *,
        as_of: date,
        indicator: str,
        unit: str | None = None,
        level: str | None = None,
    ) -> AssessmentsOut:
        """Which units were on track / lagging / missing at ``as_of`` (one ``unit`` or every
        unit of a ``level``); read-only."""
        params: dict[str, Any] = {"as_of": as_of.isoformat(), "indicator": indicator}
        if unit is not None:
            params["unit"] = unit
        if level is not None:
            params["level"] = level
        return await self.answer(AssessmentsOut, "GET", "/v1/assessments", params=params)

    async def targets(self, *, offset: int = 0, limit: int = 500) -> TargetsPage:
        """Enabled targets only."""
        params = {"enabled": "true", "limit": limit, "offset": offset}
        return await self.answer(TargetsPage, "GET", "/v1/targets", params=params)
