"""Schema migrations with Alembic, callable from the CLI and from `hitl serve` at start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str) -> None:
    # Alembic's env runs its own event loop; give it a thread so we can call it from inside ours.
    await asyncio.to_thread(upgrade, database_url)


def head_revision() -> str | None:
    """The newest schema revision this hitl knows."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def known_revision(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision) is not None
    except CommandError:
        return False


async def current_revision(engine: AsyncEngine) -> str | None:
    """The schema revision a database is at; None when it has no hitl schema (no `alembic_version` table)."""
    async with engine.connect() as conn:
        has_table = await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version"))
        if not has_table:
            return None
        return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
