"""Run the Alembic migrations programmatically (``ioc migrate``, ``ioc dev``, tests)."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config

from ioc_common.db import async_url


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("ioc_common.db") / "migrations"))
    # Alembic's ini interpolation treats % specially.
    cfg.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def current_heads() -> tuple[str, ...]:
    from alembic.script import ScriptDirectory

    return tuple(ScriptDirectory.from_config(alembic_config("postgresql://x/y")).get_heads())
