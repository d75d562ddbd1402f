"""Client for hitl: ask a human in Slack before your LLM system acts, and wait for the decision.

from hitl_client import HitlClient
hitl = HitlClient()  # HITL_URL, HITL_API_TOKEN
approval = hitl.request_approval(
    "refund", {"invoice": "1042", "amount": 49.0}, reason="Above the automatic limit", skill="billing"
)
refund(**approval.args)  # a rejection raised hitl_client.Rejected instead
"""

from hitl_client.client import AsyncHitlClient, HitlClient
from hitl_client.decorator import require_approval
from hitl_client.errors import (
    Conflict,
    HitlError,
    Invalid,
    InvalidSignature,
    NotFound,
    Rejected,
    ServerError,
    TimedOut,
    Unauthorized,
    UnexpectedDecision,
    Unreachable,
)
from hitl_client.models import Action, Approval, Case, Decision, DecisionEvent, Reviewer
from hitl_client.webhooks import verify_webhook

__all__ = [
    "Action",
    "Approval",
    "AsyncHitlClient",
    "Case",
    "Conflict",
    "Decision",
    "DecisionEvent",
    "HitlClient",
    "HitlError",
    "Invalid",
    "InvalidSignature",
    "NotFound",
    "Rejected",
    "Reviewer",
    "ServerError",
    "TimedOut",
    "Unauthorized",
    "UnexpectedDecision",
    "Unreachable",
    "require_approval",
    "verify_webhook",
]
