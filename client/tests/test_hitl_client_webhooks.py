"""verify_webhook: the Standard Webhooks scheme, checked against the `standardwebhooks` package's own signing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

pytest.importorskip("hitl_client", reason="./client is not installed (README: Tests)")

from hitl_client import InvalidSignature, verify_webhook

standardwebhooks = pytest.importorskip("standardwebhooks.webhooks")

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EVENT = {
    "event_id": "evt_1",
    "type": "review.decided",
    "case_id": "c1",
    "outcome": "approved",
    "brand_new_field": [1, 2],
}


def signed(body: bytes, at: datetime, secret: str = SECRET, msg_id: str = "evt_1") -> dict[str, str]:
    return {
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(int(at.timestamp())),
        "Webhook-Signature": standardwebhooks.Webhook(secret).sign(msg_id, at, body),
    }


def test_a_signed_event_verifies_and_parses_with_unknown_fields_kept() -> None:
    body = json.dumps(EVENT).encode()
    now = datetime.now(UTC)
    event = verify_webhook(body, signed(body, now), SECRET)
    assert (event.event_id, event.type, event.case_id, event.outcome) == ("evt_1", "review.decided", "c1", "approved")
    assert event.model_extra == {"brand_new_field": [1, 2]} and event.raw == EVENT
    # Several signatures in the header (the sender rotating) and a str body verify too.
    headers = signed(body, now)
    headers["Webhook-Signature"] = "v1,bm9wZQ== " + headers["Webhook-Signature"]
    assert verify_webhook(body.decode(), headers, SECRET).event_id == "evt_1"


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda body, headers: (body + b" ", headers), "no webhook-signature matches"),
        (lambda body, headers: (body, {**headers, "Webhook-Id": "evt_2"}), "no webhook-signature matches"),
        (lambda body, headers: (body, {k: v for k, v in headers.items() if k != "Webhook-Signature"}), "missing"),
        (lambda body, headers: (body, {**headers, "Webhook-Timestamp": "soon"}), "not a Unix time"),
    ],
)
def test_tampering_is_refused(change, problem: str) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(EVENT).encode()
    tampered_body, tampered_headers = change(body, signed(body, datetime.now(UTC)))
    with pytest.raises(InvalidSignature, match=problem):
        verify_webhook(tampered_body, tampered_headers, SECRET)


def test_an_old_timestamp_is_refused_as_a_replay() -> None:
    body = json.dumps(EVENT).encode()
    then = datetime(2026, 1, 1, tzinfo=UTC)
    headers = signed(body, then)
    with pytest.raises(InvalidSignature, match="from now"):
        verify_webhook(body, headers, SECRET)
    assert verify_webhook(body, headers, SECRET, now=then.timestamp() + 60).case_id == "c1"


def test_a_malformed_secret_is_a_clear_error() -> None:
    body = json.dumps(EVENT).encode()
    with pytest.raises(ValueError, match="base64"):
        verify_webhook(body, signed(body, datetime.now(UTC)), "whsec_not base64!")
