"""Send a bot what Slack sends it: signed interactivity and slash-command requests.

Shapes follow Slack's documented payloads (slack_emulator/tests/fixtures/slack holds
samples in the same shape). With an Emulator attached, clicks and submissions are
resolved against what the bot really posted, and trigger ids / response_urls
come from the emulator so the bot's follow-up API calls can be checked.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from slack_emulator.blockkit import check_view
from slack_emulator.interactions import (
    action_payload,
    find_element,
    is_stateful,
    match_inputs,
    state_values,
    user_object,
)
from slack_emulator.webapi import Emulator, Reply
from slack_emulator.workspace import APP_ID, TEAM_DOMAIN, TEAM_ID, Message, SlackError, Trigger

SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


def sign(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 request signature."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def payload_body(payload: dict[str, Any]) -> bytes:
    # Byte-for-byte like the fixture form body: json.dumps defaults, quote() keeps "/".
    return ("payload=" + quote(json.dumps(payload))).encode()


class SlackRequestSender:
    """Posts Slack-shaped, signed requests to `{bot_url}/slack/events`."""

    def __init__(
        self,
        bot_url: str,
        signing_secret: str,
        emulator: Emulator | None = None,
        *,
        verification_token: str = "hitl-verification-token",
        timeout: float = 10.0,
        now: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
        team_id: str | None = None,
        enterprise_id: str | None = None,
        user_team_id: str | None = None,
    ) -> None:
        self.url = bot_url.rstrip("/") + "/slack/events"
        # Where the requests say they come from; by default the emulated workspace (and its organization).
        # Another value plays a user of another workspace, e.g. a Slack Connect guest in a shared channel.
        self._team_id = team_id
        self._enterprise_id = enterprise_id
        self._user_team_id = user_team_id
        self.signing_secret = signing_secret
        self.emulator = emulator
        self.verification_token = verification_token
        self.timeout = timeout
        self.now = now
        self.transport = transport  # e.g. httpx.ASGITransport(bot_app) to skip a real socket
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> SlackRequestSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ---- transport -----------------------------------------------------------

    async def send_raw(
        self,
        body: bytes,
        *,
        timestamp: str | int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> httpx.Response:
        """Post a body as Slack would; override timestamp/signature/headers to test rejection paths."""
        ts = str(timestamp if timestamp is not None else int(self.now()))
        all_headers = {
            "Content-Type": content_type,
            "User-Agent": SLACK_USER_AGENT,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature if signature is not None else sign(self.signing_secret, ts, body),
            **(headers or {}),
        }
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout, transport=self.transport)
        return await self._http.post(self.url, content=body, headers=all_headers)

    async def send_payload(self, payload: dict[str, Any]) -> httpx.Response:
        return await self.send_raw(payload_body(payload))

    # ---- helpers -----------------------------------------------------------------

    def _emulator(self) -> Emulator:
        if self.emulator is None:
            raise AssertionError("this needs SlackRequestSender(..., emulator=...) to know what the bot posted")
        return self.emulator

    @property
    def team_id(self) -> str:
        return self._team_id or (self.emulator.workspace.team_id if self.emulator else TEAM_ID)

    @property
    def enterprise_id(self) -> str | None:
        if self._enterprise_id is not None or self._team_id is not None:
            return self._enterprise_id
        return self.emulator.workspace.enterprise_id if self.emulator else None

    @property
    def user_team_id(self) -> str:
        # Slack: on Enterprise Grid, user.team_id reports the organization's E… ID instead of the workspace's.
        return self._user_team_id or self.enterprise_id or self.team_id

    def _common(self, user_id: str, user_name: str | None, trigger_id: str | None) -> dict[str, Any]:
        """Fields every interaction payload carries (view_closed has no trigger_id)."""
        user = self._emulator().workspace.ensure_user(user_id, user_name)
        enterprise = {"id": self.enterprise_id, "name": "Emulated Org"} if self.enterprise_id else None
        return {
            "user": user_object(user, self.user_team_id),
            "api_app_id": APP_ID,
            "token": self.verification_token,
            **({"trigger_id": trigger_id} if trigger_id is not None else {}),
            "team": {
                "id": self.team_id,
                "domain": TEAM_DOMAIN,
                **({"enterprise_id": self.enterprise_id, "enterprise_name": "Emulated Org"} if enterprise else {}),
            },
            "enterprise": enterprise,
            "is_enterprise_install": False,
        }

    def open_view(self, view_id: str) -> dict[str, Any]:
        """The stored view (AssertionError if the bot never opened it)."""
        try:
            return self._emulator().view(view_id)
        except SlackError:
            raise AssertionError(f"no view {view_id!r} was opened") from None

    def last_opened_view(self) -> dict[str, Any] | None:
        return self._emulator().last_opened_view()

    # ---- block_actions -------------------------------------------------------------

    async def click(
        self,
        user_id: str,
        channel: str,
        message_ts: str,
        action_id: str,
        *,
        value: Any = None,
        block_id: str | None = None,
        user_name: str | None = None,
    ) -> httpx.Response:
        """Click (or pick `value` in) an element of a message the bot posted."""
        ws = self._emulator().workspace
        message, blocks, thread_ts = self._clickable(user_id, channel, message_ts)
        state, block, element = _picked(blocks, action_id, block_id, value)
        is_ephemeral = message is None
        hook = ws.add_hook(user_id, channel, message_ts=message_ts, is_ephemeral=is_ephemeral, thread_ts=thread_ts)
        container = {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": is_ephemeral}
        if thread_ts:
            container["thread_ts"] = thread_ts
        payload = {
            "type": "block_actions",
            **self._common(user_id, user_name, ws.issue_trigger_id(user_id)),
            "container": container,
            "channel": {"id": channel, "name": ws.channels[channel].name},
            # Slack omits the message for ephemeral clicks (see the fixtures).
            **({"message": message.to_api(include_metadata=False)} if message else {}),
            "state": state,
            "response_url": self._emulator().response_url(hook),
            "actions": [action_payload(block, element, value, ws.next_ts())],
        }
        return await self.send_payload(_ordered(payload))

    def _clickable(
        self, user_id: str, channel: str, ts: str
    ) -> tuple[Message | None, list[dict[str, Any]], str | None]:
        """(message or None if ephemeral, its blocks, its thread_ts) — what the user can see."""
        ws = self._emulator().workspace
        message = ws.find_message(channel, ts)
        if message is not None:
            return message, message.blocks, message.thread_ts
        ephemeral = ws.find_ephemeral(channel, ts)
        if ephemeral is None:
            raise AssertionError(f"no message {ts} in {channel} (nor an ephemeral one)")
        if ephemeral.user != user_id:
            raise AssertionError(f"ephemeral {ts} is only visible to {ephemeral.user}, not {user_id}")
        return None, ephemeral.blocks, ephemeral.thread_ts

    async def click_in_view(
        self,
        user_id: str,
        view_id: str,
        action_id: str,
        *,
        value: Any = None,
        block_id: str | None = None,
        user_name: str | None = None,
    ) -> httpx.Response:
        """Click (or pick `value` in) an element of an open modal."""
        ws = self._emulator().workspace
        view = copy.deepcopy(self.open_view(view_id))
        view["state"], block, element = _picked(view["blocks"], action_id, block_id, value)
        payload = {
            "type": "block_actions",
            **self._common(user_id, user_name, ws.issue_trigger_id(user_id, view_id=view_id)),
            "container": {"type": "view", "view_id": view_id},
            "view": view,
            "actions": [action_payload(block, element, value, ws.next_ts())],
        }
        return await self.send_payload(payload)

    # ---- view_submission / view_closed ---------------------------------------------

    async def submit_view(
        self, user_id: str, view_id: str, values: dict[str, Any] | None = None, *, user_name: str | None = None
    ) -> httpx.Response:
        """Submit a modal; `values` maps block_id or action_id -> what the user entered/picked."""
        ws = self._emulator().workspace
        view = copy.deepcopy(self.open_view(view_id))
        if not ws.is_view_open(view_id):
            raise AssertionError(f"view {view_id} is not open (closed or replaced)")
        state = {"values": state_values(view["blocks"], match_inputs(view["blocks"], values or {}))}
        view["state"] = state
        ws.views[view_id]["state"] = copy.deepcopy(state)
        ws.view_errors.pop(view_id, None)
        payload = {
            "type": "view_submission",
            **self._common(user_id, user_name, ws.issue_trigger_id(user_id, view_id=view_id)),
            "view": view,
            "response_urls": [],
        }
        response = await self.send_payload(payload)
        self._apply_response_action(user_id, view_id, response)
        return response

    async def close_view(self, user_id: str, view_id: str, *, user_name: str | None = None) -> httpx.Response | None:
        """The user dismisses a modal; Slack only tells the bot if notify_on_close is set."""
        ws = self._emulator().workspace
        view = copy.deepcopy(self.open_view(view_id))
        ws.close_view(view_id)
        if not view.get("notify_on_close"):
            return None
        common = self._common(user_id, user_name, None)
        return await self.send_payload({"type": "view_closed", **common, "view": view, "is_cleared": False})

    def _apply_response_action(self, user_id: str, view_id: str, response: httpx.Response) -> None:
        if response.status_code != 200:
            return  # Slack shows the user an error and leaves the modal as it was
        body = _json_or_none(response)
        action = body.get("response_action") if body else None
        ws = self._emulator().workspace
        if action is None or action == "clear":
            ws.close_view(view_id, clear_stack=action == "clear")
        elif action == "errors":
            ws.view_errors[view_id] = dict(body.get("errors") or {})  # type: ignore[union-attr]
        elif action in ("update", "push"):
            self._apply_view_action(action, user_id, view_id, body.get("view"))  # type: ignore[union-attr]

    def _apply_view_action(self, action: str, user_id: str, view_id: str, view: Any) -> None:
        em = self._emulator()
        try:
            check_view(view, em.limits)
            if action == "update":
                em.workspace.update_view(view, view_id=view_id)
            else:
                em.workspace.push_view(Trigger("", user_id, em.clock(), view_id), view)
            em.record(f"response_action.{action}", {"view": view}, Reply(200, {"ok": True}))
        except SlackError as exc:
            body = {"ok": False, "error": exc.error, "errors": exc.errors}
            em.record(f"response_action.{action}", {"view": view}, Reply(200, body))

    # ---- slash commands ----------------------------------------------------------------

    async def slash_command(
        self, user_id: str, command: str, text: str = "", channel: str = "C0OPS", user_name: str | None = None
    ) -> httpx.Response:
        """A slash command as Slack posts it: plain form fields, no `payload=`."""
        ctx = self._command_context(user_id, channel, user_name)
        fields = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": TEAM_DOMAIN,
            **({"enterprise_id": self.enterprise_id, "enterprise_name": "Emulated Org"} if self.enterprise_id else {}),
            "channel_id": channel,
            "channel_name": ctx["channel_name"],
            "user_id": user_id,
            "user_name": ctx["user_name"],
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": ctx["response_url"],
            "trigger_id": ctx["trigger_id"],
        }
        return await self.send_raw(urlencode(fields).encode())

    def _command_context(self, user_id: str, channel: str, user_name: str | None) -> dict[str, str]:
        if self.emulator is None:  # standalone: plausible values, nothing to verify against
            return {
                "channel_name": channel.lower(),
                "user_name": user_name or user_id.lower(),
                "response_url": f"https://hooks.slack.com/commands/{TEAM_ID}/0/emulator",
                "trigger_id": f"{int(self.now())}.0.emulator",
            }
        ws = self.emulator.workspace
        chan = ws.channels.get(channel) or ws.add_channel(channel)
        return {
            "channel_name": chan.name,
            "user_name": ws.ensure_user(user_id, user_name)["name"],
            "response_url": self.emulator.response_url(ws.add_hook(user_id, channel), "commands"),
            "trigger_id": ws.issue_trigger_id(user_id),
        }


def _picked(
    blocks: list[dict[str, Any]], action_id: str, block_id: str | None, value: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The element a click hits, its block, and the state the click leaves (`value` picked in it, if stateful)."""
    block, element = find_element(blocks, action_id, block_id=block_id, value=value)
    chosen = (
        {(block.get("block_id", ""), element.get("action_id", "")): value}
        if value is not None and is_stateful(element)
        else {}
    )
    return {"values": state_values(blocks, chosen)}, block, element


def _ordered(payload: dict[str, Any]) -> dict[str, Any]:
    # Same key order as Slack's payloads; only matters to humans reading logs.
    order = [
        "type",
        "user",
        "api_app_id",
        "token",
        "container",
        "trigger_id",
        "team",
        "enterprise",
        "is_enterprise_install",
        "channel",
        "message",
        "state",
        "response_url",
        "actions",
    ]
    return {k: payload[k] for k in order if k in payload}


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    if not response.content.strip():
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
