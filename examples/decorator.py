"""Guard a function with @require_approval: it runs only with arguments a reviewer approved (maybe edited).

export HITL_URL=http://127.0.0.1:PORT HITL_API_TOKEN=dev-token
python examples/decorator.py
"""

from hitl_client import HitlClient, Rejected, require_approval

hitl = HitlClient()


@require_approval(hitl, skill="billing", risk_level="high", reason="Refunds above $25 need a human")
def refund(invoice: str, amount: float, currency: str = "USD") -> str:
    # The real side effect would go here; it runs only after an approval.
    return f"refunded {amount:.2f} {currency} on invoice {invoice}"


try:
    print(refund("1042", 49.0), flush=True)
except Rejected as rejection:
    print(f"not refunded: {rejection.category}: {rejection.note}")
