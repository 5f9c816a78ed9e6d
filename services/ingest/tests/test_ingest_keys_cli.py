"""``ioc keys create|list|revoke|rotate`` on a real database, audited, and the keys they make
authenticate (or stop authenticating) against the real key table."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import sqlalchemy as sa

from ioc_common.cli import main
from ioc_common.db import create_engine
from ioc_common.testing import bts_event as bts
from ioc_ingest.app import create_app
from ioc_ingest.testing import FIXED_NOW, running, settings_for_tests

pytestmark = pytest.mark.connected


def ioc(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def statuses(database_url: str, posts: list[tuple[str | None, dict[str, Any]]]) -> list[int]:
    """POST each event with its key (None: no key) to an app on the real key table."""

    async def run() -> list[int]:
        settings = settings_for_tests(database_url=database_url)
        app = create_app(settings, publisher=_publisher(), now=lambda: FIXED_NOW)
        out = []
        async with running(app) as client:
            for key, event in posts:
                headers = {"Authorization": f"Bearer {key}"} if key else {}
                out.append(
                    (await client.post("/v1/events", json=event, headers=headers)).status_code
                )
        return out

    return asyncio.run(run())


def _publisher() -> Any:
    from ioc_common.kafka.memory import InMemoryBroker, InMemoryPublisher

    return InMemoryPublisher(InMemoryBroker())


def audit_actions(database_url: str) -> list[tuple[str, str]]:
    async def run() -> list[tuple[str, str]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    sa.text(
                        "SELECT action, target FROM audit_log WHERE service='ingest' ORDER BY id"
                    )
                )
                return [(r.action, r.target) for r in rows]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_key_lifecycle_create_list_rotate_revoke(
    capsys: pytest.CaptureFixture[str], fresh_database_url: str
) -> None:
    db = ["--database-url", fresh_database_url]
    create = ["keys", "create", "--provider", "ubnd-lam-binh", "--family", "bts"]
    code, out, err = ioc(capsys, *create, "--unit", "071", "--label", "Lâm Bình", *db)
    assert code == 0, err
    key = out.strip()
    prefix = key.split("_")[1]
    assert key.startswith(f"ioc_{prefix}_")
    assert len(key.split("_", 2)[2]) >= 32  # ≥ 128 bits of randomness, url-safe
    assert "ONCE" in err

    code, out, _ = ioc(capsys, "keys", "list", "--json", *db)
    assert code == 0
    assert prefix in out
    assert key.split("_", 2)[2] not in out  # never the secret

    # In scope: its district and a commune of it. Out of scope: a sibling district. Missing.
    assert statuses(
        fresh_database_url,
        [(key, bts("071")), (key, bts("02233")), (key, bts("072")), (None, bts("071"))],
    ) == [202, 202, 403, 401]

    code, out, err = ioc(capsys, "keys", "rotate", prefix, *db)
    assert code == 0, err
    new_key = out.strip()
    assert new_key != key
    assert statuses(fresh_database_url, [(key, bts("071")), (new_key, bts("071"))]) == [401, 202]

    code, _, err = ioc(capsys, "keys", "revoke", new_key.split("_")[1], *db)
    assert code == 0, err
    assert statuses(fresh_database_url, [(new_key, bts("071"))]) == [401]
    code, _, err = ioc(capsys, "keys", "revoke", new_key.split("_")[1], *db)
    assert code == 2
    assert "No active key" in err

    assert audit_actions(fresh_database_url) == [
        ("api_key.create", prefix),
        ("api_key.rotate", prefix),
        ("api_key.revoke", new_key.split("_")[1]),
    ]


def test_create_refuses_unknown_units_and_needs_a_unit_scope(
    capsys: pytest.CaptureFixture[str], fresh_database_url: str
) -> None:
    db = ["--database-url", fresh_database_url]
    code, _, err = ioc(capsys, "keys", "create", "--provider", "x", "--family", "bts",
                       "--unit", "999", *db)  # fmt: skip
    assert code == 2
    assert "999" in err
    with pytest.raises(SystemExit):
        main(["keys", "create", "--provider", "x", "--family", "bts", *db])
    code, out, _ = ioc(capsys, "keys", "create", "--provider", "so-tttt", "--family", "cashless",
                       "--all-units", *db)  # fmt: skip
    assert code == 0
    assert statuses(fresh_database_url, [(out.strip(), bts("001"))]) == [403]  # family


def test_a_key_made_at_the_command_line_is_audited_as_coming_from_the_cli(
    capsys: pytest.CaptureFixture[str], fresh_database_url: str
) -> None:
    code, _, err = ioc(
        capsys, "keys", "create", "--provider", "ubnd-na-hang", "--family", "bts",
        "--unit", "072", "--database-url", fresh_database_url,
    )  # fmt: skip
    assert code == 0, err

    async def origins() -> list[tuple[str, str, str]]:
        engine = create_engine(fresh_database_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    sa.text("SELECT action, source_address, user_agent FROM audit_log")
                )
                return [(r.action, r.source_address, r.user_agent) for r in rows]
        finally:
            await engine.dispose()

    [(action, source, agent)] = asyncio.run(origins())
    assert (action, source) == ("api_key.create", "cli")
    assert agent == f"ioc-cli on {socket.gethostname()}"
