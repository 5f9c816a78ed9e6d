"""Session tokens expire and cannot be forged; ``ioc users create|list|disable`` manage the
operators, with argon2id hashes and an audit trail."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid

import pytest
import sqlalchemy as sa

from ioc_common.audit import audit_log
from ioc_common.db import create_engine, session_factory
from ioc_common.errors import Unauthenticated
from ioc_common.testing import run_ioc, tampered
from ioc_gateway.auth import Session, TokenSigner, UserStore, check_password, hash_password


def test_a_token_names_its_user_until_it_expires() -> None:
    signer = TokenSigner(b"k" * 32, ttl_s=60)
    token, exp = signer.issue("an.nv", 3, now=1_000)
    assert exp == 1_060
    assert signer.verify(token, now=1_059) == Session("an.nv", 3, 1_060)
    with pytest.raises(Unauthenticated, match="expired"):
        signer.verify(token, now=1_060)


def test_a_forged_or_foreign_token_is_refused() -> None:
    signer = TokenSigner(b"k" * 32, ttl_s=60)
    token, _ = signer.issue("viewer", now=1_000)
    body, mac = token.split(".")
    claims = json.dumps({"sub": "admin", "ver": 0, "exp": 9_999_999_999, "jti": "x"}).encode()
    forged = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
    assert signer.verify(token, now=1_001).username == "viewer"
    for bad in (
        f"{forged}.{mac}",  # other claims under the genuine MAC
        f"{body}.{tampered(mac)}",
        TokenSigner(b"x" * 32, ttl_s=60).issue("viewer", now=1_000)[0],
        "",
        "garbage",
    ):
        with pytest.raises(Unauthenticated):
            signer.verify(bad, now=1_001)


def test_a_token_without_a_version_is_refused() -> None:
    """Tokens from before session revocation carried no version: they are not trusted."""
    signer = TokenSigner(b"k" * 32, ttl_s=60)
    claims = json.dumps({"sub": "an.nv", "exp": 9_999_999_999, "jti": "x"}).encode()
    body = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated):
        signer.verify(f"{body}.{signer._mac(body)}")


def test_passwords_are_hashed_with_argon2id() -> None:
    stored = hash_password("mat-khau-rat-dai-123")
    assert stored.startswith("$argon2id$")
    assert check_password(stored, "mat-khau-rat-dai-123")
    assert not check_password(stored, "mat-khau-rat-dai-124")
    assert not check_password("not a hash", "x")


@pytest.mark.connected
async def test_users_cli_creates_lists_and_disables(database_url: str) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    db = ["--database-url", database_url]

    def create(
        username: str, role: str, scope: str, *password: str, stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        user = ["--username", username, "--role", role, "--scope", scope]
        return run_ioc("users", "create", *user, *password, *db, stdin=stdin)

    created = create(name, "operator", "071", "--password-stdin", stdin="mat-khau-rat-dai-123\n")
    assert created.returncode == 0, created.stderr
    again = create(name, "operator", "071", "--password", "mat-khau-rat-dai-123")
    assert again.returncode == 2
    assert "already exists" in again.stderr
    bad = create(f"{name}-x", "viewer", "999", "--password", "ngan")
    assert bad.returncode == 2
    assert "scope" in bad.stderr
    assert "password" in bad.stderr

    listed = {u["username"]: u for u in json.loads(run_ioc("users", "list", "--json", *db).stdout)}
    assert listed[name] | {"last_login_at": None} == {
        "username": name,
        "role": "operator",
        "scope": "071",
        "disabled": False,
        "last_login_at": None,
    }
    assert f"{name}-x" not in listed
    assert run_ioc("users", "disable", name, *db).returncode == 0
    listed = {u["username"]: u for u in json.loads(run_ioc("users", "list", "--json", *db).stdout)}
    assert listed[name]["disabled"] is True
    assert run_ioc("users", "disable", f"{name}-nobody", *db).returncode == 2

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            actions = (
                (
                    await conn.execute(
                        sa.select(audit_log.c.action)
                        .where(audit_log.c.target == name, audit_log.c.service == "gateway")
                        .order_by(audit_log.c.id)
                    )
                )
                .scalars()
                .all()
            )
            stored = await conn.scalar(
                sa.text("SELECT password_hash FROM gateway_users WHERE username = :u"), {"u": name}
            )
    finally:
        await engine.dispose()
    assert actions == ["user.create", "user.disable"]
    assert str(stored).startswith("$argon2id$")


@pytest.mark.connected
async def test_users_cli_enables_and_sets_a_password(database_url: str) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    db = ["--database-url", database_url]
    old, new = "mat-khau-rat-dai-123", "mat-khau-moi-456789"
    create = ("users", "create", "--username", name, "--role", "viewer", "--scope", "072")
    assert run_ioc(*create, "--password", old, *db).returncode == 0
    assert run_ioc("users", "disable", name, *db).returncode == 0
    assert run_ioc("users", "enable", name, *db).returncode == 0
    short = run_ioc("users", "password", name, "--password-stdin", *db, stdin="ngan\n")
    assert short.returncode == 2
    assert "password" in short.stderr
    changed = run_ioc("users", "password", name, "--password-stdin", *db, stdin=new + "\n")
    assert changed.returncode == 0, changed.stderr

    engine = create_engine(database_url, pool_size=1)
    try:
        store = UserStore(session_factory(engine), cache_ttl_s=0)
        user = await store.login(name, new)
        assert not user.disabled
        with pytest.raises(Unauthenticated):
            await store.login(name, old)
    finally:
        await engine.dispose()
