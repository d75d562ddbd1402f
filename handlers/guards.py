"""Requests Slack may send twice: its own retries (X-Slack-Retry-Num) and a reviewer's double click.

Each is acknowledged and dropped when the first one was processed (or is still being processed). A retry of a
request that failed with a 5xx is processed: dropping it would lose the click.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qs

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from starlette.responses import Response

from blocks.ids import ActionId

RETRY_MEMORY_SECONDS = 600.0
DOUBLE_CLICK_SECONDS = 2.0
_GUARDED_CLICKS = {a.value for a in ActionId}


class RecentKeys:
    """A bounded, expiring set (per process; a retry or double click reaches the same process in practice)."""

    def __init__(self, max_size: int = 20_000) -> None:
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._max = max_size

    def add_if_new(self, key: str, ttl: float) -> bool:
        now = time.monotonic()
        while self._expiry and (len(self._expiry) > self._max or next(iter(self._expiry.values())) < now):
            self._expiry.popitem(last=False)
        if self._expiry.get(key, 0.0) > now:
            return False
        self._expiry[key] = now + ttl
        self._expiry.move_to_end(key)
        return True

    def forget(self, key: str) -> None:
        self._expiry.pop(key, None)


def _field(payload: dict[str, object], outer: str, inner: str) -> object:
    value = payload.get(outer)
    return value.get(inner) if isinstance(value, dict) else None


def _click_key(body: str) -> str | None:
    try:
        payload = json.loads(parse_qs(body).get("payload", [""])[0] or "{}")
    except ValueError:
        return None
    return click_key(payload)


def click_key(payload: object) -> str | None:
    """Who clicked which card button: the same key twice within DOUBLE_CLICK_SECONDS is a double click."""
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    if action.get("action_id") not in _GUARDED_CLICKS:
        return None
    user = _field(payload, "user", "id")
    message_ts = _field(payload, "container", "message_ts")
    return f"click:{user}:{action.get('action_id')}:{message_ts}:{action.get('value')}"


class RepeatGuard:
    """Wraps the /slack/events handler: answers a repeat with an empty 200 instead of processing it again."""

    def __init__(self) -> None:
        self._seen = RecentKeys()

    def first_time(self, key: str, ttl: float) -> bool:
        return self._seen.add_if_new(key, ttl)

    async def handle(self, body: bytes, headers: Mapping[str, str], process: Callable[[], Awaitable[Response]]) -> Response:
        text = body.decode("utf-8", errors="replace")
        request_key = "body:" + hashlib.sha256(body).hexdigest()
        click_key = _click_key(text)
        is_retry = bool(headers.get("x-slack-retry-num"))
        if not self._seen.add_if_new(request_key, RETRY_MEMORY_SECONDS) and is_retry:
            return Response(status_code=200)
        if click_key and not self._seen.add_if_new(click_key, DOUBLE_CLICK_SECONDS):
            return Response(status_code=200)
        response = await process()
        if response.status_code >= 500 or response.status_code == 401:
            # Not processed (or not from Slack): a retry must go through, and a forgery must not block a click.
            self._seen.forget(request_key)
            if click_key:
                self._seen.forget(click_key)
        return response


class GuardedSocketModeHandler(AsyncSocketModeHandler):
    """Socket Mode with the same double-click guard: a repeated click is acknowledged and dropped."""

    def __init__(self, app: AsyncApp, app_token: str, web_client: AsyncWebClient, guard: RepeatGuard) -> None:
        super().__init__(app, app_token, web_client=web_client)
        self.guard = guard

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        key = click_key(req.payload) if req.type == "interactive" else None
        if key and not self.guard.first_time(key, DOUBLE_CLICK_SECONDS):
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        await super().handle(client, req)
