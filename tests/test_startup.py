"""Start-up tells the truth: `hitl serve` checks its token and workspace with auth.test before it listens (one line
naming the setting when it can't go on), warns per policy channel the bot can't post in; the CLI's database
commands say in one line when there is no hitl database, and `hitl export | head` ends quietly."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.compose import build_hitl
from bot.domain.audit import SYSTEM, Actor
from bot.domain.cases import CaseStatus
from bot.domain.escalation import Escalation
from bot.services.decision_rules import DecisionRequest
from bot.slack import create_slack_client
from bot.startup import SlackCheckFailed, check_channels, policy_channels, verify_token
from slack_emulator import Emulator, serve_emulator
from tests import dbs
from tests.support import (
    API_TOKEN,
    ISSUE_POLICY_YAML,
    SIGNING_SECRET,
    decide_directly,
    escalation,
    issue_policy,
    make_emulator,
    make_settings,
)

CLOSED_PORT_URL = "http://127.0.0.1:9/api/"  # discard port: nothing listens, connections are refused at once


class FakeTime:
    """A clock and a sleep that only move together, so retry schedules are tested without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
async def emulated() -> AsyncIterator[tuple[Emulator, str]]:
    emulator = make_emulator()
    async with serve_emulator(emulator) as api_url:
        yield emulator, api_url


def settings_for(api_url: str, **overrides: Any) -> Any:
    return make_settings("sqlite+aiosqlite:///unused.db", api_url, **overrides)


async def test_auth_test_gives_the_runtime_its_identity(emulated: tuple[Emulator, str]) -> None:
    emulator, api_url = emulated
    identity = await verify_token(settings_for(api_url, SLACK_TEAM_ID="T0HITL"))
    assert (identity.team_id, identity.bot_user_id, identity.team_name, identity.enterprise_id) == (
        "T0HITL",
        "U0HITLBOT",
        "HITL Emulator",
        None,
    )
    assert identity.scopes == frozenset(emulator.workspace.bot_scopes)
    rt = build_hitl(settings_for(api_url), issue_policy(), identity=identity)
    assert rt.identity is identity
    await rt.close()


@pytest.mark.parametrize("error", ["token_revoked", "account_inactive", "invalid_auth", "not_authed"])
async def test_a_refused_token_stops_start_up_naming_the_setting(emulated: tuple[Emulator, str], error: str) -> None:
    emulator, api_url = emulated
    emulator.revoke_token("xoxb-test-token", error)
    with pytest.raises(SlackCheckFailed) as failed:
        await verify_token(settings_for(api_url))
    message = str(failed.value)
    assert message.startswith("SLACK_BOT_TOKEN: ") and error in message and "\n" not in message


async def test_a_token_of_another_workspace_stops_start_up(emulated: tuple[Emulator, str]) -> None:
    _, api_url = emulated
    with pytest.raises(SlackCheckFailed) as failed:
        await verify_token(settings_for(api_url, SLACK_TEAM_ID="T0ELSEWHERE"))
    assert str(failed.value).startswith(
        "SLACK_TEAM_ID: the bot token belongs to workspace T0HITL (HITL Emulator), not T0ELSEWHERE"
    )


async def test_slack_unreachable_is_retried_then_stops_with_one_line() -> None:
    fake = FakeTime()
    settings = settings_for(CLOSED_PORT_URL, HITL_SLACK_STARTUP_WAIT="1m")
    with pytest.raises(SlackCheckFailed) as failed:
        await verify_token(settings, sleep=fake.sleep, clock=fake.clock)
    assert str(failed.value).startswith(f"SLACK_API_URL: could not reach Slack at {CLOSED_PORT_URL} for 1m")
    assert fake.sleeps == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]  # 60 s in all, then it gives up


async def test_slack_errors_at_start_are_retried_until_it_answers(emulated: tuple[Emulator, str]) -> None:
    emulator, api_url = emulated
    emulator.faults.fail("auth.test", status=503, count=2)
    emulator.faults.rate_limit("auth.test", retry_after=1, count=1)
    fake = FakeTime()
    identity = await verify_token(settings_for(api_url), sleep=fake.sleep, clock=fake.clock)
    assert identity.team_id == "T0HITL" and len(fake.sleeps) == 3


async def test_each_channel_the_bot_cant_post_in_is_one_warning(emulated: tuple[Emulator, str]) -> None:
    emulator, api_url = emulated
    ws = emulator.workspace
    ws.add_channel("C0BILLING", "billing")  # in it
    ws.add_channel("C0BILLESC", "billing-esc", member=False)  # public: chat:write.public is enough
    ws.add_channel("C0LEGAL", "legal", private=True, member=False)  # private, not invited: invisible
    ws.add_channel("C0GENERAL", "general", archived=True)
    ws.add_channel("C0OPS", "ops", member=False)
    identity = await verify_token(settings_for(api_url))
    client = create_slack_client(settings_for(api_url))
    assert policy_channels(issue_policy()) == ["C0BILLING", "C0BILLESC", "C0LEGAL", "C0GENERAL", "C0OPS"]
    problems = await check_channels(client, identity, policy_channels(issue_policy()))
    assert problems == [
        "channel C0LEGAL was not found, or it is private and the bot is not in it: invite it with /invite @hitl",
        "channel #general (C0GENERAL) is archived: nothing can be posted there",
    ]
    ws.bot_scopes.discard("chat:write.public")
    identity = await verify_token(settings_for(api_url))
    problems = await check_channels(client, identity, ["C0BILLESC", "C0OPS", "C0BILLING"])
    assert [p.split(":")[0] for p in problems] == ["channel #billing-esc (C0BILLESC)", "channel #ops (C0OPS)"]
    assert all("lacks chat:write.public" in p for p in problems)
    ws.bot_scopes.discard("channels:read")
    [problem] = await check_channels(client, identity, ["C0BILLING"])
    assert "lacks channels:read / groups:read" in problem


# ---- the real CLI in a subprocess --------------------------------------------------------------------------


def cli_env(tmp: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HITL_"))}
    return {
        **env,
        "HITL_POLICY": str(tmp / "hitl.yml"),
        "HITL_API_TOKEN": API_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        **values,
    }


async def run_cli(tmp: Path, *args: str, timeout: float = 60, **env: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=tmp,
        env=cli_env(tmp, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def one_line(stderr: str) -> str:
    """The `hitl: …` line the operator reads; and nothing that looks like a crash."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("hitl: ")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    "case, env, expected",
    [
        (
            "revoked",
            {"SLACK_BOT_TOKEN": "xoxb-revoked"},
            "hitl: SLACK_BOT_TOKEN: Slack refused the bot token (token_revoked)",
        ),
        (
            "wrong token",
            {"SLACK_BOT_TOKEN": "xoxb-not-this-one"},
            "hitl: SLACK_BOT_TOKEN: Slack refused the bot token (invalid_auth)",
        ),
        (
            "other workspace",
            {"SLACK_TEAM_ID": "T0ELSEWHERE"},
            "hitl: SLACK_TEAM_ID: the bot token belongs to workspace T0HITL",
        ),
        (
            "unreachable",
            {"SLACK_API_URL": CLOSED_PORT_URL, "HITL_SLACK_STARTUP_WAIT": "1s"},
            f"hitl: SLACK_API_URL: could not reach Slack at {CLOSED_PORT_URL} for 1s",
        ),
    ],
)
async def test_serve_stops_before_listening_with_one_line(
    emulated: tuple[Emulator, str], tmp_path: Path, case: str, env: dict[str, str], expected: str
) -> None:
    emulator, api_url = emulated
    emulator.bot_token = "xoxb-good"
    emulator.revoke_token("xoxb-revoked")
    (tmp_path / "hitl.yml").write_text(ISSUE_POLICY_YAML)
    db = tmp_path / "hitl.db"
    settings = {
        "SLACK_BOT_TOKEN": "xoxb-good",
        "SLACK_API_URL": api_url,
        "HITL_DATABASE_URL": f"sqlite:///{db}",
        "PORT": "9",
        **env,
    }
    code, _, stderr = await run_cli(tmp_path, "serve", **settings)
    assert code == 2
    assert one_line(stderr).startswith(expected), stderr
    assert not db.exists()  # stopped before touching the database


async def test_serve_warns_per_channel_and_serves(emulated: tuple[Emulator, str], tmp_path: Path) -> None:
    emulator, api_url = emulated
    emulator.workspace.add_channel("C0LEGAL", "legal", private=True, member=False)
    (tmp_path / "hitl.yml").write_text(ISSUE_POLICY_YAML)
    with __import__("socket").socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = cli_env(
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-good",
        SLACK_API_URL=api_url,
        HITL_DATABASE_URL=f"sqlite:///{tmp_path / 'hitl.db'}",
        HITL_HOST="127.0.0.1",
        PORT=str(port),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "serve",
        cwd=tmp_path,
        env=env,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(400):
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("hitl serve did not start")
    finally:
        process.terminate()
        _, stderr_bytes = await asyncio.wait_for(process.communicate(), 30)
    stderr = stderr_bytes.decode()
    warnings = [line for line in stderr.splitlines() if "hitl can't post there" in line]
    assert len(warnings) == 1 and "channel C0LEGAL was not found, or it is private" in warnings[0], stderr
    assert "Slack: workspace T0HITL (HITL Emulator), bot user U0HITLBOT" in stderr
    assert [c.args.get("channel") for c in emulator.calls_to("conversations.info")] == [
        "C0BILLING",
        "C0BILLESC",
        "C0LEGAL",
        "C0GENERAL",
        "C0OPS",
    ]


DB_COMMANDS = [("audit", "verify"), ("export", "--since", "7d"), ("webhooks", "retry", "case-1")]


@pytest.mark.parametrize("command", DB_COMMANDS, ids=lambda c: " ".join(c[:2]))
async def test_database_commands_on_a_missing_sqlite_file_say_so_and_create_nothing(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    db = tmp_path / "nothing-here.db"
    code, out, stderr = await run_cli(tmp_path, *command, HITL_DATABASE_URL=f"sqlite:///{db}")
    assert (code, out) == (2, "")
    assert one_line(stderr) == (
        f"hitl: HITL_DATABASE_URL: there is no database at {db}; run `hitl db upgrade` to create one, or point "
        f"HITL_DATABASE_URL at hitl's database"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", DB_COMMANDS, ids=lambda c: " ".join(c[:2]))
async def test_database_commands_on_an_empty_database_say_so(tmp_path: Path, command: tuple[str, ...]) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    code, _, stderr = await run_cli(tmp_path, *command, HITL_DATABASE_URL=f"sqlite:///{db}")
    assert code == 2 and one_line(stderr).startswith(
        f"hitl: HITL_DATABASE_URL: the database at {db} has no hitl schema; run `hitl db upgrade`"
    )


@pytest.mark.skipif(not dbs.POSTGRES_URL, reason="HITL_TEST_POSTGRES_URL is not set")
async def test_database_commands_on_an_empty_postgres_database_say_so(tmp_path: Path) -> None:
    assert dbs.POSTGRES_URL is not None
    url = await dbs.create_postgres_database(dbs.POSTGRES_URL, prefix="hitl_empty")
    try:
        for command in DB_COMMANDS:
            code, _, stderr = await run_cli(tmp_path, *command, HITL_DATABASE_URL=url)
            assert code == 2 and "has no hitl schema; run `hitl db upgrade`" in one_line(stderr), command
        missing = url + "_missing"
        code, _, stderr = await run_cli(tmp_path, "export", HITL_DATABASE_URL=missing)
        assert code == 2 and "cannot open the database at" in one_line(stderr) and "does not exist" in stderr
    finally:
        await dbs.drop_postgres_database(dbs.POSTGRES_URL, url)


async def test_export_into_a_closed_pipe_ends_quietly(db_url: str, tmp_path: Path) -> None:
    rt = build_hitl(make_settings(db_url, CLOSED_PORT_URL), issue_policy())
    try:
        long_draft = "A long answer. " * 150
        for n in range(150):  # ~350 kB of JSONL: far more than a pipe holds, so the writer meets the closed end
            raw = escalation(f"exp-{n}", model_draft=long_draft)
            await rt.ingest.receive(raw, Escalation.model_validate(raw), SYSTEM)
            await decide_directly(
                rt,
                f"exp-{n}",
                DecisionRequest(CaseStatus.APPROVED, final_text=long_draft),
                Actor.slack("U0SME1", "T0HITL", "dana"),
            )
    finally:
        await rt.close()
    (tmp_path / "hitl.yml").write_text(ISSUE_POLICY_YAML)

    def export_into_head() -> tuple[int, bytes, int, bytes]:
        export = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "export", "--since", "1d"],
            cwd=tmp_path,
            env=cli_env(tmp_path, HITL_DATABASE_URL=db_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        head = subprocess.Popen(["head", "-n", "1"], stdin=export.stdout, stdout=subprocess.PIPE)
        assert export.stdout is not None
        export.stdout.close()  # only head holds the read end now: when it exits, the pipe is closed
        first, _ = head.communicate(timeout=60)
        _, err = export.communicate(timeout=60)
        return export.returncode, err, head.returncode, first

    code, stderr, head_code, first = await asyncio.to_thread(export_into_head)
    assert (code, head_code) == (0, 0)
    assert b'"case_id": "exp-0"' in first
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr and b"Exception ignored" not in stderr, stderr
