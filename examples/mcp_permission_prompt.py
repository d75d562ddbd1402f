"""What Claude Code does with examples/mcp/claude-code.mcp.json and --permission-prompt-tool, done by hand:
start hitl-mcp from that config over stdio (official MCP client) and ask permission for a Bash call.

    pip install "hitl-client[mcp]"
    export HITL_URL=http://127.0.0.1:PORT HITL_API_TOKEN=dev-token
    python examples/mcp_permission_prompt.py "rm -rf build/"

With Claude Code itself:

    claude -p "Clean the build directory" \\
        --mcp-config examples/mcp/claude-code.mcp.json \\
        --permission-prompt-tool mcp__hitl__permission_prompt
"""

import asyncio
import json
import os
import re
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters

CONFIG = Path(__file__).parent / "mcp" / "claude-code.mcp.json"


def expand(text: str) -> str:
    """Claude Code's ${VAR} and ${VAR:-default} expansion in .mcp.json."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: os.environ.get(m[1]) or (m[2] or ""), text)


async def main(command: str) -> None:
    server = json.loads(CONFIG.read_text())["mcpServers"]["hitl"]
    params = StdioServerParameters(
        command=expand(server["command"]),
        args=[expand(a) for a in server["args"]],
        env={k: expand(v) for k, v in server["env"].items()},
    )
    async with Client(params) as session:
        result = await session.call_tool(
            "permission_prompt",
            {
                "tool_name": "Bash",
                "input": {"command": command, "description": "Run a shell command"},
                "tool_use_id": "toolu_example_1",
            },
        )
    answer = json.loads(result.content[0].text)  # Claude Code reads this JSON from the first text block
    print(json.dumps(answer))
    if answer["behavior"] == "allow":
        print(f"Claude Code would run: {answer['updatedInput']['command']}")
    else:
        print(f"Claude Code would not run it: {answer['message']}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "rm -rf build/"))
