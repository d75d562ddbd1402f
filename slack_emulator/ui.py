"""The browser face of the emulator (`hitl dev`): a Slack-like page over the emulated workspace.

    routes = create_ui_routes(
        emulator, sender_factory=lambda: SlackRequestSender(bot_url, secret, emulator), controls=controls
    )
    app = create_webapi_app(emulator, extra_routes=routes)

`GET /` serves the page (`static/`), `GET /ui/state` what one user sees, and the `POST /ui/*` routes turn what a
person does on the page into the same signed requests Slack sends the bot (through `SlackRequestSender`), so the
bot cannot tell the page from Slack. The page only reads the emulator's workspace; it never writes to it except
where Slack's own client would (a slash command's answer shown as an ephemeral message, dismissing one).

Everything here is for one person on loopback. Still, a page on 127.0.0.1 can be reached by any web site the
browser visits (a cross-site form post, DNS rebinding), and these routes act as any user, so every route checks
the Host header is loopback, the POSTs demand `Content-Type: application/json` (which a cross-site page cannot
send without a CORS preflight we never answer) and a same-origin `Origin` when there is one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from slack_emulator.blockkit import check_message
from slack_emulator.methods import flag
from slack_emulator.webapi import Emulator, Reply
from slack_emulator.workspace import BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, TEAM_NAME, Message, SlackError, Workspace

STATIC_DIR = Path(__file__).parent / "static"
MAX_ADVANCE_SECONDS = 400 * 86400  # one jump of the clock: a bit over a year
MAX_MESSAGES_PER_CHANNEL = 500  # the newest ones, in a long dev session
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# The page builds DOM nodes from bot text (never HTML), and this forbids any script but our own file anyway.
_PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: http: https:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class DevControls(Protocol):
    """What the page needs from `hitl dev` besides the emulator: who can act, where, and the bot's clock."""

    def users(self) -> list[dict[str, Any]]:
        """`[{"id": "U0SME1", "name": "Dana", "roles": ["billing tier 1 reviewer"]}, …]`: who the page can act as."""
        ...

    def channels(self) -> list[dict[str, Any]]:
        """`[{"id": "C0BILLING", "name": "billing-review", "purpose": "billing tier 1"}, …]`: the sidebar, in order."""
        ...

    def now(self) -> datetime:
        """The bot's clock."""
        ...

    async def advance(self, seconds: float) -> None:
        """Move the bot's clock forward, run the SLA sweep and deliver the outbox, so the page shows the result."""
        ...


SenderFactory = Callable[[], Any]  # () -> SlackRequestSender (or anything with its click/submit_view/… methods)


class BadRequest(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


# ---- what one user sees ----------------------------------------------------------------


def _ts_key(ts: str) -> tuple[int, int]:
    sec, _, frac = ts.partition(".")
    try:
        return int(sec or 0), int((frac or "0").ljust(6, "0")[:6])
    except ValueError:
        return 0, 0


def _broadcast_ts(emulator: Emulator) -> set[str]:
    """Thread replies the bot also sent to the channel (the workspace does not keep the flag; the call log does)."""
    found: set[str] = set()
    for call in emulator.calls:
        if (
            call.method == "chat.postMessage"
            and call.ok
            and call.args.get("thread_ts")
            and flag(call.args.get("reply_broadcast"))
        ):
            ts = call.response.get("ts")
            if isinstance(ts, str):
                found.add(ts)
    return found


def _user_names(ws: Workspace, users: list[dict[str, Any]]) -> dict[str, str]:
    names = {uid: str(u.get("real_name") or u.get("name") or uid) for uid, u in ws.users.items()}
    names.update({str(u["id"]): str(u.get("name") or u["id"]) for u in users if u.get("id")})
    names[BOT_USER_ID] = "hitl"
    return names


def _message_json(message: Message, names: dict[str, str]) -> dict[str, Any]:
    author = message.user or ""
    return {
        "ts": message.ts,
        "text": message.text,
        "blocks": message.blocks,
        "user": author,
        "user_name": names.get(author, author or "unknown"),
        "bot": bool(message.bot_id),
        "edited": message.edited_ts is not None,
        "thread_ts": message.thread_ts,
    }


def _ephemeral_json(eph: Any) -> dict[str, Any]:
    return {
        "ts": eph.ts,
        "text": eph.text,
        "blocks": eph.blocks,
        "user": BOT_USER_ID,
        "user_name": "hitl",
        "bot": True,
        "edited": False,
        "thread_ts": eph.thread_ts,
        "ephemeral": True,
    }


def _channel_json(
    ws: Workspace, channel_id: str, user_id: str, names: dict[str, str], broadcast: set[str]
) -> dict[str, Any]:
    channel = ws.channels.get(channel_id)
    messages = channel.messages if channel is not None else []
    by_ts = {m.ts: m for m in messages}
    ephemerals = [e for e in ws.ephemerals if e.channel == channel_id and e.user == user_id]
    threaded_ephemerals: dict[str, list[dict[str, Any]]] = {}
    timeline: list[dict[str, Any]] = []
    for message in messages:
        if message.is_reply:
            if message.ts in broadcast:
                timeline.append({**_message_json(message, names), "broadcast": True})
            continue
        item = _message_json(message, names)
        item["replies"] = [_message_json(by_ts[ts], names) for ts in message.replies if ts in by_ts]
        timeline.append(item)
    parents = {item["ts"] for item in timeline if "replies" in item}
    for eph in ephemerals:
        parent = by_ts.get(eph.thread_ts or "")
        if parent is not None and parent.is_reply:  # threaded on a reply: Slack shows it in the reply's thread
            parent = by_ts.get(parent.thread_ts or "")
        if parent is not None and parent.ts in parents:
            threaded_ephemerals.setdefault(parent.ts, []).append(_ephemeral_json(eph))
        else:
            timeline.append(_ephemeral_json(eph))
    for item in timeline:
        extra = threaded_ephemerals.get(item["ts"])
        if extra and "replies" in item:
            item["replies"] = sorted(item["replies"] + extra, key=lambda m: _ts_key(m["ts"]))
        if "replies" in item:
            item["reply_count"] = sum(1 for r in item["replies"] if not r.get("ephemeral"))
    timeline.sort(key=lambda m: _ts_key(m["ts"]))
    return {"messages": timeline[-MAX_MESSAGES_PER_CHANNEL:]}


def _modal_stack(ws: Workspace, user_id: str) -> list[dict[str, Any]]:
    stack = []
    for view_id in ws.open_stack(user_id):
        view = ws.views.get(view_id)
        if view is None:
            continue
        shown = {k: v for k, v in view.items() if k not in ("private_metadata", "state")}
        stack.append({"id": view_id, "view": shown, "errors": dict(ws.view_errors.get(view_id) or {})})
    return stack


def ui_state(emulator: Emulator, controls: DevControls, user_id: str | None = None) -> dict[str, Any]:
    """Everything the page shows to `user_id` (default: the first user), with a `version` that changes with it."""
    ws = emulator.workspace
    users = [dict(u) for u in controls.users()]
    user_id = user_id or (str(users[0]["id"]) if users else BOT_USER_ID)
    names = _user_names(ws, users)
    broadcast = _broadcast_ts(emulator)
    channels: list[dict[str, Any]] = []
    listed: set[str] = set()
    for entry in controls.channels():
        cid = str(entry["id"])
        listed.add(cid)
        channels.append(
            {
                "id": cid,
                "name": str(entry.get("name") or (ws.channels[cid].name if cid in ws.channels else cid)),
                "purpose": str(entry.get("purpose") or ""),
                "kind": "channel",
                **_channel_json(ws, cid, user_id, names, broadcast),
            }
        )
    # Whatever else the bot wrote to (a channel not in the policy, a DM to this user) is shown too, never hidden.
    for cid, channel in ws.channels.items():
        if cid in listed:
            continue
        if channel.is_im:
            if channel.dm_user != user_id:
                continue
            entry = {"id": cid, "name": "hitl", "purpose": "Direct messages with the bot", "kind": "dm"}
        else:
            entry = {"id": cid, "name": channel.name, "purpose": "not in the policy", "kind": "other"}
        body = _channel_json(ws, cid, user_id, names, broadcast)
        if body["messages"]:
            channels.append({**entry, **body})
    now = controls.now()
    state: dict[str, Any] = {
        "team": {"id": TEAM_ID, "name": TEAM_NAME, "domain": TEAM_DOMAIN},
        "user": next(
            (u for u in users if u.get("id") == user_id),
            {"id": user_id, "name": names.get(user_id, user_id), "roles": []},
        ),
        "users": users,
        "channels": channels,
        "modals": _modal_stack(ws, user_id),
        "names": {
            "users": names,
            "channels": {cid: c.name for cid, c in ws.channels.items()} | {c["id"]: c["name"] for c in channels},
            "usergroups": {gid: list(members) for gid, members in ws.usergroups.items()},
        },
        "now": now.isoformat(),
        "now_epoch": now.timestamp(),
    }
    state["version"] = hashlib.sha1(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return state


# ---- HTTP ------------------------------------------------------------------------------


def _host_is_loopback(request: Request) -> bool:
    host = request.headers.get("host", "")
    if host.startswith("["):
        name = host[: host.find("]") + 1] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if ":" in host else host
    return name.lower() in _LOOPBACK_HOSTS


def _check_read(request: Request) -> None:
    if not _host_is_loopback(request):
        raise BadRequest(403, "forbidden_host", "the dev UI only answers requests addressed to a loopback host")


async def _json_body(request: Request) -> dict[str, Any]:
    _check_read(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BadRequest(415, "unsupported_media_type", "send Content-Type: application/json")
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected = {f"http://{request.headers.get('host', '')}", f"https://{request.headers.get('host', '')}"}
        if origin not in expected:
            raise BadRequest(403, "forbidden_origin", f"cross-origin request from {origin} refused")
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise BadRequest(400, "invalid_json", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest(400, "invalid_json", "the body must be a JSON object")
    return body


def _text_field(body: dict[str, Any], name: str, *, required: bool = True, default: str | None = None) -> str:
    value = body.get(name, default)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadRequest(400, "invalid_arguments", f"{name} must be a non-empty string")
    return value


def _bot_answer(response: httpx.Response) -> dict[str, Any]:
    """What the bot said back to a Slack request, for the page."""
    out: dict[str, Any] = {"ok": response.status_code == 200, "status": response.status_code}
    text = response.text.strip()
    if text:
        try:
            body = response.json()
        except ValueError:
            body = text
        out["body"] = body
    return out


class DevUI:
    """The routes' state: the emulator, how to reach the bot, and the dev controls."""

    def __init__(self, emulator: Emulator, sender_factory: SenderFactory, controls: DevControls) -> None:
        self.emulator = emulator
        self.sender_factory = sender_factory
        self.controls = controls

    @property
    def ws(self) -> Workspace:
        return self.emulator.workspace

    def user_name(self, user_id: str) -> str | None:
        for user in self.controls.users():
            if user.get("id") == user_id:
                return str(user.get("name") or user_id)
        return None

    @contextlib.asynccontextmanager
    async def sender(self) -> AsyncIterator[Any]:
        sender = self.sender_factory()
        try:
            yield sender
        finally:
            close = getattr(sender, "aclose", None)
            if close is not None:
                await close()

    async def forward(self, send: Callable[[Any], Awaitable[httpx.Response | None]]) -> dict[str, Any]:
        """Send one Slack request to the bot; the bot's answer, or why it could not be sent."""
        try:
            async with self.sender() as sender:
                response = await send(sender)
        except (
            AssertionError
        ) as exc:  # the sender refuses what Slack's client could not do (stale button, closed modal)
            raise BadRequest(409, "not_possible", str(exc)) from None
        except SlackError as exc:
            raise BadRequest(409, exc.error, str(exc)) from None
        except httpx.HTTPError as exc:
            raise BadRequest(502, "bot_unreachable", f"the bot did not answer: {exc!r}") from None
        return {"ok": True, "status": None} if response is None else _bot_answer(response)

    # ---- routes ------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        _check_read(request)
        return FileResponse(
            STATIC_DIR / "index.html", headers={**_SECURITY_HEADERS, "Content-Security-Policy": _PAGE_CSP}
        )

    async def state(self, request: Request) -> dict[str, Any]:
        _check_read(request)
        user = request.query_params.get("user") or None
        state = ui_state(self.emulator, self.controls, user)
        if request.query_params.get("since") == state["version"]:
            return {"version": state["version"], "unchanged": True}
        return state

    async def click(self, request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        user = _text_field(body, "user")
        channel = _text_field(body, "channel")
        ts = _text_field(body, "ts")
        action_id = _text_field(body, "action_id")
        block_id = body.get("block_id") if isinstance(body.get("block_id"), str) else None
        value = body.get("value")
        return await self.forward(
            lambda s: s.click(
                user, channel, ts, action_id, value=value, block_id=block_id, user_name=self.user_name(user)
            )
        )

    async def view_action(self, request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        user = _text_field(body, "user")
        view_id = _text_field(body, "view_id")
        action_id = _text_field(body, "action_id")
        block_id = body.get("block_id") if isinstance(body.get("block_id"), str) else None
        self._own_view(user, view_id)
        return await self.forward(
            lambda s: s.click_in_view(
                user, view_id, action_id, value=body.get("value"), block_id=block_id, user_name=self.user_name(user)
            )
        )

    async def submit(self, request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        user = _text_field(body, "user")
        view_id = _text_field(body, "view_id")
        values = body.get("values") or {}
        if not isinstance(values, dict):
            raise BadRequest(400, "invalid_arguments", "values must be an object keyed by block_id")
        self._own_view(user, view_id)
        answer = await self.forward(lambda s: s.submit_view(user, view_id, values, user_name=self.user_name(user)))
        reply = answer.get("body")
        if isinstance(reply, dict) and reply.get("response_action"):
            answer["response_action"] = reply["response_action"]
            if reply["response_action"] == "errors":
                answer["errors"] = reply.get("errors") or {}
        answer["open"] = self.ws.is_view_open(view_id)
        return answer

    async def close(self, request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        user = _text_field(body, "user")
        view_id = _text_field(body, "view_id")
        self._own_view(user, view_id)
        return await self.forward(lambda s: s.close_view(user, view_id, user_name=self.user_name(user)))

    def _own_view(self, user: str, view_id: str) -> None:
        if view_id not in self.ws.views:
            raise BadRequest(404, "view_not_found", f"no view {view_id}")
        if view_id not in self.ws.open_stack(user):
            raise BadRequest(409, "not_possible", f"view {view_id} is not open for {user}")

    async def command(self, request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        user = _text_field(body, "user")
        channel = _text_field(body, "channel")
        command = _text_field(body, "command", default="/hitl")
        text = _text_field(body, "text", required=False).strip()
        if not command.startswith("/") or " " in command:
            raise BadRequest(400, "invalid_arguments", "command must look like /hitl")
        if text == command or text.startswith(command + " "):
            text = text[len(command) :].strip()  # the whole line was typed, "/hitl status"
        answer = await self.forward(
            lambda s: s.slash_command(user, command, text, channel=channel, user_name=self.user_name(user))
        )
        self._show_command_answer(user, channel, command, answer)
        return answer

    def _show_command_answer(self, user: str, channel: str, command: str, answer: dict[str, Any]) -> None:
        """Slack shows the HTTP answer to a slash command as a message: ephemeral unless it says in_channel."""
        if not answer["ok"]:
            failure = f'{command} failed with the error "dispatch_failed" (the bot answered HTTP {answer["status"]})'
            self.ws.post_ephemeral(channel, user, text=failure)
            return
        reply = answer.get("body")
        if reply is None:
            return  # a bare ack: the bot answers some other way (a modal, response_url, chat.postEphemeral)
        if isinstance(reply, str):
            reply = {"text": reply}
        if not isinstance(reply, dict) or not (reply.get("text") or reply.get("blocks")):
            return
        text = reply.get("text") if isinstance(reply.get("text"), str) else ""
        blocks = reply.get("blocks") if isinstance(reply.get("blocks"), list) else None
        try:
            check_message(text, blocks, self.emulator.limits)
        except SlackError as exc:
            # Slack refuses it the same way it refuses a bad chat.postMessage; tests see it in assert_no_rejections.
            self.emulator.record(
                "slash_command.response", reply, Reply(200, {"ok": False, "error": exc.error, "errors": exc.errors})
            )
            self.ws.post_ephemeral(channel, user, text=f'{command} failed with the error "{exc.error}"')
            answer["error"] = exc.error
            return
        self.emulator.record("slash_command.response", reply, Reply(200, {"ok": True}))
        if reply.get("response_type") == "in_channel":
            message = self.ws.post_message(channel, text=text or "", blocks=blocks)
            answer["ts"] = message.ts
        else:
            answer["ts"] = self.ws.post_ephemeral(channel, user, text=text or "", blocks=blocks).ts

    async def dismiss(self, request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        user = _text_field(body, "user")
        channel = _text_field(body, "channel")
        ts = _text_field(body, "ts")
        eph = self.ws.find_ephemeral(channel, ts)
        if eph is None or eph.user != user:
            raise BadRequest(404, "message_not_found", "no such ephemeral message for this user")
        self.ws.ephemerals.remove(eph)
        return {"ok": True}

    async def clock(self, request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        seconds = body.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
            raise BadRequest(400, "invalid_arguments", "seconds must be a number")
        if not 0 < seconds <= MAX_ADVANCE_SECONDS:
            raise BadRequest(400, "invalid_arguments", f"seconds must be between 0 and {MAX_ADVANCE_SECONDS}")
        await self.controls.advance(float(seconds))
        now = self.controls.now()
        return {"ok": True, "now": now.isoformat(), "now_epoch": now.timestamp()}

    def routes(self) -> list[BaseRoute]:
        def json_route(
            handler: Callable[[Request], Awaitable[dict[str, Any]]],
        ) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                try:
                    body = await handler(request)
                except BadRequest as exc:
                    return JSONResponse(
                        {"ok": False, "error": exc.error, "message": exc.message},
                        status_code=exc.status,
                        headers=_SECURITY_HEADERS,
                    )
                return JSONResponse(body, headers=_SECURITY_HEADERS)

            return endpoint

        async def page(request: Request) -> Response:
            try:
                return await self.page(request)
            except BadRequest as exc:
                return JSONResponse({"ok": False, "error": exc.error, "message": exc.message}, status_code=exc.status)

        posts = {
            "/ui/click": self.click,
            "/ui/view_action": self.view_action,
            "/ui/submit": self.submit,
            "/ui/close": self.close,
            "/ui/command": self.command,
            "/ui/dismiss": self.dismiss,
            "/ui/clock": self.clock,
        }
        return [
            Route("/", page, methods=["GET"]),
            Route("/ui/state", json_route(self.state), methods=["GET"]),
            *(Route(path, json_route(handler), methods=["POST"]) for path, handler in posts.items()),
            Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        ]


def create_ui_routes(emulator: Emulator, *, sender_factory: SenderFactory, controls: DevControls) -> list[BaseRoute]:
    """The page (`/`, `/static/*`) and its JSON API (`/ui/*`), to mount next to the Web API."""
    return DevUI(emulator, sender_factory, controls).routes()
