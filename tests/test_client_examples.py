"""Every script in examples/ run as a user would (a subprocess with HITL_URL and HITL_API_TOKEN) against the
real hitl app, while a reviewer decides through signed Slack requests."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("hitl_client", reason="./client is not installed (README: Tests)")

from tests.client_harness import REPO, approve, edit, hitl_env, quick_polls, reject, server  # noqa: F401 - fixtures
from tests.support import Harness

EXAMPLES = REPO / "examples"


async def start(h: Harness, script: str, *args: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        **hitl_env(h),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("HITL_MCP_SKILL", None)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / script),
        *args,
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def output(process: asyncio.subprocess.Process) -> str:
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode == 0, stderr.decode()[-3000:]
    return stdout.decode()


async def test_plain_client(server: Harness) -> None:
    process = await start(server, "plain_client.py")
    await approve(server, note="Checked the ledger")
    out = await output(process)
    assert "is pending in queue billing" in out
    assert "approved by dana: send this:\nYes. You were charged twice for invoice 1042" in out


async def test_decorator(server: Harness) -> None:
    process = await start(server, "decorator.py")
    await edit(server, {"arg_1": "40"})  # amount
    assert (await output(process)).strip() == "refunded 40.00 USD on invoice 1042"


async def test_decorator_rejected(server: Harness) -> None:
    process = await start(server, "decorator.py")
    await reject(server, "policy_violation", "Refund the difference only")
    assert (await output(process)).strip() == "not refunded: policy_violation: Refund the difference only"


async def test_mcp_with_claude_codes_config(server: Harness) -> None:
    config = json.loads((EXAMPLES / "mcp" / "claude-code.mcp.json").read_text())["mcpServers"]["hitl"]
    assert config["command"] == "hitl-mcp" and (Path(sys.executable).parent / "hitl-mcp").exists()
    settings = json.loads((EXAMPLES / "mcp" / "claude-settings.json").read_text())
    assert set(settings["permissions"]["allow"]) == {
        f"mcp__hitl__{t}" for t in ("request_review", "request_approval", "get_decision")
    }
    process = await start(server, "mcp_permission_prompt.py", "rm -rf build/")
    await reject(server, "unsafe", "Not during the release", user="U0OPS2")  # no skill: the catch-all queue
    out = await output(process)
    assert json.loads(out.splitlines()[0])["behavior"] == "deny"
    assert "Claude Code would not run it: rejected by dana (unsafe): Not during the release" in out


async def test_langgraph(server: Harness) -> None:
    process = await start(server, "langgraph_agent.py")
    await edit(server, {"arg_0": "rm -rf /var/cache/build/tmp"})
    assert (await output(process)).strip() == "ran: rm -rf /var/cache/build/tmp"


async def test_openai_agents(server: Harness) -> None:
    process = await start(server, "openai_agents.py")
    await edit(server, {"arg_1": "45"})
    out = await output(process)
    assert "tool: refunded 45.00 on invoice 1042" in out and "agent: I have taken care of the refund." in out
