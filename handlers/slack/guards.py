"""A reviewer's double click: two different bodies (each click has its own trigger_id) for one intent.

The second click on the same card button by the same person within DOUBLE_CLICK_SECONDS is acknowledged and
dropped, in a Bolt middleware on the body Bolt has already parsed and verified, so it serves HTTP and Socket
Mode alike. (The same body twice, Slack's retries and replays, is dropped before Bolt on every replica:
handlers/slack_events.py and bot/services/replays.py.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from blocks.ids import ActionId
from bot.services.replays import RecentKeys

DOUBLE_CLICK_SECONDS = 2.0
_GUARDED_CLICKS = {a.value for a in ActionId}


def _field(payload: dict[str, object], outer: str, inner: str) -> object:
    value = payload.get(outer)
    return value.get(inner) if isinstance(value, dict) else None


def _click_key(payload: object) -> str | None:
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


def register(app: AsyncApp) -> None:
    seen = RecentKeys()

    async def drop_double_clicks(body: dict[str, object], next: Callable[[], Awaitable[None]]) -> BoltResponse | None:  # noqa: A002 - Bolt injects it by this name
        key = _click_key(body)
        if key and not seen.add_if_new(key, DOUBLE_CLICK_SECONDS):
            return BoltResponse(status=200, body="")
        await next()
        return None

    app.middleware(drop_double_clicks)
