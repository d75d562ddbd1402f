"""A LangGraph graph that pauses for approval (Agent Inbox's HumanInterrupt); hitl's reviewers answer it.

pip install "hitl-client[langgraph]"
export HITL_URL=http://127.0.0.1:PORT HITL_API_TOKEN=dev-token
python examples/langgraph_agent.py
"""

from typing import TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import interrupt

from hitl_client import HitlClient
from hitl_client.langgraph import invoke_with_review


class State(TypedDict, total=False):
    command: str
    outcome: str


def run_command(state: State) -> State:
    request = {
        "action_request": {"action": "run_command", "args": {"command": state["command"]}},
        "config": {"allow_accept": True, "allow_edit": True, "allow_respond": True, "allow_ignore": False},
        "description": "The agent wants to run a shell command on the build server",
    }
    response = interrupt([request])[0]  # the run pauses here; hitl's decision resumes it
    if response["type"] == "accept":
        return {"outcome": f"ran: {state['command']}"}
    if response["type"] == "edit":
        return {"outcome": f"ran: {response['args']['args']['command']}"}
    return {"outcome": f"not run: {response['args']}"}


graph = (
    StateGraph(State)
    .add_node("run_command", run_command)
    .add_edge(START, "run_command")
    .compile(checkpointer=InMemorySaver())
)

with HitlClient() as hitl:
    result = invoke_with_review(
        graph, {"command": "rm -rf /var/cache/build"}, {"configurable": {"thread_id": "build-1"}}, hitl, skill="billing"
    )
print(result["outcome"])
