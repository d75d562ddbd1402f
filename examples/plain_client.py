"""Send a draft answer to hitl and wait for a reviewer's decision in Slack.

export HITL_URL=http://127.0.0.1:PORT HITL_API_TOKEN=dev-token   # from `hitl dev` (or your server)
python examples/plain_client.py
"""

import sys
import uuid

from hitl_client import HitlClient, TimedOut

with HitlClient() as hitl:  # HITL_URL, HITL_API_TOKEN
    case = hitl.escalate(
        case_id=f"example-{uuid.uuid4().hex[:8]}",  # your id: sending it again is safe, it finds the same case
        model_draft="Yes. You were charged twice for invoice 1042; I have issued a refund of $49.00.",
        reason_for_escalation="Refund promise above the automatic limit",
        user_question="Can I get a refund for the double charge on invoice 1042?",
        skill="billing",
        risk_level="medium",
    )
    print(f"case {case.case_id} is {case.status} in queue {case.queue}; waiting for a reviewer…", flush=True)
    try:
        decision = hitl.wait(case.case_id, timeout=600)
    except TimedOut:
        sys.exit(f"no decision yet: `hitl.get({case.case_id!r})` later finds it")
    if decision.approved:
        print(
            f"{decision.outcome} by {decision.decided_by.name if decision.decided_by else '?'}: "
            f"send this:\n{decision.final_text}"
        )
    else:
        print(f"rejected ({decision.reason}): {decision.note}")
