"""POST /slack/events: a request is checked, cheapest refusal first, before anything parses its body.

1. A declared Content-Length over MAX_BODY_BYTES: 413, nothing read.
2. The body, read chunk by chunk: 413 the moment it passes MAX_BODY_BYTES; 408 when it has not all arrived
   within the body timeout. Both close the connection (the rest of the body is never read). A client that goes
   away meanwhile is one log line.
3. X-Slack-Signature and X-Slack-Request-Timestamp on the raw bytes (slack_sdk's SignatureVerifier, 5-minute
   window): 401 when missing, wrong or stale.
4. The same body seen before, on any replica: an empty 200 (bot/services/replays.py).
5. Only then does Bolt parse it (form decoding, the JSON of `payload`) and dispatch it. Bolt checks the signature
   again on the same bytes; it costs one HMAC.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from bot.services.replays import SlackReplays, request_key
from handlers.bodies import TooLarge, read_capped

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
_TIMESTAMP_DIGITS = 12  # Slack's are 10; a longer one is refused before int() sees it


def _refusal(status: int, error: str, message: str, *, close: bool = False) -> Response:
    # Closing is what makes a refusal cheap: the unread rest of the body is never read, not even to discard it.
    headers = {"Connection": "close"} if close else None
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


class SlackSignature:
    """Slack's v0 signature over the raw body. Exactly one timestamp and one signature header."""

    def __init__(self, signing_secret: str) -> None:
        self._verifier = SignatureVerifier(signing_secret)

    def is_valid(self, body: bytes, headers: Headers) -> bool:
        timestamps = headers.getlist("x-slack-request-timestamp")
        signatures = headers.getlist("x-slack-signature")
        if len(timestamps) != 1 or len(signatures) != 1:
            return False
        timestamp = timestamps[0]
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _TIMESTAMP_DIGITS):
            return False
        try:
            return self._verifier.is_valid(body, timestamp, signatures[0])
        except UnicodeDecodeError:
            return False  # Slack's bodies are UTF-8; the verifier signs the decoded text


class SlackEvents:
    """The /slack/events endpoint. `counts` says how far requests got (`parsed`: handed to Bolt)."""

    def __init__(
        self,
        bolt: AsyncApp,
        replays: SlackReplays,
        signing_secret: str,
        *,
        max_body: int = MAX_BODY_BYTES,
        body_timeout: float,
    ) -> None:
        self.bolt = bolt
        self.replays = replays
        self.signature = SlackSignature(signing_secret)
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.counts: Counter[str] = Counter()

    async def handle(self, request: Request) -> Response:
        self.counts["received"] += 1
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await read_capped(request, self.max_body)
        except TooLarge:
            return self._too_large()
        except TimeoutError:
            self.counts["timed_out"] += 1
            log.info("Slack request refused: its body did not arrive within %.0f s", self.body_timeout)
            return _refusal(408, "timeout", f"the body did not arrive within {self.body_timeout:.0f} s", close=True)
        except ClientDisconnect:
            self.counts["disconnected"] += 1
            log.info("Slack request abandoned: the client disconnected before sending the whole body")
            return Response(status_code=400)  # nobody is listening any more
        if not self.signature.is_valid(body, request.headers):
            self.counts["unsigned"] += 1
            log.info("Slack request refused: missing, wrong or stale signature")
            return _refusal(
                401, "invalid_signature", "not signed by Slack with this app's signing secret, or older than 5 minutes"
            )
        key = request_key(body)
        if not await self.replays.first_sight(key):
            self.counts["replayed"] += 1
            return Response(status_code=200)
        try:
            response = await self._dispatch(request, body)
        except BaseException:
            await self.replays.forget(key)
            raise
        if response.status_code >= 500 or response.status_code == 401:
            # Not processed (or Bolt refused it): Slack's retry of it must go through.
            await self.replays.forget(key)
        return response

    def _too_large(self) -> Response:
        self.counts["too_large"] += 1
        log.info("Slack request refused: body over %d bytes", self.max_body)
        return _refusal(413, "too_large", f"the body is over {self.max_body:,} bytes", close=True)

    async def _dispatch(self, request: Request, body: bytes) -> Response:
        try:
            self.counts["parsed"] += 1
            bolt_request = to_async_bolt_request(request, body)
            return to_starlette_response(await self.bolt.async_dispatch(bolt_request))
        except (OperationalError, DBAPIError, PoolTimeout):
            raise  # the app's handler answers 503
        except Exception as exc:  # noqa: BLE001 - Bolt raises on some malformed bodies before any listener runs
            log.warning("malformed Slack request: %s: %s", type(exc).__name__, exc)
            return JSONResponse(
                {"error": "malformed_payload", "message": "this is not a Slack request hitl understands"},
                status_code=400,
            )
