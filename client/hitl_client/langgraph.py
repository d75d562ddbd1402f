"""LangGraph bridge: a paused run's interrupts go to hitl as escalations; the decisions come back as the
`Command(resume=…)` that continues the run.

Three interrupt shapes are understood:

- Agent Inbox's `HumanInterrupt` (`{action_request: {action, args}, config: {allow_accept, allow_edit,
  allow_respond, allow_ignore}, description}`, alone or in a list), answered with `HumanResponse`
  (`{type: accept | edit | response | ignore, args}`), a list for a list;
- LangChain's `HumanInTheLoopMiddleware`, batched (`HITLRequest`: `{action_requests, review_configs}`, answered
  with `{decisions: [...]}`) and per call (`{type: "tool_approval", name, args, …}`, answered with one decision:
  `{type: approve | edit | reject | respond, …}`).

Each action is one hitl case; its case_id comes from the interrupt's id, so resolving the same pause again
(after a crash, say) finds the same cases. A decision the interrupt does not allow (an edit where edits are
not allowed, a rejection with neither reject, respond nor ignore allowed) raises instead of being bent.

    graph = builder.compile(checkpointer=InMemorySaver())
    result = invoke_with_review(graph, inputs, config, HitlClient(), skill="ops")
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

try:
    from langgraph.types import Command, Interrupt
except ImportError as exc:  # pragma: no cover - exercised by hand
    raise ImportError("hitl_client.langgraph needs LangGraph: pip install 'hitl-client[langgraph]'") from exc

from hitl_client import _core
from hitl_client.client import AsyncHitlClient, HitlClient
from hitl_client.errors import Rejected, UnexpectedDecision
from hitl_client.models import Decision

INBOX, BATCHED, PER_CALL = "agent_inbox", "hitl_request", "tool_approval"


@dataclass(frozen=True)
class _Request:
    """One action to review, and what its interrupt allows as an answer."""

    case_id: str
    action: str
    args: dict[str, Any]
    description: str | None
    allowed: frozenset[str]  # in the shape's own words


@dataclass(frozen=True)
class _Pause:
    interrupt: Interrupt
    shape: str
    requests: list[_Request]
    listed: bool  # Agent Inbox: the value was a list, so the answer is a list


def review_interrupts(
    client: HitlClient,
    interrupts: Sequence[Interrupt],
    *,
    timeout: float | None = None,
    reason: str | None = None,
    **fields: Any,
) -> Command[str]:
    """Escalate every action of these interrupts, wait for the decisions, and return the `Command` to resume with.

    `fields` go with each escalation (`skill`, `risk_level`, `tenant_id`, …); `timeout` bounds the whole wait."""
    pauses = [_pause(i) for i in interrupts]
    for pause in pauses:
        for request in pause.requests:
            client.escalate(request.case_id, *_texts(request, reason), proposed_action=_proposal(request), **fields)
    deadline = None if timeout is None else time.monotonic() + timeout
    decisions = {r.case_id: client.wait(r.case_id, timeout=_left(deadline)) for p in pauses for r in p.requests}
    return Command(resume={p.interrupt.id: _resume_value(p, decisions) for p in pauses})


async def areview_interrupts(
    client: AsyncHitlClient,
    interrupts: Sequence[Interrupt],
    *,
    timeout: float | None = None,
    reason: str | None = None,
    **fields: Any,
) -> Command[str]:
    """`review_interrupts` for asyncio."""
    pauses = [_pause(i) for i in interrupts]
    for pause in pauses:
        for request in pause.requests:
            await client.escalate(
                request.case_id, *_texts(request, reason), proposed_action=_proposal(request), **fields
            )
    deadline = None if timeout is None else time.monotonic() + timeout
    decisions = {r.case_id: await client.wait(r.case_id, timeout=_left(deadline)) for p in pauses for r in p.requests}
    return Command(resume={p.interrupt.id: _resume_value(p, decisions) for p in pauses})


def invoke_with_review(
    graph: Any, graph_input: Any, config: Mapping[str, Any], client: HitlClient, **options: Any
) -> Any:
    """`graph.invoke`, resuming through hitl until the run no longer pauses. The graph needs a checkpointer."""
    result = graph.invoke(graph_input, config)
    while interrupts := graph.get_state(config).interrupts:
        result = graph.invoke(review_interrupts(client, interrupts, **options), config)
    return result


async def ainvoke_with_review(
    graph: Any, graph_input: Any, config: Mapping[str, Any], client: AsyncHitlClient, **options: Any
) -> Any:
    """`graph.ainvoke`, resuming through hitl until the run no longer pauses. The graph needs a checkpointer."""
    result = await graph.ainvoke(graph_input, config)
    while interrupts := (await graph.aget_state(config)).interrupts:
        result = await graph.ainvoke(await areview_interrupts(client, interrupts, **options), config)
    return result


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _pause(interrupt: Interrupt) -> _Pause:
    value = interrupt.value
    items = value if isinstance(value, list) else [value]
    if items and all(isinstance(v, Mapping) and "action_request" in v for v in items):
        requests = [
            _request(
                interrupt,
                i,
                v["action_request"].get("action"),
                v["action_request"].get("args"),
                v.get("description"),
                {k.removeprefix("allow_") for k, on in (v.get("config") or {}).items() if on},
            )
            for i, v in enumerate(items)
        ]
        return _Pause(interrupt, INBOX, requests, isinstance(value, list))
    if isinstance(value, Mapping) and "action_requests" in value:
        allowed_by_action = {
            c.get("action_name"): set(c.get("allowed_decisions") or ()) for c in value.get("review_configs") or ()
        }
        requests = [
            _request(
                interrupt,
                i,
                a.get("name"),
                a.get("args"),
                a.get("description"),
                allowed_by_action.get(a.get("name"), set()),
            )
            for i, a in enumerate(value["action_requests"])
        ]
        return _Pause(interrupt, BATCHED, requests, False)
    if isinstance(value, Mapping) and value.get("type") == "tool_approval":
        allowed = _allowed_from_schema(interrupt.response_schema)
        request = _request(interrupt, 0, value.get("name"), value.get("args"), value.get("description"), allowed)
        return _Pause(interrupt, PER_CALL, [request], False)
    raise ValueError(
        f"interrupt {interrupt.id} is not a review request hitl understands: {json.dumps(value, default=str)[:300]}"
    )


def _request(interrupt: Interrupt, index: int, action: Any, args: Any, description: Any, allowed: set[str]) -> _Request:
    if not isinstance(action, str) or not action or not isinstance(args, Mapping):
        raise ValueError(f"interrupt {interrupt.id}: an action needs a name and an args object")
    case_id = _core.stable_case_id("langgraph", interrupt.id, index, action, args)
    return _Request(
        case_id, action, dict(args), description if isinstance(description, str) else None, frozenset(allowed)
    )


def _allowed_from_schema(schema: Any) -> set[str]:
    """The decision types a per-call interrupt's `response_schema` (JSON Schema) lists; all four when unknown."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            kind = node.get("properties", {}).get("type") if isinstance(node.get("properties"), Mapping) else None
            if isinstance(kind, Mapping):
                found.update(v for v in [kind.get("const"), *(kind.get("enum") or [])] if isinstance(v, str))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(schema if isinstance(schema, Mapping) else {})
    return found or {"approve", "edit", "reject", "respond"}


def _texts(request: _Request, reason: str | None) -> tuple[str, str]:
    draft = _core.describe_action(request.action, request.args)
    if request.description:
        draft = f"{request.description}\n\n{draft}"
    return draft, reason or f"{request.action} needs a human's review"


def _proposal(request: _Request) -> dict[str, Any]:
    return {"action": request.action, "args": request.args}


def _resume_value(pause: _Pause, decisions: Mapping[str, Decision]) -> Any:
    answers = [_answer(pause.shape, r, decisions[r.case_id]) for r in pause.requests]
    if pause.shape == BATCHED:
        return {"decisions": answers}
    if pause.shape == INBOX and pause.listed:
        return answers
    return answers[0]


def _answer(shape: str, request: _Request, decision: Decision) -> dict[str, Any]:
    approved = decision.proposed_action
    new_args = approved.args if approved is not None else request.args
    if decision.approved and new_args == request.args:
        return _accept(shape, request)
    if decision.approved:
        return _edit(shape, request, decision, new_args)
    if decision.rejected:
        return _refuse(shape, request, decision)
    raise UnexpectedDecision(request.case_id, decision)


def _accept(shape: str, request: _Request) -> dict[str, Any]:
    if shape == INBOX:
        if "accept" in request.allowed:
            return {"type": "accept", "args": None}
        if "edit" in request.allowed:
            return {"type": "edit", "args": {"action": request.action, "args": request.args}}
    else:
        if "approve" in request.allowed:
            return {"type": "approve"}
        if "edit" in request.allowed:
            return {"type": "edit", "edited_action": {"name": request.action, "args": request.args}}
    raise ValueError(
        f"{request.action}: a reviewer approved it, but this interrupt allows neither accepting nor editing"
    )


def _edit(shape: str, request: _Request, decision: Decision, new_args: dict[str, Any]) -> dict[str, Any]:
    if "edit" in request.allowed:
        if shape == INBOX:
            return {"type": "edit", "args": {"action": request.action, "args": new_args}}
        return {"type": "edit", "edited_action": {"name": request.action, "args": new_args}}
    raise UnexpectedDecision(
        request.case_id,
        decision,
        f"a reviewer changed {request.action}'s arguments, but this interrupt does not allow edits",
    )


def _refuse(shape: str, request: _Request, decision: Decision) -> dict[str, Any]:
    message = f"A reviewer rejected {request.action} ({decision.reason or 'no category'}): {decision.note or 'no note'}"
    if shape == INBOX:
        if "respond" in request.allowed:
            return {"type": "response", "args": message}
        if "ignore" in request.allowed:
            return {"type": "ignore", "args": None}
    else:
        if "reject" in request.allowed:
            return {"type": "reject", "message": message}
        if "respond" in request.allowed:
            return {"type": "respond", "message": message}
    raise Rejected(request.case_id, decision.reason, decision.note, decision)
