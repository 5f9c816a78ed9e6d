"""Request dependencies, as ``Annotated`` aliases the routes declare."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ioc_common.errors import FieldError, InvalidInput, RateLimited, Unauthenticated
from ioc_ingest.keys import ApiKey
from ioc_ingest.state import IngestState


async def get_state(request: Request) -> IngestState:
    # async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread
    # hand-off on every request (it was ≈ 15 % of a single-event request's time).
    state: IngestState = request.app.state.ingest
    return state


State = Annotated[IngestState, Depends(get_state)]

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="BearerKey",
    description="Authorization: Bearer ioc_xxxxxxxx_… — khóa API của đơn vị / the provider's key",
)
header_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="HeaderKey",
    description="X-API-Key: ioc_xxxxxxxx_… — cách thay thế / the alternative header",
)


async def current_key(
    state: State,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    header: Annotated[str | None, Security(header_scheme)],
) -> ApiKey:
    return await _verify(state, header or (bearer.credentials if bearer is not None else None))


async def request_key(request: Request) -> tuple[IngestState, ApiKey]:
    """What ``State`` and ``KeyDep`` give, without FastAPI's dependency solving: the
    write endpoints call this themselves (solving their dependencies cost ≈ 13 % of a
    single-event request) and document the key schemes with ``KEY_SECURITY``."""
    state: IngestState = request.app.state.ingest
    bearer = await bearer_scheme(request)
    header = await header_scheme(request)
    raw = header or (bearer.credentials if bearer is not None else None)
    return state, await _verify(state, raw)


#: The OpenAPI ``security`` of an endpoint that calls ``request_key``.
KEY_SECURITY: list[dict[str, list[str]]] = [
    {bearer_scheme.scheme_name: []},
    {header_scheme.scheme_name: []},
]


async def _verify(state: IngestState, raw: str | None) -> ApiKey:
    try:
        key = await state.auth.verify(raw)
    except Unauthenticated:
        state.metrics.auth_failures.labels("unauthenticated").inc()
        raise
    wait = state.limiter.take(key.prefix)
    if wait is not None:
        state.metrics.rate_limited.inc()
        raise RateLimited(
            "Gửi quá nhanh; vui lòng chờ rồi gửi lại",
            "Too many requests for this API key; retry after the given delay",
            retry_after=wait,
        )
    return key


KeyDep = Annotated[ApiKey, Depends(current_key)]


async def read_json(request: Request) -> object:
    """The body as JSON (read here, under the body cap, so each item can be judged alone)."""
    body = await request.body()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            "Nội dung không phải JSON hợp lệ",
            "The body is not valid JSON",
            [FieldError("body", f"JSON sai cú pháp / malformed JSON: {exc}")],
        ) from None
