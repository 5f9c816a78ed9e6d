"""API keys: how data providers prove who they are, and what each key may write.

A key looks like ``ioc_<prefix>_<secret>``: the 8-character prefix is public and finds the row;
the secret (256 random bits) is stored only as its SHA-256. A fast hash is enough here because
the secret is random and long, so no dictionary or brute-force attack applies (unlike a
password, which needs a slow hash); the comparison is constant-time.

Scope: ``families`` (never empty), ``indicators`` (for observation events; empty = any catalogue
indicator), ``units`` (codes a key may write, each with everything under it), or ``all_units``
for the province-wide keys an admin creates explicitly.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Final, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_common import audit
from ioc_common.db import transaction
from ioc_common.errors import (
    DatabaseUnavailable,
    FieldError,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from ioc_common.events import Family
from ioc_common.reference.units import within
from ioc_common.timeutil import utc_now
from ioc_ingest.tables import api_keys

KEY_PREFIX: Final = "ioc"
_PREFIX_ALPHABET: Final = "abcdefghijkmnpqrstuvwxyz23456789"  # no look-alikes (l/1, o/0)
_PREFIX_LEN: Final = 8
_SERVICE: Final = "ingest"


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_key() -> tuple[str, str, bytes]:
    """A fresh key: ``(full key shown once, prefix, SHA-256 of the secret)``."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(_PREFIX_LEN))
    secret = secrets.token_urlsafe(32)  # 256 bits
    return f"{KEY_PREFIX}_{prefix}_{secret}", prefix, hash_secret(secret)


def mint_key(
    provider: str,
    families: Sequence[str],
    indicators: Sequence[str],
    units: Sequence[str],
    all_units: bool,
    *,
    label: str = "",
    created_by: str = "",
) -> tuple[ApiKey, str, bytes]:
    """A new key with that scope (checked first): ``(key, full key shown once, SHA-256 of the
    secret)``; each store keeps the key and the hash its own way."""
    check_scope_args(provider, families, units, all_units)
    raw, prefix, digest = new_key()
    key = ApiKey(
        id=uuid.uuid4(),
        prefix=prefix,
        provider=provider,
        families=tuple(families),
        indicators=tuple(indicators),
        units=tuple(units),
        all_units=all_units,
        label=label,
        created_at=utc_now(),
        created_by=created_by,
    )
    return key, raw, digest


def split_key(raw: str) -> tuple[str, str] | None:
    """``(prefix, secret)`` of a well-formed key, else None."""
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != _PREFIX_LEN:
        return None
    if not parts[2] or len(parts[2]) > 128:
        return None
    return parts[1], parts[2]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key's identity and scope, as the request handlers see it (never the secret)."""

    id: uuid.UUID
    prefix: str
    provider: str
    families: tuple[str, ...]
    indicators: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    all_units: bool = False
    label: str = ""
    created_at: datetime | None = None
    created_by: str = ""
    revoked_at: datetime | None = None

    def out_of_scope(
        self, family: str, indicator: str | None, unit_code: str, on: date
    ) -> list[FieldError]:
        """Why this key may not write that event (empty when it may)."""
        errors: list[FieldError] = []
        if family not in self.families:
            errors.append(
                FieldError(
                    "family",
                    f"khóa API không được phép gửi nhóm dữ liệu {family!r} / "
                    f"this API key may not write family {family!r} "
                    f"(allowed: {', '.join(self.families)})",
                )
            )
        elif indicator is not None and self.indicators and indicator not in self.indicators:
            errors.append(
                FieldError(
                    "indicator",
                    f"khóa API không được phép gửi chỉ tiêu {indicator!r} / "
                    f"this API key may not write indicator {indicator!r}",
                )
            )
        if not self.all_units and not self._covers(unit_code, on):
            errors.append(
                FieldError(
                    "unit_code",
                    f"khóa API không được phép gửi số liệu của đơn vị {unit_code} / "
                    f"this API key may not write unit {unit_code} "
                    f"(allowed: {', '.join(self.units) or 'none'} and the units under them)",
                )
            )
        return errors

    def _covers(self, unit_code: str, on: date) -> bool:
        # The platform's one reform-aware rule: a key for 2025 province 08 may also back-fill
        # the former 02 Hà Giang it absorbed, a key for 02 its area's new communes.
        return any(within(allowed, unit_code, on) for allowed in self.units)


@dataclass(frozen=True, slots=True)
class StoredKey:
    key: ApiKey
    secret_sha256: bytes


class KeyStore(Protocol):
    async def find(self, prefix: str) -> StoredKey | None: ...

    async def is_ready(self) -> bool: ...


def _unauthenticated(why_vi: str, why_en: str) -> Unauthenticated:
    return Unauthenticated(
        f"Khóa API không hợp lệ: {why_vi}",
        f"Invalid API key: {why_en}",
    )


@dataclass
class Authenticator:
    """Verifies keys against the store, caching found rows for ``ttl_s`` seconds."""

    store: KeyStore
    ttl_s: float = 5.0
    _cache: dict[str, tuple[float, StoredKey | None]] = field(default_factory=dict)

    async def verify(self, raw: str | None) -> ApiKey:
        if not raw:
            raise _unauthenticated(
                "thiếu khóa; gửi 'Authorization: Bearer <khóa>' hoặc 'X-API-Key: <khóa>'",
                "missing; send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            )
        parts = split_key(raw)
        if parts is None:
            raise _unauthenticated("sai định dạng", "malformed key")
        prefix, secret = parts
        stored = await self._lookup(prefix)
        # Compare even when the prefix is unknown so timing says nothing about which part failed.
        expected = stored.secret_sha256 if stored is not None else bytes(32)
        matches = hmac.compare_digest(hash_secret(secret), expected)
        if stored is None or not matches:
            raise _unauthenticated("không tồn tại", "unknown key")
        if stored.key.revoked_at is not None:
            raise _unauthenticated("đã bị thu hồi", "the key was revoked")
        return stored.key

    async def _lookup(self, prefix: str) -> StoredKey | None:
        now = time.monotonic()
        if self.ttl_s > 0:
            hit = self._cache.get(prefix)
            if hit is not None and now - hit[0] < self.ttl_s:
                return hit[1]
        stored = await self.store.find(prefix)
        if self.ttl_s > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()  # bounded; unknown prefixes must not grow it forever
            self._cache[prefix] = (now, stored)
        return stored


def _row_to_key(row: sa.Row[tuple[object, ...]] | sa.RowMapping) -> ApiKey:
    m = row._mapping if isinstance(row, sa.Row) else row
    return ApiKey(
        id=m["id"],
        prefix=m["prefix"],
        provider=m["provider"],
        families=tuple(m["families"]),
        indicators=tuple(m["indicators"]),
        units=tuple(m["units"]),
        all_units=m["all_units"],
        label=m["label"],
        created_at=m["created_at"],
        created_by=m["created_by"],
        revoked_at=m["revoked_at"],
    )


def _db_down(exc: Exception) -> DatabaseUnavailable:
    return DatabaseUnavailable(
        "Cơ sở dữ liệu tạm thời không phản hồi; vui lòng gửi lại sau",
        f"The database did not answer ({type(exc).__name__}); retry later",
    )


class PgKeyStore:
    """Keys in PostgreSQL; the admin operations audit themselves in the same transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def find(self, prefix: str) -> StoredKey | None:
        try:
            async with self._sessions() as session:
                row = (
                    await session.execute(sa.select(api_keys).where(api_keys.c.prefix == prefix))
                ).first()
        except (SQLAlchemyError, OSError) as exc:
            raise _db_down(exc) from exc
        if row is None:
            return None
        return StoredKey(_row_to_key(row), bytes(row.secret_sha256))

    async def is_ready(self) -> bool:
        try:
            async with self._sessions() as session:
                await session.execute(sa.text("SELECT 1"))
        except Exception:  # any failure means "not ready"
            return False
        return True

    async def create(
        self,
        *,
        provider: str,
        families: Sequence[str],
        indicators: Sequence[str] = (),
        units: Sequence[str] = (),
        all_units: bool = False,
        label: str = "",
        actor: str,
    ) -> tuple[ApiKey, str]:
        """Store a new key; returns it and the full secret key (shown once, never stored)."""
        async with transaction(self._sessions) as session:
            key, raw = await self._insert(
                session,
                provider=provider,
                families=families,
                indicators=indicators,
                units=units,
                all_units=all_units,
                label=label,
                actor=actor,
            )
            await audit.record(
                session,
                service=_SERVICE,
                actor=actor,
                action="api_key.create",
                target=key.prefix,
                detail=_scope_detail(key),
            )
        return key, raw

    async def _insert(
        self,
        session: AsyncSession,
        *,
        provider: str,
        families: Sequence[str],
        indicators: Sequence[str],
        units: Sequence[str],
        all_units: bool,
        label: str,
        actor: str,
    ) -> tuple[ApiKey, str]:
        key, raw, digest = mint_key(
            provider, families, indicators, units, all_units, label=label, created_by=actor
        )
        prefix = key.prefix
        await session.execute(
            api_keys.insert().values(
                id=key.id,
                prefix=prefix,
                secret_sha256=digest,
                provider=provider,
                label=label,
                families=list(key.families),
                indicators=list(key.indicators),
                units=list(key.units),
                all_units=all_units,
                created_at=key.created_at,
                created_by=actor,
            )
        )
        return key, raw

    async def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        query = sa.select(api_keys).order_by(api_keys.c.provider, api_keys.c.created_at)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [_row_to_key(r) for r in rows]

    async def revoke(self, prefix: str, *, actor: str) -> ApiKey:
        async with transaction(self._sessions) as session:
            key = await self._revoke(session, prefix)
            await audit.record(
                session, service=_SERVICE, actor=actor, action="api_key.revoke", target=prefix
            )
        return key

    async def _revoke(
        self, session: AsyncSession, prefix: str, replaced_by: uuid.UUID | None = None
    ) -> ApiKey:
        row = (
            await session.execute(
                api_keys.update()
                .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=sa.func.now(), replaced_by=replaced_by)
                .returning(*api_keys.c)
            )
        ).first()
        if row is None:
            raise NotFound(
                f"Không có khóa đang hoạt động với tiền tố {prefix!r}",
                f"No active key with prefix {prefix!r}",
            )
        return _row_to_key(row)

    async def rotate(self, prefix: str, *, actor: str) -> tuple[ApiKey, str]:
        """A new secret with the same scope; the old key is revoked in the same transaction."""
        async with transaction(self._sessions) as session:
            old_row = (
                await session.execute(
                    sa.select(api_keys).where(
                        api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None)
                    )
                )
            ).first()
            if old_row is None:
                raise NotFound(
                    f"Không có khóa đang hoạt động với tiền tố {prefix!r}",
                    f"No active key with prefix {prefix!r}",
                )
            old = _row_to_key(old_row)
            key, raw = await self._insert(
                session,
                provider=old.provider,
                families=old.families,
                indicators=old.indicators,
                units=old.units,
                all_units=old.all_units,
                label=old.label,
                actor=actor,
            )
            await self._revoke(session, prefix, replaced_by=key.id)
            await audit.record(
                session,
                service=_SERVICE,
                actor=actor,
                action="api_key.rotate",
                target=prefix,
                detail={"new_prefix": key.prefix},
            )
        return key, raw


def _scope_detail(key: ApiKey) -> dict[str, object]:
    return {
        "provider": key.provider,
        "families": list(key.families),
        "indicators": list(key.indicators),
        "units": list(key.units),
        "all_units": key.all_units,
        "label": key.label,
    }


def check_scope_args(
    provider: str, families: Sequence[str], units: Sequence[str], all_units: bool
) -> None:
    """Refuse keys that could write nothing, or everything by accident."""
    errors: list[FieldError] = []
    if not provider or len(provider) > 64:
        errors.append(FieldError("provider", "1-64 characters"))
    if not families:
        errors.append(FieldError("families", "at least one family"))
    for f in families:
        if f not in {x.value for x in Family}:
            errors.append(FieldError("families", f"unknown family {f!r}"))
    if all_units and units:
        errors.append(FieldError("units", "give units, or all_units, not both"))
    if not all_units and not units:
        errors.append(FieldError("units", "give at least one unit code, or all_units"))
    if errors:
        raise InvalidInput("Phạm vi khóa không hợp lệ", "Invalid key scope", errors)


class InMemoryKeyStore:
    """A real fake of the key table for fast unit tests."""

    def __init__(self) -> None:
        self.rows: dict[str, StoredKey] = {}
        self.available = True

    async def find(self, prefix: str) -> StoredKey | None:
        if not self.available:
            raise _db_down(ConnectionError("in-memory store switched off"))
        return self.rows.get(prefix)

    async def is_ready(self) -> bool:
        return self.available

    def create(
        self,
        *,
        provider: str,
        families: Sequence[str],
        indicators: Sequence[str] = (),
        units: Sequence[str] = (),
        all_units: bool = False,
    ) -> tuple[ApiKey, str]:
        key, raw, digest = mint_key(provider, families, indicators, units, all_units)
        self.rows[key.prefix] = StoredKey(key, digest)
        return key, raw

    def revoke(self, prefix: str) -> None:
        stored = self.rows[prefix]
        self.rows[prefix] = StoredKey(
            replace(stored.key, revoked_at=utc_now()), stored.secret_sha256
        )
