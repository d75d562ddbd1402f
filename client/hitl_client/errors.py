"""What can go wrong when asking hitl, each as its own exception (all are `HitlError`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hitl_client.models import Case, Decision


class HitlError(Exception):
    """Base of every error this package raises."""


class Unauthorized(HitlError):
    """The server refused the API token (401)."""

    def __init__(self, url: str) -> None:
        super().__init__(f"hitl at {url} refused the API token (401): check HITL_API_TOKEN")
        self.url = url


class Invalid(HitlError):
    """The server refused the request as invalid (400, 413, 422); `fields` names each bad field."""

    def __init__(self, status: int, error: str, message: str, fields: list[dict[str, Any]]) -> None:
        named = "; ".join(f"{f.get('field')}: {f.get('message')}" for f in fields[:10])
        super().__init__(f"hitl refused the request ({status} {error}): {message}" + (f" [{named}]" if named else ""))
        self.status = status
        self.error = error
        self.message = message
        self.fields = fields


class Conflict(HitlError):
    """The case_id is already used for a different escalation (409)."""

    def __init__(self, case_id: str, message: str) -> None:
        super().__init__(f"case_id {case_id!r} is already used for a different escalation: {message}")
        self.case_id = case_id


class NotFound(HitlError):
    """No case with that case_id (404)."""

    def __init__(self, case_id: str) -> None:
        super().__init__(f"hitl has no case {case_id!r}")
        self.case_id = case_id


class Unreachable(HitlError):
    """No answer after bounded retries: connection errors, timeouts or 503s all along."""

    def __init__(self, url: str, attempts: int, last_error: str) -> None:
        super().__init__(f"hitl at {url} did not answer after {attempts} attempts (last: {last_error})")
        self.url = url
        self.attempts = attempts
        self.last_error = last_error


class ServerError(HitlError):
    """An answer this client does not expect (a 500, a body that is not JSON)."""

    def __init__(self, url: str, status: int, body: str) -> None:
        super().__init__(f"hitl at {url} answered {status}: {body[:500]}")
        self.url = url
        self.status = status
        self.body = body


class TimedOut(HitlError, TimeoutError):
    """No decision within the caller's timeout. The case stays open: wait again or `get` it later."""

    def __init__(self, case_id: str, timeout: float, case: Case | None) -> None:
        super().__init__(f"case {case_id!r} is still pending after {timeout:g} s")
        self.case_id = case_id
        self.timeout = timeout
        self.case = case


class Rejected(HitlError):
    """A reviewer rejected the case: `category` (e.g. "policy_violation") and `note` say why."""

    def __init__(self, case_id: str, category: str | None, note: str | None, decision: Decision) -> None:
        reviewer = (decision.decided_by.name or decision.decided_by.slack_user_id) if decision.decided_by else None
        by = f" by {reviewer}" if reviewer else ""
        super().__init__(f"case {case_id!r} was rejected{by} ({category or 'no category'}): {note or 'no note'}")
        self.case_id = case_id
        self.category = category
        self.note = note
        self.decision = decision


class UnexpectedDecision(HitlError):
    """A decision whose outcome this client does not know (a newer server); `decision.raw` has all of it.

    Raised where an approval is required: an unknown outcome is never taken as an approval."""

    def __init__(self, case_id: str, decision: Decision, message: str | None = None) -> None:
        super().__init__(
            f"case {case_id!r}: " + (message or f"an outcome this client does not know: {decision.outcome!r}")
        )
        self.case_id = case_id
        self.decision = decision


class InvalidSignature(HitlError):
    """A webhook whose Standard Webhooks signature or timestamp does not verify."""
