"""OpenAI Agents SDK bridge: a run's `ToolApprovalItem` interruptions are decided by reviewers in hitl.

    result = await Runner.run(agent, "Refund invoice 1042")
    while result.interruptions:
        state = result.to_state()
        await resolve_interruptions(hitl, state, skill="billing")  # approve / reject each through hitl
        result = await Runner.run(agent, state)

Approved: `state.approve(item)`. Rejected: `state.reject(item, rejection_message=…)` with the reviewer's
category and note, which the model reads. Edited arguments: the SDK's `approve` cannot change a call's
arguments, but a tool wrapped with `with_reviewed_args` runs with the arguments as the reviewer approved them
(it reads the decision from hitl when it runs). An edited call of a tool that is not wrapped is rejected with
a message giving the reviewer's arguments, so the model can call again with them (a new review).

Each call's case_id comes from its call_id and arguments: resolving the same paused state again (another
process, after a crash) finds the same cases.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Sequence
from typing import Any

try:
    from agents import FunctionTool, RunState, ToolApprovalItem
    from agents.tool_context import ToolContext
except ImportError as exc:  # pragma: no cover - exercised by hand
    raise ImportError(
        "hitl_client.openai_agents needs the OpenAI Agents SDK: pip install 'hitl-client[openai-agents]'"
    ) from exc

from hitl_client import _core
from hitl_client.client import AsyncHitlClient, HitlClient
from hitl_client.errors import NotFound, UnexpectedDecision
from hitl_client.models import Decision

_REVIEWED = "_hitl_reviewed_args"


async def resolve_interruptions(
    client: AsyncHitlClient,
    state: RunState[Any, Any],
    interruptions: Sequence[ToolApprovalItem] | None = None,
    *,
    timeout: float | None = None,
    reason: str | None = None,
    **fields: Any,
) -> RunState[Any, Any]:
    """Escalate each pending approval (default: all of `state`'s), wait for the decisions, approve or reject.

    `fields` go with each escalation (`skill`, `risk_level`, `tenant_id`, …); `timeout` bounds the whole wait
    (`hitl_client.TimedOut`, nothing decided on the state)."""
    return await client._run(_resolving(client, state, interruptions, timeout, reason, fields))


def resolve_interruptions_sync(
    client: HitlClient,
    state: RunState[Any, Any],
    interruptions: Sequence[ToolApprovalItem] | None = None,
    *,
    timeout: float | None = None,
    reason: str | None = None,
    **fields: Any,
) -> RunState[Any, Any]:
    """`resolve_interruptions` with a blocking `HitlClient` (for `Runner.run_sync`)."""
    return client._run(_resolving(client, state, interruptions, timeout, reason, fields))


def _resolving(
    client: _core.Conversation,
    state: RunState[Any, Any],
    interruptions: Sequence[ToolApprovalItem] | None,
    timeout: float | None,
    reason: str | None,
    fields: dict[str, Any],
) -> _core.Steps[RunState[Any, Any]]:
    """Both functions' steps (client.py carries them out, blocking or async)."""
    items = list(state.get_interruptions() if interruptions is None else interruptions)
    calls = [_Call(item) for item in items]
    for call in calls:
        yield from client._escalate(call.case_id, *call.texts(reason), proposed_action=call.proposal, **fields)
    deadline = None if timeout is None else time.monotonic() + timeout
    decisions = []
    for call in calls:
        decisions.append((yield from client._wait(call.case_id, timeout=_left(deadline))))
    for call, decision in zip(calls, decisions, strict=False):
        call.apply(state, decision)
    return state


def with_reviewed_args(tool: FunctionTool, client: AsyncHitlClient | HitlClient) -> FunctionTool:
    """A copy of `tool` that always needs approval and runs with the arguments as a reviewer approved them."""
    reviewed = copy.copy(tool)
    original = tool.on_invoke_tool

    async def invoke(ctx: ToolContext[Any], arguments: str) -> Any:
        case_id = _case_id(ctx.tool_call_id, ctx.tool_name, _args_of(arguments))
        try:
            case = (
                await client.get(case_id)
                if isinstance(client, AsyncHitlClient)
                else await asyncio.to_thread(client.get, case_id)
            )
        except NotFound:  # approved without hitl: run as the model asked
            return await original(ctx, arguments)
        decision = case.decision
        if decision is not None and decision.approved and decision.proposed_action is not None:
            arguments = json.dumps(decision.proposed_action.args, ensure_ascii=False)
        return await original(ctx, arguments)

    reviewed.on_invoke_tool = invoke
    reviewed.needs_approval = True
    setattr(reviewed, _REVIEWED, True)
    return reviewed


class _Call:
    def __init__(self, item: ToolApprovalItem) -> None:
        self.item = item
        self.name = item.name or "tool"
        self.args = _args_of(item.arguments)
        self.case_id = _case_id(item.call_id, self.name, self.args)
        self.proposal = {"action": self.name, "args": self.args}

    def texts(self, reason: str | None) -> tuple[str, str]:
        agent = getattr(self.item.agent, "name", None)
        draft = _core.describe_action(self.name, self.args)
        return (
            f"Agent {agent!r} asks to run:\n{draft}" if agent else draft
        ), reason or f"{self.name} needs a human's approval"

    def apply(self, state: RunState[Any, Any], decision: Decision) -> None:
        if decision.rejected:
            note = f"{decision.reason or 'no category'}: {decision.note or 'no note'}"
            state.reject(
                self.item, rejection_message=f"A human reviewer rejected {self.name} ({note}). It was not run."
            )
            return
        if not decision.approved:
            raise UnexpectedDecision(self.case_id, decision)
        approved = decision.proposed_action.args if decision.proposed_action is not None else self.args
        if approved == self.args or self._runs_reviewed_args():
            state.approve(self.item)
            return
        state.reject(
            self.item,
            rejection_message=(
                f"A human reviewer did not approve {self.name} with these arguments, but approved it with "
                f"{json.dumps(approved, ensure_ascii=False)}. Call {self.name} again with exactly those arguments."
            ),
        )

    def _runs_reviewed_args(self) -> bool:
        tools = getattr(self.item.agent, "tools", None) or []
        return any(getattr(t, "name", None) == self.item.tool_name and getattr(t, _REVIEWED, False) for t in tools)


def _args_of(arguments: str | None) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments) if arguments else {}
    except ValueError:
        return {"arguments": arguments}
    return parsed if isinstance(parsed, dict) else {"arguments": parsed}


def _case_id(call_id: str | None, name: str, args: dict[str, Any]) -> str:
    return _core.stable_case_id("openai-agents", call_id, name, args)


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())
