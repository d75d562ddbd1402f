"""An OpenAI Agents SDK agent whose refund tool needs approval; hitl's reviewers approve, edit or reject it.

Runs offline with a scripted model; pass --model gpt-4.1 (and set OPENAI_API_KEY) for a real one.

    pip install "hitl-client[openai-agents]"
    export HITL_URL=http://127.0.0.1:PORT HITL_API_TOKEN=dev-token
    python examples/openai_agents.py
"""

import argparse
import asyncio

from agents import Agent, RunConfig, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call

from hitl_client import AsyncHitlClient
from hitl_client.openai_agents import resolve_interruptions, with_reviewed_args


@function_tool
def refund(invoice: str, amount: float) -> str:
    """Refund an invoice."""
    return f"refunded {amount:.2f} on invoice {invoice}"


async def main(model_name: str | None) -> None:
    model = model_name or ScriptedModel(
        [
            [function_call("refund", {"invoice": "1042", "amount": 49.0}, call_id="call_1")],
            [assistant_message("I have taken care of the refund.")],
        ]
    )
    async with AsyncHitlClient() as hitl:
        # Wrapped, the tool always needs approval and runs with the arguments as a reviewer approved them.
        agent = Agent(
            name="Support", instructions="Refund double charges.", model=model, tools=[with_reviewed_args(refund, hitl)]
        )
        config = RunConfig(tracing_disabled=model_name is None)
        result = await Runner.run(agent, "I was charged twice for invoice 1042 ($49).", run_config=config)
        while result.interruptions:
            state = result.to_state()  # serialisable: a paused run can wait in a database instead
            await resolve_interruptions(hitl, state, skill="billing", risk_level="high")
            result = await Runner.run(agent, state, run_config=config)
        for item in result.new_items:
            if item.type == "tool_call_output_item":
                print(f"tool: {item.output}")
        print(f"agent: {result.final_output}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="a real model name (needs OPENAI_API_KEY); default: a scripted model, offline")
    asyncio.run(main(parser.parse_args().model))
