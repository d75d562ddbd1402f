"""The audit trail is append-only and tamper-evident: `hitl audit verify` finds a changed or deleted row."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy import text

from bot.cli import main
from bot.domain.audit import SYSTEM, Actor
from store.audit import Anchor, ChainReport, append_audit, chain_head, verify_chain
from store.db import create_engine, create_sessionmaker


async def _seed(url: str, count: int = 5) -> None:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    from datetime import datetime

    for i in range(count):
        async with sessions.begin() as session:
            await append_audit(
                session,
                action="received",
                actor=Actor.slack(f"U{i}", "T1", "dana"),
                at=datetime.now(UTC),
                case_id=f"c{i}",
                details={"i": i, "text": "é ✓ <x>"},
            )
    await engine.dispose()


async def _in_session(url: str, query: Any) -> Any:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return await query(session)
    finally:
        await engine.dispose()


async def _verify(url: str) -> ChainReport:
    return await _in_session(url, verify_chain)


async def _tamper(url: str, statement: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        if url.startswith("sqlite"):
            await conn.execute(text("DROP TRIGGER audit_events_no_update"))
            await conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            await conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        await conn.execute(text(statement))
        if not url.startswith("sqlite"):
            await conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    await engine.dispose()


async def test_an_intact_chain_verifies(db_url: str) -> None:
    await _seed(db_url)
    report = await _verify(db_url)
    assert report.ok and report.checked == 5


async def test_chained_appends_from_concurrent_writers_stay_linear(db_url: str) -> None:
    engine = create_engine(db_url)
    sessions = create_sessionmaker(engine)
    from datetime import datetime

    async def write(i: int) -> None:
        async with sessions.begin() as session:
            await append_audit(session, action="viewed", actor=SYSTEM, at=datetime.now(UTC), case_id=f"c{i}")

    await asyncio.gather(*(write(i) for i in range(20)))
    await engine.dispose()
    report = await _verify(db_url)
    assert report.ok and report.checked == 20


async def test_any_text_hashes_the_same_in_the_database_and_in_python(db_url: str) -> None:
    """On PostgreSQL the INSERT computes the hash; verify_chain recomputes it in Python from the stored row."""
    from datetime import datetime

    from store.audit import compute_hash

    engine = create_engine(db_url)
    sessions = create_sessionmaker(engine)
    details = {
        "quote": 'say "hi" \\ back',
        "emoji": "🙂 𝔘 ✓",
        "rtl": "שלום",
        "control": "a\nb\tc\u0000d",
        "nested": {"b": [1, 2.5, None, True]},
    }
    async with sessions.begin() as session:
        for i in range(3):
            event = await append_audit(
                session,
                action="edited",
                actor=Actor.slack("U1", "T1", "Zoë 🙂"),
                at=datetime.now(UTC),
                case_id=f"c/{i}",
                details=details,
            )
            assert event.hash == compute_hash(event.prev_hash, event)
    await engine.dispose()
    report = await _verify(db_url)
    assert report.ok and report.checked == 3


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET actor_id = 'U9' WHERE id = 3", "DELETE FROM audit_events WHERE id = 3"]
)
async def test_the_database_refuses_to_change_audit_rows(db_url: str, statement: str) -> None:
    await _seed(db_url)
    engine = create_engine(db_url)
    with pytest.raises(Exception, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    await engine.dispose()


async def test_a_changed_row_is_found(db_url: str) -> None:
    await _seed(db_url)
    await _tamper(db_url, "UPDATE audit_events SET actor_id = 'U9' WHERE id = 3")
    report = await _verify(db_url)
    assert [(b.event_id, b.case_id) for b in report.breaks] == [(3, "c2")]
    assert "was changed" in report.breaks[0].problem


async def test_a_deleted_row_breaks_the_next_link(db_url: str) -> None:
    await _seed(db_url)
    await _tamper(db_url, "DELETE FROM audit_events WHERE id = 3")
    report = await _verify(db_url)
    assert [b.event_id for b in report.breaks] == [4]
    assert "deleted or changed" in report.breaks[0].problem


async def _head(url: str) -> Anchor | None:
    return await _in_session(url, chain_head)


@pytest.fixture
def cli_db(tmp_path, monkeypatch: pytest.MonkeyPatch) -> str:  # type: ignore[no-untyped-def]
    """A seeded SQLite database the `hitl` CLI is pointed at."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    monkeypatch.setenv("HITL_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    assert main(["db", "upgrade"]) == 0
    asyncio.run(_seed(url))
    return url


def test_cli_audit_verify(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = cli_db
    assert main(["audit", "verify"]) == 0
    assert "audit chain intact: 5 event(s) verified" in capsys.readouterr().out
    asyncio.run(_tamper(url, "UPDATE audit_events SET details = '{}' WHERE id = 2"))
    assert main(["audit", "verify"]) == 1
    assert "audit chain broken at event 2 (case c1): content does not match its hash" in capsys.readouterr().out


async def test_deleting_the_newest_rows_is_found_by_an_anchor(db_url: str) -> None:
    await _seed(db_url)
    head = await _head(db_url)
    assert head is not None and head.event_id == 5
    await _tamper(db_url, "DELETE FROM audit_events WHERE id >= 4")
    # The chain alone still verifies: that is the gap the anchor closes.
    assert (await _verify(db_url)).ok
    engine = create_engine(db_url)
    try:
        async with create_sessionmaker(engine)() as session:
            report = await verify_chain(session, anchors=[head])
            assert [(b.event_id, b.problem) for b in report.breaks] == [
                (5, "kept outside the database but missing here: events were deleted from the end of the chain")
            ]
            rewritten = await verify_chain(session, anchors=[Anchor(3, "0" * 64)])
            assert [b.event_id for b in rewritten.breaks] == [3] and "rewritten" in rewritten.breaks[0].problem
    finally:
        await engine.dispose()


def test_cli_audit_verify_with_an_anchor(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = cli_db
    anchor = str(asyncio.run(_head(url)))
    assert main(["audit", "verify", "--anchor", anchor]) == 0
    assert "5 event(s) verified, 1 anchor(s) match" in capsys.readouterr().out
    asyncio.run(_tamper(url, "DELETE FROM audit_events WHERE id = 5"))
    assert main(["audit", "verify", "--anchor", anchor]) == 1
    assert (
        "audit chain broken at event 5 (case -): kept outside the database but missing here" in capsys.readouterr().out
    )
    assert main(["audit", "verify", "--anchor", "5:nothex"]) == 2
    assert "--anchor: an anchor is EVENT_ID:SHA256" in capsys.readouterr().err
