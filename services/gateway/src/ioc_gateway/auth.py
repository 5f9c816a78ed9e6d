"""Operators: roles, argon2id password hashes, and signed expiring session tokens.

A token is ``<base64url(json claims)>.<base64url(HMAC-SHA256)>`` with the username, the
user's ``token_version``, the expiry and a random id; it travels in an HttpOnly cookie for the
dashboard (and its WebSocket and SSE feeds) or as ``Authorization: Bearer`` for API clients.
Every use looks the user up again (cached briefly) and refuses a token whose version is not
the user's current one: logout, a password change or reset, disabling the user and a change of
role or scope bump the version, which ends every session issued before.

Argon2 hashing and verification run in worker threads, at most ``hash_concurrency`` at once,
so a storm of logins cannot stall the event loop (health checks, live feeds).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_common import audit
from ioc_common.db import transaction
from ioc_common.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from ioc_common.timeutil import utc_now
from ioc_gateway.scope import scope_exists
from ioc_gateway.tables import users

SERVICE = "gateway"
COOKIE = "ioc_session"
_HASHER = PasswordHasher()  # argon2id with argon2-cffi's current recommended parameters
#: Verified against when the username is unknown, so both cases cost the same time.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def can_act(self) -> bool:
        """Acknowledge, resolve, silence."""
        return self is not Role.VIEWER


@dataclass(frozen=True, slots=True)
class Operator:
    username: str
    role: Role
    scope: str
    disabled: bool = False
    last_login_at: datetime | None = None
    #: Sessions carry the version they were issued with; a bump ends them all.
    token_version: int = 0


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_password(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class Passwords:
    """Argon2 off the event loop: each hash or verification runs in a worker thread, at most
    ``concurrency`` at once (argon2id is meant to be slow and memory-hungry; the rest wait
    here, not in the thread pool). ``verify`` and ``hasher`` are the blocking functions (tests
    pass instrumented ones)."""

    def __init__(
        self,
        concurrency: int = 2,
        *,
        verify: Callable[[str, str], bool] = check_password,
        hasher: Callable[[str], str] = hash_password,
    ) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._verify = verify
        self._hash = hasher

    async def verify(self, stored_hash: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify, stored_hash, password)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hash, password)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Session:
    """What a verified token says: who, under which ``token_version``, until when."""

    username: str
    version: int
    expires: int


class TokenSigner:
    def __init__(self, secret: bytes, ttl_s: int) -> None:
        self._secret = secret
        self.ttl_s = ttl_s

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())

    def issue(self, username: str, version: int = 0, now: float | None = None) -> tuple[str, int]:
        """A token for ``username`` at the user's ``token_version``, and its expiry (Unix
        seconds)."""
        exp = int((now if now is not None else time.time()) + self.ttl_s)
        claims = {"sub": username, "ver": version, "exp": exp, "jti": secrets.token_urlsafe(9)}
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}", exp

    def verify(self, token: str, now: float | None = None) -> Session:
        """What a valid, unexpired token says; raises ``Unauthenticated``. Whether its
        version is still the user's is for ``UserStore.session`` to say."""
        body, _, mac = token.partition(".")
        if not body or not mac or not hmac.compare_digest(mac, self._mac(body)):
            raise _unauthenticated("Phiên đăng nhập không hợp lệ", "Invalid session")
        try:
            claims = json.loads(_unb64(body))
            session = Session(str(claims["sub"]), int(claims["ver"]), int(claims["exp"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise _unauthenticated("Phiên đăng nhập không hợp lệ", "Invalid session") from None
        if session.expires <= (now if now is not None else time.time()):
            raise _unauthenticated(
                "Phiên đăng nhập đã hết hạn, vui lòng đăng nhập lại",
                "Session expired; please log in again",
            )
        return session


def _unauthenticated(vi: str, en: str) -> Unauthenticated:
    return Unauthenticated(vi, en)


def _row_to_operator(row: sa.RowMapping) -> Operator:
    return Operator(
        username=row["username"],
        role=Role(row["role"]),
        scope=row["unit_scope"],
        disabled=row["disabled"],
        last_login_at=row["last_login_at"],
        token_version=row["token_version"],
    )


def _check_new_user(username: str, role: str, scope: str, password: str) -> list[FieldError]:
    errors = []
    if (
        not (1 <= len(username) <= 64)
        or not username.replace(".", "")
        .replace("-", "")
        .replace("_", "")
        .replace("@", "")
        .isalnum()
    ):
        errors.append(FieldError("username", "1–64 letters, digits, . - _ @"))
    if role not in {r.value for r in Role}:
        errors.append(FieldError("role", "one of viewer, operator, admin"))
    if not scope_exists(scope):
        errors.append(FieldError("scope", f"{scope!r} is not a province or district code"))
    if len(password) < 10:
        errors.append(FieldError("password", "at least 10 characters"))
    return errors


#: The update that ends every session a user holds.
_REVOKE: dict[str, object] = {"token_version": users.c.token_version + 1}


class UserStore:
    """Users in PostgreSQL, with a short cache for the per-request lookup."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cache_ttl_s: float,
        passwords: Passwords | None = None,
    ) -> None:
        self._sessions = sessions
        self._ttl = cache_ttl_s
        self._cache: dict[str, tuple[float, Operator | None]] = {}
        self.passwords = passwords or Passwords()

    async def get(self, username: str) -> Operator | None:
        hit = self._cache.get(username)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        async with self._sessions() as session:
            row = (
                (await session.execute(sa.select(users).where(users.c.username == username)))
                .mappings()
                .first()
            )
        found = _row_to_operator(row) if row is not None else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[username] = (time.monotonic() + self._ttl, found)
        return found

    async def active(self, username: str) -> Operator:
        user = await self.get(username)
        if user is None or user.disabled:
            raise _unauthenticated(
                "Tài khoản không tồn tại hoặc đã bị khóa", "Unknown or disabled account"
            )
        return user

    async def session(self, claims: Session) -> Operator:
        """The user a verified token names, if enabled and the token's version is still the
        user's (this replica forgets its cached entry whenever it bumps the version; other
        replicas notice within ``user_cache_ttl_s``)."""
        user = await self.active(claims.username)
        if user.token_version != claims.version:
            raise _unauthenticated(
                "Phiên đăng nhập đã bị thu hồi, vui lòng đăng nhập lại",
                "Session revoked; please log in again",
            )
        return user

    async def login(self, username: str, password: str) -> Operator:
        """The user if the password matches and the account is enabled; audited either way."""
        async with self._sessions() as session:
            found = (
                (await session.execute(sa.select(users).where(users.c.username == username)))
                .mappings()
                .first()
            )
        # Verified outside any transaction: no connection is held while argon2 works.
        ok = await self.passwords.verify(found["password_hash"] if found else _DUMMY_HASH, password)
        rehashed = None
        if ok and found is not None and _HASHER.check_needs_rehash(found["password_hash"]):
            rehashed = await self.passwords.hash(password)
        async with transaction(self._sessions) as session:
            row = found
            ok = ok and row is not None and not row["disabled"]
            await audit.record(
                session,
                service=SERVICE,
                actor=username[:128] or "?",
                action="login" if ok else "login.failed",
            )
            if ok and row is not None:
                now = utc_now()
                await session.execute(
                    sa.update(users).where(users.c.username == username).values(last_login_at=now)
                )
                if rehashed is not None:
                    await session.execute(
                        sa.update(users)
                        .where(users.c.username == username)
                        .values(password_hash=rehashed)
                    )
        if not ok or row is None:
            raise _unauthenticated("Sai tên đăng nhập hoặc mật khẩu", "Wrong username or password")
        return _row_to_operator(row)

    async def create(
        self, *, username: str, role: str, scope: str, password: str, actor: str
    ) -> Operator:
        errors = _check_new_user(username, role, scope, password)
        if errors:
            raise InvalidInput("Thông tin người dùng không hợp lệ", "Invalid user", errors)
        password_hash = await self.passwords.hash(password)
        async with transaction(self._sessions) as session:
            exists = await session.scalar(
                sa.select(sa.func.count()).select_from(users).where(users.c.username == username)
            )
            if exists:
                raise Conflict("Tên đăng nhập đã tồn tại", f"User {username!r} already exists")
            await session.execute(
                users.insert().values(
                    username=username,
                    password_hash=password_hash,
                    role=role,
                    unit_scope=scope,
                    disabled=False,
                    created_at=utc_now(),
                    created_by=actor,
                )
            )
            await audit.record(
                session,
                service=SERVICE,
                actor=actor,
                action="user.create",
                target=username,
                detail={"role": role, "scope": scope},
            )
        self._cache.pop(username, None)
        return Operator(username=username, role=Role(role), scope=scope)

    async def list(self) -> list[Operator]:
        async with self._sessions() as session:
            rows = (
                (await session.execute(sa.select(users).order_by(users.c.username)))
                .mappings()
                .all()
            )
        return [_row_to_operator(r) for r in rows]

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(sa.select(sa.func.count()).select_from(users)) or 0)

    async def disable(self, username: str, *, actor: str) -> Operator:
        """Refuse the user's logins and end their sessions (other replicas: within the
        cache's seconds); enabling again does not bring the old sessions back."""
        return await self._update(username, {"disabled": True, **_REVOKE}, actor, "user.disable")

    async def revoke_sessions(self, username: str, *, actor: str, action: str) -> Operator:
        """End every session of ``username`` (logout ends them on every device)."""
        return await self._update(username, dict(_REVOKE), actor, action)

    async def set_access(
        self, username: str, *, role: str | None, scope: str | None, actor: str
    ) -> Operator:
        """A new role and/or unit scope; the user's sessions end (they log in again)."""
        errors = []
        if role is not None and role not in {r.value for r in Role}:
            errors.append(FieldError("role", "one of viewer, operator, admin"))
        if scope is not None and not scope_exists(scope):
            errors.append(FieldError("scope", f"{scope!r} is not a province or district code"))
        if role is None and scope is None:
            errors.append(FieldError("role", "give a role, a scope or both"))
        if errors:
            raise InvalidInput("Thông tin người dùng không hợp lệ", "Invalid user", errors)
        values: dict[str, object] = dict(_REVOKE)
        if role is not None:
            values["role"] = role
        if scope is not None:
            values["unit_scope"] = scope
        return await self._update(username, values, actor, "user.access")

    async def enable(self, username: str, *, actor: str) -> Operator:
        return await self._update(username, {"disabled": False}, actor, "user.enable")

    async def set_password(self, username: str, password: str, *, actor: str) -> Operator:
        if len(password) < 10:
            raise InvalidInput(
                "Mật khẩu quá ngắn",
                "Password too short",
                [FieldError("password", "at least 10 characters")],
            )
        values: dict[str, object] = {
            "password_hash": await self.passwords.hash(password),
            **_REVOKE,
        }
        return await self._update(username, values, actor, "user.password")

    async def change_own_password(self, username: str, current: str, new: str) -> Operator:
        """A logged-in user replaces their password; the current one must be given."""
        async with self._sessions() as session:
            stored = await session.scalar(
                sa.select(users.c.password_hash).where(users.c.username == username)
            )
        if stored is None or not await self.passwords.verify(stored, current):
            raise InvalidInput(
                "Mật khẩu hiện tại không đúng",
                "The current password is wrong",
                [FieldError("current_password", "does not match")],
            )
        return await self.set_password(username, new, actor=username)

    async def _update(
        self, username: str, values: dict[str, object], actor: str, action: str
    ) -> Operator:
        async with transaction(self._sessions) as session:
            row = (
                (
                    await session.execute(
                        sa.update(users)
                        .where(users.c.username == username)
                        .values(**values)
                        .returning(*users.c)
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound("Không tìm thấy người dùng", f"No user {username!r}")
            await audit.record(
                session, service=SERVICE, actor=actor, action=action, target=username
            )
        self._cache.pop(username, None)
        return _row_to_operator(row)


def require_admin(user: Operator) -> None:
    if user.role is not Role.ADMIN:
        raise Forbidden("Chỉ quản trị viên được quản lý người dùng", "Only admins manage users")


def require_actor_role(user: Operator) -> None:
    if not user.role.can_act:
        raise Forbidden(
            "Tài khoản chỉ xem không được thực hiện thao tác này",
            "Viewers may not perform this action",
        )
