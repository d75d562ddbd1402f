"""Fixtures: a migrated database per test (SQLite, and PostgreSQL when HITL_TEST_POSTGRES_URL is set), the Slack
emulator on loopback, and the real hitl ASGI app served by uvicorn on loopback with the real AsyncWebClient.
The helpers behind them live in tests/support.py (shared with bench/); the names are re-exported here."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from slack_emulator import Emulator
from tests import dbs
from tests.support import (  # noqa: F401 - re-exported: tests import these names from here too
    API_TOKEN,
    ISSUE_POLICY_YAML,
    SIGNING_SECRET,
    USER_GROUPS,
    WEBHOOK_SECRET,
    Harness,
    decide_directly,
    escalation,
    eventually,
    issue_policy,
    make_emulator,
    make_settings,
    serve_hitl,
    serve_replica,
)

# Each xdist worker is its own pytest session: its own SQLite template (tmp_path_factory is per worker) and its
# own PostgreSQL database (`postgres_url` creates one with a random name), so workers never share a database.
BACKENDS = ["sqlite"] + (["postgres"] if dbs.POSTGRES_URL else [])


@pytest.fixture(scope="session")
def sqlite_template_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dbs.sqlite_template(tmp_path_factory.mktemp("template"))


def _in_thread(func: Callable[[], Any]) -> Any:
    """Run set-up that owns its own event loop (asyncio.run, Alembic) even when a test loop is running."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(func).result()


@pytest.fixture(scope="session")
def postgres_url() -> Any:
    if not dbs.POSTGRES_URL:
        pytest.skip("HITL_TEST_POSTGRES_URL is not set")
    base = dbs.POSTGRES_URL
    url = _in_thread(lambda: asyncio.run(dbs.create_postgres_database(base)))
    _in_thread(lambda: dbs.upgrade(url))
    yield url
    _in_thread(lambda: asyncio.run(dbs.drop_postgres_database(base, url)))


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, sqlite_template_path: Path, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return dbs.fresh_sqlite(sqlite_template_path, tmp_path)
    url = request.getfixturevalue("postgres_url")
    await dbs.truncate_postgres(url)
    return url


@pytest.fixture
def emulator() -> Emulator:
    return make_emulator()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def hitl(db_url: str, emulator: Emulator, clock: ManualClock) -> AsyncIterator[Harness]:
    async with serve_hitl(db_url, emulator, clock) as harness:
        yield harness
