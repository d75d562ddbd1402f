"""Test databases: a migrated SQLite file per test, and (when HITL_TEST_POSTGRES_URL is set) a PostgreSQL
database created for the test session and truncated between tests."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from store.migrate import upgrade

POSTGRES_URL = os.environ.get("HITL_TEST_POSTGRES_URL")
TABLES = ("audit_events", "outbox", "slack_messages", "cases", "kill_switches", "digest_runs", "slack_request_keys")


def sqlite_template(directory: Path) -> Path:
    template = directory / "template.db"
    if not template.exists():
        upgrade(f"sqlite+aiosqlite:///{template}")
    return template


def fresh_sqlite(template: Path, directory: Path) -> str:
    target = directory / f"hitl-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


def pg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_postgres_database(base_url: str, prefix: str = "hitl_test") -> str:
    """An empty database on the server of `base_url`, named `prefix_<random>` (the benchmarks use `hitl_bench`)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(pg_dsn(base_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    return url


async def drop_postgres_database(base_url: str, url: str) -> None:
    name = make_url(url).database
    conn = await asyncpg.connect(pg_dsn(base_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def truncate_postgres(url: str) -> None:
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        # TRUNCATE does not fire the row-level triggers that keep audit_events append-only.
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    finally:
        await conn.close()
