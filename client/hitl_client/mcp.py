"""`hitl-mcp`: hitl's review loop as MCP tools, on the official MCP SDK (stdio, or streamable HTTP with --http).

Tools: `request_review` (a draft answer), `request_approval` (a structured action), `get_decision` (for a client
that cannot hold a call open) and `permission_prompt` (Claude Code's `--permission-prompt-tool` contract).

Every case_id is derived from the call's arguments (and Claude Code's tool_use_id), so a call repeated after a
timeout or a crash finds its case instead of opening a second one. A call waits up to `--timeout` seconds; then
it answers "still pending, case_id …" and `get_decision` (or the same call again) picks the decision up.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

try:
    from mcp.server import MCPServer
    from mcp.server.mcpserver import Context
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import CallToolResult, TextContent
except ImportError as exc:  # pragma: no cover - exercised by hand
    raise ImportError("hitl-mcp needs the MCP SDK: pip install 'hitl-client[mcp]'") from exc
from pydantic import BaseModel

from hitl_client import _core
from hitl_client.client import AsyncHitlClient
from hitl_client.errors import HitlError, NotFound, TimedOut
from hitl_client.models import Case, Decision

DEFAULT_TIMEOUT = 300.0
PROGRESS_EVERY = 15.0  # progress notifications keep clients that reset their timeout on progress waiting

INSTRUCTIONS = (
    "hitl routes a draft answer or a proposed action to a human reviewer in Slack and returns the decision. "
    "Use request_review before sending an answer you are unsure of, request_approval before a consequential "
    "action; act only on what comes back approved. If a call answers 'pending', call get_decision with its "
    "case_id later (or repeat the same call): the review goes on in Slack meanwhile."
)


class Outcome(BaseModel):
    """What every tool answers: the decision, or that it is still pending."""

    status: str  # approved | edited | rejected | pending (or a newer server's outcome)
    case_id: str
    message: str
    final_text: str | None = None  # the answer to use (request_review), as approved or edited
    action: str | None = None  # request_approval: the action and its args as approved (edits included)
    args: dict[str, Any] | None = None
    idempotency_key: str | None = None  # execute the approved action once per key
    category: str | None = None  # a rejection's category
    note: str | None = None
    decided_by: str | None = None
    unhandled: bool = False  # paging ran out in Slack; still pending and decidable


def build_server(client: AsyncHitlClient, *, timeout: float = DEFAULT_TIMEOUT, skill: str | None = None) -> MCPServer:
    """The MCP server; `timeout` is how long one tool call waits before answering "still pending"."""
    server = MCPServer("hitl", instructions=INSTRUCTIONS)

    @server.tool()
    async def request_review(
        draft: str,
        reason: str,
        ctx: Context,
        question: str | None = None,
        skill: str | None = skill,
        risk_level: str | None = None,
        tenant_id: str | None = None,
    ) -> Outcome:
        """Ask a human to review a draft answer before it is used. Returns the final text (maybe edited by the
        reviewer; use it instead of the draft), a rejection with its reason, or 'pending' with a case_id."""
        fields = {"user_question": question, "skill": skill, "risk_level": risk_level, "tenant_id": tenant_id}
        case_id = _core.stable_case_id("mcp-review", draft, reason, fields)
        return await _escalate_and_wait(client, ctx, timeout, case_id, draft, reason, fields)

    @server.tool()
    async def request_approval(
        action: str,
        args: dict[str, Any],
        reason: str,
        ctx: Context,
        skill: str | None = skill,
        risk_level: str | None = None,
        tenant_id: str | None = None,
    ) -> Outcome:
        """Ask a human to approve an action before you take it. Returns the action and its args as approved
        (the reviewer may have edited them: use these), a rejection with its reason, or 'pending' with a case_id."""
        fields = {
            "skill": skill,
            "risk_level": risk_level,
            "tenant_id": tenant_id,
            "proposed_action": {"action": action, "args": args},
        }
        case_id = _core.stable_case_id("mcp-approval", action, args, reason, fields)
        return await _escalate_and_wait(
            client, ctx, timeout, case_id, _core.describe_action(action, args), reason, fields
        )

    @server.tool()
    async def get_decision(case_id: str) -> Outcome:
        """The decision on a case a previous call left pending (answers at once)."""
        try:
            return _outcome(await client.get(case_id))
        except NotFound as exc:
            raise ToolError(str(exc)) from None
        except HitlError as exc:
            raise ToolError(f"hitl: {exc}") from None

    @server.tool(structured_output=False)
    async def permission_prompt(
        tool_name: str,
        input: dict[str, Any],  # noqa: A002 - Claude Code's name
        ctx: Context,
        tool_use_id: str | None = None,
    ) -> CallToolResult:
        """Claude Code's --permission-prompt-tool: a reviewer in Slack allows (maybe with edited input) or
        denies the tool call. Answers {"behavior": "allow", "updatedInput": …} or {"behavior": "deny", "message": …}."""
        return _permission_answer(await _permission(client, ctx, timeout, skill, tool_name, input, tool_use_id))

    return server


async def _escalate_and_wait(
    client: AsyncHitlClient, ctx: Context, timeout: float, case_id: str, draft: str, reason: str, fields: dict[str, Any]
) -> Outcome:
    try:
        await client.escalate(case_id, draft, reason, **fields)
        return _outcome(await _wait(client, ctx, case_id, timeout))
    except HitlError as exc:
        raise ToolError(f"hitl: {exc}") from None


async def _wait(client: AsyncHitlClient, ctx: Context, case_id: str, timeout: float) -> Case:
    """The case once decided, else as it stands after `timeout`; progress notifications meanwhile."""
    waited = 0.0
    while waited < timeout:
        step = min(PROGRESS_EVERY, timeout - waited)
        try:
            await client.wait(case_id, timeout=step)
        except TimedOut:
            waited += step
            await ctx.report_progress(waited, timeout, f"waiting for a reviewer in Slack (case_id {case_id})")
            continue
        break
    return await client.get(case_id)


def _outcome(case: Case) -> Outcome:
    if case.pending:
        unhandled = " Paging ran out in Slack; it is still open for a reviewer." if case.unhandled else ""
        return Outcome(
            status="pending",
            case_id=case.case_id,
            unhandled=case.unhandled,
            message=(
                f"still pending, case_id {case.case_id}: no reviewer has decided yet.{unhandled} "
                "Call get_decision with this case_id later."
            ),
        )
    decision = _core.decision_of(case)
    action = decision.proposed_action
    return Outcome(
        status=decision.outcome,
        case_id=case.case_id,
        message=_summary(decision),
        final_text=decision.final_text if decision.approved else None,
        action=action.action if action else None,
        args=action.args if action else None,
        idempotency_key=action.idempotency_key if action else None,
        category=decision.reason,
        note=decision.note,
        decided_by=_reviewer(decision),
    )


def _summary(decision: Decision) -> str:
    by = _reviewer(decision) or "a reviewer"
    if decision.rejected:
        return f"rejected by {by} ({decision.reason or 'no category'}): {decision.note or 'no note'}. Do not go ahead."
    if decision.edited:
        return f"approved with edits by {by}: use final_text / args as returned, not your draft."
    if decision.approved:
        return f"approved by {by}."
    return f"decided by {by} with an outcome this tool does not know ({decision.outcome}): do not go ahead."


def _reviewer(decision: Decision) -> str | None:
    who = decision.decided_by
    return (who.name or who.slack_user_id) if who else None


async def _permission(
    client: AsyncHitlClient,
    ctx: Context,
    timeout: float,
    skill: str | None,
    tool_name: str,
    tool_input: dict[str, Any],
    tool_use_id: str | None,
) -> dict[str, Any]:
    case_id = _core.stable_case_id("mcp-permission", tool_name, tool_input, tool_use_id)
    draft = f"The coding agent asks to run {tool_name}.\n{_core.describe_action(tool_name, tool_input)}"
    try:
        await client.escalate(
            case_id,
            draft,
            f"{tool_name} needs permission",
            skill=skill,
            proposed_action={"action": tool_name, "args": tool_input},
        )
        case = await _wait(client, ctx, case_id, timeout)
    except HitlError as exc:  # fail closed: without an answer from hitl nothing runs
        return {"behavior": "deny", "message": f"hitl could not get a decision, so the tool was not run: {exc}"}
    if case.pending:
        return {
            "behavior": "deny",
            "message": (
                f"still pending, case_id {case_id}: no reviewer has decided in Slack yet, so {tool_name} was not run."
            ),
        }
    decision = _core.decision_of(case)
    if decision.approved:
        approved = decision.proposed_action
        # Claude Code requires updatedInput on every allow: the input as approved (a reviewer may have edited it).
        return {"behavior": "allow", "updatedInput": approved.args if approved else tool_input}
    return {"behavior": "deny", "message": _summary(decision)}


def _permission_answer(answer: dict[str, Any]) -> CallToolResult:
    # Claude Code reads the first text block as JSON.
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(answer, ensure_ascii=False))])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hitl-mcp", description="hitl's review loop as MCP tools (stdio by default).")
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="with --http (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="with --http (default 8765); the endpoint is /mcp")
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("HITL_MCP_TIMEOUT", DEFAULT_TIMEOUT)),
        help="seconds a tool call waits before answering 'still pending' (default 300, env HITL_MCP_TIMEOUT)",
    )
    parser.add_argument(
        "--skill",
        default=os.environ.get("HITL_MCP_SKILL"),
        help="skill (routing) of escalations that name none (env HITL_MCP_SKILL)",
    )
    options = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per long poll on stderr
    try:
        client = AsyncHitlClient()
    except ValueError as exc:
        sys.exit(f"hitl-mcp: {exc}")
    server = build_server(client, timeout=options.timeout, skill=options.skill or None)  # "" from an unset ${VAR:-}
    if options.http:
        server.run("streamable-http", host=options.host, port=options.port)
    else:
        server.run("stdio")


if __name__ == "__main__":
    main()
