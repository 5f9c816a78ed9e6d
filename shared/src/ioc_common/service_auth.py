"""Who may call an internal API, and who acts through it.

Only ingest and the gateway face people. The metrics and alerts APIs answer only a caller that
presents their service token (``Authorization: Bearer …``; today the one caller is the
gateway); ``/healthz`` and ``/readyz`` stay open, ``/metrics`` too unless a service's
``metrics_require_token`` says otherwise.

A service token says *which service* calls, never *which person*. When the gateway acts for an
operator it adds an **actor assertion**: a short-lived statement "operator X (role, unit scope,
from this address and browser) does METHOD PATH now", signed with HMAC-SHA256 under a key the
gateway shares with alerts only. Alerts believes an actor only from a valid assertion, so a
holder of the service token alone cannot act in an operator's name, and an assertion cannot
be replayed on another endpoint or after it expired.

    header   X-IOC-Actor-Assertion: <base64url(JSON claims)>.<base64url(HMAC-SHA256)>
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Final

import orjson
from pydantic import SecretStr
from starlette.requests import HTTPConnection

from ioc_common.errors import Unauthenticated

ACTOR_HEADER: Final = "X-IOC-Actor-Assertion"
#: How long an assertion is believed: one forwarded request, with clock skew to spare.
ACTOR_TTL_S: Final = 60
#: Paths every caller may reach (load balancers, orchestrators).
OPEN_PATHS: Final = frozenset({"/healthz", "/readyz"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _secret(value: SecretStr | str) -> bytes:
    return (value.get_secret_value() if isinstance(value, SecretStr) else value).encode()


# --- service tokens ----------------------------------------------------------------------------


def bearer(request: HTTPConnection) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def token_matches(given: str, expected: SecretStr | str) -> bool:
    """Constant-time comparison (of digests, so the length leaks nothing either)."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(_secret(expected)).digest()
    )


def require_service_token(
    expected: Callable[[HTTPConnection], SecretStr | None],
) -> Callable[[HTTPConnection], Awaitable[None]]:
    """A FastAPI dependency refusing (401) a caller without the service token. ``expected``
    reads the token from the app's settings; None (only possible in ``ioc dev``, where the
    settings check lets it be unset) leaves the API open."""

    async def check(request: HTTPConnection) -> None:
        token = expected(request)
        if token is None:
            return
        if not token_matches(bearer(request), token):
            raise Unauthenticated(
                "Thiếu hoặc sai mã dịch vụ: API này chỉ dành cho các dịch vụ của nền tảng",
                "Missing or wrong service token: this API is for the platform's services only",
            )

    return check


# --- actor assertions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActorClaims:
    """Who acts, as the gateway verified it, and on which request."""

    actor: str
    role: str
    unit_scope: str
    method: str
    path: str
    source_address: str | None = None
    user_agent: str | None = None
    expires_at: int = 0


def sign_actor(claims: ActorClaims, key: SecretStr | str, *, ttl_s: int = ACTOR_TTL_S) -> str:
    """The header value stating ``claims`` (its ``expires_at`` is set here)."""
    body = {**asdict(claims), "expires_at": int(time.time()) + ttl_s}
    payload = _b64(orjson.dumps(body))
    signature = hmac.new(_secret(key), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(signature)}"


def _refused(en: str) -> Unauthenticated:
    return Unauthenticated(
        "Không xác minh được người thực hiện (chữ ký của cổng thiếu, sai hoặc hết hạn)",
        f"Cannot verify who acts: {en}",
    )


def verify_actor(
    header: str | None, key: SecretStr | str, *, method: str, path: str, now: float | None = None
) -> ActorClaims:
    """The claims of a valid assertion for this request; ``Unauthenticated`` otherwise."""
    if not header:
        raise _refused(f"no {ACTOR_HEADER} header")
    payload, _, signature = header.partition(".")
    expected = hmac.new(_secret(key), payload.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(signature)
        valid = hmac.compare_digest(given, expected)
        claims = ActorClaims(**orjson.loads(_unb64(payload))) if valid else None
    except (ValueError, TypeError):
        raise _refused("malformed assertion") from None
    if claims is None:
        raise _refused("bad signature")
    if claims.expires_at < (time.time() if now is None else now):
        raise _refused("expired assertion")
    if (claims.method, claims.path) != (method.upper(), path):
        raise _refused("assertion made for another request")
    if not claims.actor or len(claims.actor) > 128:
        raise _refused("no actor in the assertion")
    return claims


def service_headers(
    token: SecretStr | str | None,
    *,
    actor: str | None = None,
    key: SecretStr | str | None = None,
    method: str = "GET",
    path: str = "",
    role: str = "admin",
    unit_scope: str = "",
    source_address: str | None = None,
    user_agent: str | None = None,
) -> dict[str, str]:
    """What a caller sends to an internal service: its bearer token (None: the client sends it
    already) and, to act in someone's name, an assertion for this ``method`` and ``path`` — the
    gateway for an operator (their role, scope, address and browser), ``ioc dev``'s simulator,
    tests and benchmarks as trusted tools. Without a key (only ``ioc dev`` allows that) the
    plain ``X-IOC-Actor`` name is sent instead, which alerts believes only there."""
    headers: dict[str, str] = {}
    if token:
        headers["Authorization"] = f"Bearer {_secret(token).decode()}"
    if actor is not None and key:
        claims = ActorClaims(
            actor,
            role,
            unit_scope,
            method.upper(),
            path.partition("?")[0],
            source_address,
            user_agent,
        )
        headers[ACTOR_HEADER] = sign_actor(claims, key)
    elif actor is not None:
        headers["X-IOC-Actor"] = actor
    return headers
