"""The `/hitl` slash command."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from blocks.text import escape_mrkdwn
from bot.runtime import Runtime

HELP = (
    "*hitl* puts humans in the loop of your LLM system.\n"
    "• `/hitl help`: this help.\n"
    "Review cards arrive in each queue's channel: use *Approve*, *Edit* or *Reject* on the card."
)


def register(app: AsyncApp, rt: Runtime) -> None:
    async def handle_hitl_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        words = (command.get("text") or "").split()
        sub = words[0].lower() if words else "help"
        if sub == "help":
            await ack(response_type="ephemeral", text=HELP)
            return
        await ack(response_type="ephemeral", text=f"Unknown subcommand `{escape_mrkdwn(sub[:40])}`.\n{HELP}")

    app.command("/hitl")(handle_hitl_command)
