"""`verify_webhook`: check a hitl webhook's Standard Webhooks signature, then parse its event.

The scheme (https://www.standardwebhooks.com/): the secret is `whsec_` + base64 key bytes; the signature is
`v1,` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")); the `webhook-signature` header
holds one or more of them separated by spaces; the timestamp must be within a few minutes of now. Implemented
here (a few lines of the standard library) so the client needs no dependency for it; the tests check it
against the signatures of the server, which signs with the `standardwebhooks` package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence

from hitl_client.errors import InvalidSignature
from hitl_client.models import DecisionEvent

TOLERANCE_SECONDS = 5 * 60


def verify_webhook(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str | Sequence[str],
    *,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> DecisionEvent:
    """The event, once its signature verifies with `secret` (or any of several, while you rotate them).

    Pass the body exactly as received (bytes). Raises `hitl_client.InvalidSignature` otherwise. Deduplicate on
    `event.event_id`: a re-sent event carries the same one."""
    payload = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signatures = (lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and signatures):
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        sent_at = int(stamp)
    except ValueError:
        raise InvalidSignature(f"webhook-timestamp is not a Unix time: {stamp[:40]!r}") from None
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        raise InvalidSignature(
            f"webhook-timestamp {sent_at} is more than {tolerance:g} s from now (replayed, or a clock is off)"
        )
    signed = f"{msg_id}.{sent_at}.".encode() + payload
    expected = [_sign(key, signed) for key in _keys(secret)]
    offered = [part.split(",", 1)[1] for part in signatures.split() if part.startswith("v1,")]
    if not any(hmac.compare_digest(e, o.encode()) for e in expected for o in offered):
        raise InvalidSignature("no webhook-signature matches the secret")
    try:
        data = json.loads(payload)
    except ValueError:
        raise InvalidSignature("the signed body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidSignature("the signed body is not a JSON object")
    return DecisionEvent.model_validate(data)


def _keys(secret: str | Sequence[str]) -> list[bytes]:
    secrets = [secret] if isinstance(secret, str) else list(secret)
    keys = []
    for value in secrets:
        encoded = value.removeprefix("whsec_")
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a webhook secret is whsec_ followed by base64") from None
        if not key:
            raise ValueError("the webhook secret is empty")
        keys.append(key)
    return keys


def _sign(key: bytes, content: bytes) -> bytes:
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest())
