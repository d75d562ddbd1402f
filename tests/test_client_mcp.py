"""hitl-mcp through the official MCP client library, against the real hitl app; reviewers decide in "Slack".

In process here (the MCP SDK's direct transport); over stdio from a fresh virtualenv in
test_client_install.py; over streamable HTTP below, as `hitl-mcp --http` in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from typing import Any

import pytest

pytest.importorskip("hitl_client", reason="./client is not installed (README: Tests)")
pytest.importorskip("mcp", reason="./client is not installed (README: Tests)")

from mcp import Client

from hitl_client import AsyncHitlClient, _core
from hitl_client.mcp import build_server
from tests.client_harness import approve, client, edit, hitl_env, quick_polls, reject, server, until_card  # noqa: F401 - fixtures
from tests.support import Harness

BASH = {"command": "git push --force origin main", "description": "Force-push main"}


def connect(client: AsyncHitlClient, timeout: float = 20) -> Client:
    """An MCP session (entered in the test itself: the SDK's task group must be left by the task that entered it)."""
    return Client(build_server(client, timeout=timeout, skill="billing"))


async def call(session: Client, tool: str, arguments: dict[str, Any]) -> Any:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)  # type: ignore[union-attr]


def card_posts(h: Harness) -> int:
    return len([c for c in h.emulator.calls_to("chat.postMessage") if c.ok and c.args.get("metadata")])


async def test_tools_are_listed_with_their_schemas(client: AsyncHitlClient) -> None:
    async with connect(client) as mcp:
        tools = {t.name: t for t in (await mcp.list_tools()).tools}
        assert set(tools) == {"request_review", "request_approval", "get_decision", "permission_prompt"}
        assert tools["permission_prompt"].input_schema["required"] == ["tool_name", "input"]
        assert "ctx" not in tools["request_review"].input_schema["properties"]


async def test_request_review_returns_the_edited_text(server: Harness, client: AsyncHitlClient) -> None:
    async with connect(client) as mcp:
        asking = asyncio.create_task(
            call(
                mcp,
                "request_review",
                {"draft": "Your refund is on its way.", "reason": "Refund promise", "question": "Where is my refund?"},
            )
        )
        await edit(server, {"draft_0": "Your refund of $49.00 will arrive within 5 days."})
        answer = await asking
        assert (
            answer["status"] == "edited" and answer["final_text"] == "Your refund of $49.00 will arrive within 5 days."
        )
        assert answer["decided_by"] == "dana" and "use final_text" in answer["message"]


async def test_request_approval_rejected(server: Harness, client: AsyncHitlClient) -> None:
    async with connect(client) as mcp:
        asking = asyncio.create_task(
            call(
                mcp,
                "request_approval",
                {"action": "refund", "args": {"invoice": "1042", "amount": 49.0}, "reason": "Refund above the limit"},
            )
        )
        await reject(server, "missing_evidence", "No proof of the double charge")
        answer = await asking
        assert (answer["status"], answer["category"], answer["note"]) == (
            "rejected",
            "missing_evidence",
            "No proof of the double charge",
        )
        assert answer["args"] is None and "Do not go ahead" in answer["message"]


async def test_permission_prompt_allows_with_the_reviewers_input(server: Harness, client: AsyncHitlClient) -> None:
    async with connect(client) as mcp:
        asking = asyncio.create_task(
            call(mcp, "permission_prompt", {"tool_name": "Bash", "input": BASH, "tool_use_id": "toolu_01"})
        )
        await edit(server, {"arg_0": "git push origin main"})  # the reviewer drops --force
        assert await asking == {
            "behavior": "allow",
            "updatedInput": {"command": "git push origin main", "description": "Force-push main"},
        }

        asking = asyncio.create_task(
            call(mcp, "permission_prompt", {"tool_name": "Bash", "input": BASH, "tool_use_id": "toolu_02"})
        )
        await approve(server)
        assert await asking == {
            "behavior": "allow",
            "updatedInput": BASH,
        }  # Claude Code needs updatedInput on every allow

        asking = asyncio.create_task(
            call(mcp, "permission_prompt", {"tool_name": "Bash", "input": BASH, "tool_use_id": "toolu_03"})
        )
        await reject(server, "unsafe", "Never force-push main")
        answer = await asking
        assert (
            answer["behavior"] == "deny"
            and "Never force-push main" in answer["message"]
            and set(answer) == {"behavior", "message"}
        )


async def test_a_call_that_outlives_its_timeout_is_pending_and_a_repeat_finds_the_same_case(
    server: Harness, client: AsyncHitlClient
) -> None:
    async with connect(client, timeout=0.3) as session:
        permission = {"tool_name": "Bash", "input": BASH, "tool_use_id": "toolu_09"}
        first = await call(session, "permission_prompt", permission)
        permission_case = _core.stable_case_id("mcp-permission", "Bash", BASH, "toolu_09")
        assert first == {
            "behavior": "deny",
            "message": (
                f"still pending, case_id {permission_case}: no reviewer has decided in Slack yet, so Bash was not run."
            ),
        }
        assert await call(session, "permission_prompt", permission) == first
        refund = {"action": "refund", "args": {"amount": 5}, "reason": "r"}
        pending = await call(session, "request_approval", refund)
        assert pending["status"] == "pending" and pending["message"].startswith(
            f"still pending, case_id {pending['case_id']}"
        )
        assert (await call(session, "get_decision", {"case_id": pending["case_id"]}))["status"] == "pending"
        await until_card(server, pending["case_id"])
        assert card_posts(server) == 2  # one case per distinct call, not per attempt
        await approve(server, pending["case_id"])
        decided = await call(session, "get_decision", {"case_id": pending["case_id"]})
        assert (decided["status"], decided["action"], decided["args"]) == ("approved", "refund", {"amount": 5})
        assert decided["idempotency_key"].startswith("hitl_")
        # The same call again picks the decision up instead of opening another case.
        assert (await call(session, "request_approval", refund))["status"] == "approved"
        await approve(server, permission_case)
        assert await call(session, "permission_prompt", permission) == {"behavior": "allow", "updatedInput": BASH}
        assert card_posts(server) == 2
        missing = await session.call_tool("get_decision", {"case_id": "nope"})
        assert missing.is_error and "no case 'nope'" in missing.content[0].text  # type: ignore[union-attr]


async def test_hitl_errors_deny_the_permission_and_fail_the_other_tools(server: Harness) -> None:
    async with AsyncHitlClient(server.url, "wrong-token", retries=0) as wrong:
        async with Client(build_server(wrong, timeout=1)) as session:
            denied = await call(session, "permission_prompt", {"tool_name": "Bash", "input": BASH})
            assert denied["behavior"] == "deny" and "refused the API token" in denied["message"]
            failed = await session.call_tool("request_review", {"draft": "d", "reason": "r"})
            assert failed.is_error and server.url in failed.content[0].text  # type: ignore[union-attr]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_streamable_http_transport(server: Harness) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hitl_client.mcp",
            "--http",
            "--port",
            str(port),
            "--timeout",
            "20",
            "--skill",
            "billing",
        ],
        env={**os.environ, **hitl_env(server)},
    )
    try:
        await until_listening(port)
        async with Client(f"http://127.0.0.1:{port}/mcp") as session:
            asking = asyncio.create_task(call(session, "request_review", {"draft": "Hello", "reason": "Greeting"}))
            await approve(server)
            answer = await asking
        assert (answer["status"], answer["final_text"]) == ("approved", "Hello")
    finally:
        process.terminate()
        process.wait(timeout=10)


async def until_listening(port: int, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise AssertionError(f"nothing listens on {port}")
