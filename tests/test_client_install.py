"""Issue #15's "done when": `./client` installed into a fresh virtualenv without the server's dependencies, and
its `hitl-mcp` driven over stdio by the official MCP client library against the real hitl app, with the
reviewer's decisions clicked through signed Slack requests.

Installs from the package index (pip's cache makes it quick). `-m client_install` selects it; CI runs it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("hitl_client", reason="./client is not installed (README: Tests)")
pytest.importorskip("mcp", reason="./client is not installed (README: Tests)")

from mcp import Client, StdioServerParameters

from tests.client_harness import REPO, approve, edit, hitl_env, quick_polls, server  # noqa: F401 - fixtures
from tests.support import Harness

pytestmark = pytest.mark.client_install

SERVER_ONLY = (
    "bot",
    "slack_sdk",
    "slack_bolt",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "standardwebhooks",
    "apscheduler",
)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("client-venv")
    venv.create(home, with_pip=False)  # this venv's pip installs into it (--python): no ensurepip, seconds saved
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(home / "bin" / "python"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"{REPO / 'client'}[mcp]",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return home


def test_the_client_installs_alone(fresh_venv: Path) -> None:
    probe = (
        f"import importlib.util, json, hitl_client, mcp; "
        f"print(json.dumps([m for m in {SERVER_ONLY!r} if importlib.util.find_spec(m)]))"
    )
    found = subprocess.run(
        [str(fresh_venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, cwd=fresh_venv, timeout=60
    )
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout) == []  # none of the server's dependencies came along
    unset = subprocess.run(
        [str(fresh_venv / "bin" / "hitl-mcp")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert (
        unset.returncode != 0
        and unset.stderr.strip() == "hitl-mcp: hitl_client needs the server's URL: pass base_url or set HITL_URL"
    )


async def test_mcp_tools_over_stdio_from_the_fresh_install(fresh_venv: Path, server: Harness) -> None:
    params = StdioServerParameters(
        command=str(fresh_venv / "bin" / "hitl-mcp"),
        args=["--timeout", "60", "--skill", "billing"],
        env=hitl_env(server),
        cwd=str(fresh_venv),
    )
    async with Client(params) as session:
        assert {t.name for t in (await session.list_tools()).tools} == {
            "request_review",
            "request_approval",
            "get_decision",
            "permission_prompt",
        }

        bash = {"command": "rm -rf build/", "description": "Clean the build"}
        asking = asyncio.create_task(
            session.call_tool("permission_prompt", {"tool_name": "Bash", "input": bash, "tool_use_id": "toolu_1"})
        )
        await approve(server)
        assert json.loads(text_of(await asking)) == {"behavior": "allow", "updatedInput": bash}

        asking = asyncio.create_task(
            session.call_tool(
                "request_approval",
                {"action": "refund", "args": {"invoice": "1042", "amount": 49.0}, "reason": "Above the limit"},
            )
        )
        case_id = await edit(server, {"arg_1": "40"})
        answer = (await asking).structured_content
        assert answer is not None
        assert (answer["status"], answer["case_id"], answer["args"]) == (
            "edited",
            case_id,
            {"invoice": "1042", "amount": 40},
        )
        assert (await session.call_tool("get_decision", {"case_id": case_id})).structured_content["status"] == "edited"  # type: ignore[index]


def text_of(result: Any) -> str:
    assert not result.is_error, result.content
    return str(result.content[0].text)
