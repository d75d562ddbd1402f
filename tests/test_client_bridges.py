"""The LangGraph and OpenAI Agents SDK bridges, each with the real library and a scripted model (no network),
end to end against the real hitl app; reviewers decide through signed Slack requests."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("hitl_client", reason="./client is not installed (README: Tests)")
pytest.importorskip("langgraph", reason="./client is not installed (README: Tests)")
pytest.importorskip("langchain", reason="./client is not installed (README: Tests)")
pytest.importorskip("agents", reason="./client is not installed (README: Tests)")

from agents import Agent, RunConfig, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from hitl_client import AsyncHitlClient, HitlClient
from hitl_client.langgraph import ainvoke_with_review, invoke_with_review
from hitl_client.openai_agents import resolve_interruptions, with_reviewed_args
from tests.client_harness import client, edit, quick_polls, reject, server  # noqa: F401 - fixtures
from tests.support import API_TOKEN, Harness

# ---- LangGraph: Agent Inbox's HumanInterrupt in a plain graph --------------------------------------------------


class CommandState(TypedDict, total=False):
    command: str
    outcome: str


def inbox_graph() -> Any:
    def propose(state: CommandState) -> CommandState:
        request = {
            "action_request": {"action": "run_command", "args": {"command": state["command"]}},
            "config": {"allow_accept": True, "allow_edit": True, "allow_respond": True, "allow_ignore": True},
            "description": "The agent wants to run a shell command",
        }
        response = interrupt([request])[0]
        if response["type"] == "accept":
            return {"outcome": f"ran {state['command']}"}
        if response["type"] == "edit":
            return {"outcome": f"ran {response['args']['args']['command']}"}
        if response["type"] == "response":
            return {"outcome": f"told: {response['args']}"}
        return {"outcome": "skipped"}

    return (
        StateGraph(CommandState)
        .add_node("propose", propose)
        .add_edge(START, "propose")
        .compile(checkpointer=InMemorySaver())
    )


async def test_langgraph_agent_inbox_interrupt_edited_and_rejected(server: Harness) -> None:
    graph = inbox_graph()
    with HitlClient(server.url, API_TOKEN) as hitl:
        config = {"configurable": {"thread_id": "t1"}}
        running = asyncio.create_task(
            asyncio.to_thread(
                invoke_with_review, graph, {"command": "rm -rf /tmp/cache"}, config, hitl, skill="billing"
            )
        )
        await edit(server, {"arg_0": "rm -rf /tmp/cache/old"})
        assert (await running)["outcome"] == "ran rm -rf /tmp/cache/old"

        config = {"configurable": {"thread_id": "t2"}}
        running = asyncio.create_task(
            asyncio.to_thread(invoke_with_review, graph, {"command": "shutdown now"}, config, hitl, skill="billing")
        )
        await reject(server, "unsafe", "Not on a weekday")
        assert (await running)["outcome"] == "told: A reviewer rejected run_command (unsafe): Not on a weekday"


# ---- LangGraph: LangChain's HumanInTheLoopMiddleware, with a scripted chat model ---------------------------------


class ScriptedChatModel(GenericFakeChatModel):
    """Answers from a script; tools are 'bound' by ignoring them (the script already names its tool calls)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        return self


sent: list[dict[str, Any]] = []
deleted: list[str] = []


@tool
def send_email(to: str, subject: str) -> str:
    """Send an email."""
    sent.append({"to": to, "subject": subject})
    return f"sent to {to}"


@tool
def delete_file(path: str) -> str:
    """Delete a file."""
    deleted.append(path)
    return f"deleted {path}"


def email_agent(mode: str) -> Any:
    model = ScriptedChatModel(
        messages=iter(
            [
                AIMessage(
                    content="",
                    tool_calls=[
                        {
                            "name": "send_email",
                            "args": {"to": "all@example.com", "subject": "Q3 numbers"},
                            "id": "call_1",
                        },
                        {"name": "delete_file", "args": {"path": "/reports/q3.xlsx"}, "id": "call_2"},
                    ],
                ),
                AIMessage(content="Done."),
            ]
        )
    )
    middleware = HumanInTheLoopMiddleware(
        interrupt_on={"send_email": True, "delete_file": {"allowed_decisions": ["approve", "reject"]}},
        interrupt_mode=mode,  # type: ignore[arg-type]
    )
    return create_agent(model, tools=[send_email, delete_file], middleware=[middleware], checkpointer=InMemorySaver())


@pytest.mark.parametrize("mode", ["batched", "per_call"])
async def test_langchain_hitl_middleware_edit_and_reject(server: Harness, client: AsyncHitlClient, mode: str) -> None:
    sent.clear()
    deleted.clear()
    config = {"configurable": {"thread_id": f"email-{mode}"}}
    inputs = {"messages": [{"role": "user", "content": "Send the Q3 numbers, then delete the report."}]}
    running = asyncio.create_task(ainvoke_with_review(email_agent(mode), inputs, config, client, skill="billing"))
    # Per call, the second interrupt comes only once the first is answered; batched, both come at once.
    await edit(server, {"arg_0": "cfo@example.com"}, showing="send_email")
    await reject(server, "policy_violation", "Keep the report for the audit", showing="delete_file")
    result = await running
    assert sent == [{"to": "cfo@example.com", "subject": "Q3 numbers"}] and deleted == []
    tool_messages = {m.name: m for m in result["messages"] if isinstance(m, ToolMessage)}
    assert tool_messages["send_email"].content.endswith("sent to cfo@example.com")
    assert "Keep the report for the audit" in tool_messages["delete_file"].content
    assert result["messages"][-1].content == "Done."


# ---- OpenAI Agents SDK: ToolApprovalItem interruptions, with a scripted model -------------------------------------


refunds: list[dict[str, Any]] = []
closed: list[str] = []


@function_tool
def refund(invoice: str, amount: float) -> str:
    """Refund an invoice."""
    refunds.append({"invoice": invoice, "amount": amount})
    return f"refunded {amount} on {invoice}"


@function_tool(needs_approval=True)
def close_account(account: str) -> str:
    """Close a customer's account."""
    closed.append(account)
    return f"closed {account}"


async def test_openai_agents_approvals_with_edited_args_and_a_rejection(
    server: Harness, client: AsyncHitlClient
) -> None:
    refunds.clear()
    closed.clear()
    model = ScriptedModel(
        [
            [
                function_call("refund", {"invoice": "1042", "amount": 49.0}, call_id="call_r"),
                function_call("close_account", {"account": "acme"}, call_id="call_c"),
            ],
            [assistant_message("Refunded; the account stays open.")],
        ]
    )
    agent = Agent(
        name="Support", instructions="Help.", model=model, tools=[with_reviewed_args(refund, client), close_account]
    )
    run_config = RunConfig(tracing_disabled=True)
    result = await Runner.run(agent, "Refund invoice 1042 and close the account", run_config=run_config)
    assert {i.name for i in result.interruptions} == {"refund", "close_account"}
    state = result.to_state()
    resolving = asyncio.create_task(resolve_interruptions(client, state, skill="billing"))
    await edit(server, {"arg_1": "39.5"}, showing="refund")
    await reject(server, "policy_violation", "Accounts are closed by the account team", showing="close_account")
    await resolving
    result = await Runner.run(agent, state, run_config=run_config)
    assert result.final_output == "Refunded; the account stays open." and not result.interruptions
    assert refunds == [{"invoice": "1042", "amount": 39.5}] and closed == []
    outputs = {
        i["call_id"]: i["output"]
        for i in model.last_call.input
        if isinstance(i, dict) and i.get("type") == "function_call_output"
    }  # type: ignore[union-attr]
    assert outputs["call_r"] == "refunded 39.5 on 1042"
    assert "rejected close_account (policy_violation: Accounts are closed by the account team)" in str(
        outputs["call_c"]
    )


async def test_openai_agents_edit_of_an_unwrapped_tool_is_sent_back_to_the_model(
    server: Harness, client: AsyncHitlClient
) -> None:
    closed.clear()
    model = ScriptedModel(
        [[function_call("close_account", {"account": "acme"}, call_id="call_1")], [assistant_message("ok")]]
    )
    agent = Agent(name="Support", model=model, tools=[close_account])
    result = await Runner.run(agent, "Close acme", run_config=RunConfig(tracing_disabled=True))
    state = result.to_state()
    resolving = asyncio.create_task(resolve_interruptions(client, state, skill="billing"))
    await edit(server, {"arg_0": "acme-eu"})
    await resolving
    await Runner.run(agent, state, run_config=RunConfig(tracing_disabled=True))
    assert closed == []
    [output] = [
        i["output"] for i in model.last_call.input if isinstance(i, dict) and i.get("type") == "function_call_output"
    ]  # type: ignore[union-attr]
    assert 'approved it with {"account": "acme-eu"}' in str(output)
