"""The emulator's HTTP face: Slack's Web API (`/api/{method}`) on loopback.

`Emulator` is transport-independent (handle() takes parsed args) so a browser
"local workspace" can reuse it; `create_webapi_app` wraps it in Starlette the
way slack_sdk talks to slack.com, and `serve_emulator` runs that app inside
the caller's event loop for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import BaseRoute, Route

from slack_emulator.blockkit import Limits, check_message
from slack_emulator.methods import WebApiMethods, flag
from slack_emulator.scopes import needed_scopes
from slack_emulator.socket_mode import SocketModeHub
from slack_emulator.workspace import TEAM_ID, Hook, Message, SlackError, Workspace

# Errors that mean "the bot sent something Slack would refuse": tests assert
# none happened via Emulator.assert_no_rejections().
REJECTION_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_blocks_too_long",
        "msg_too_long",
        "invalid_metadata_format",
        "invalid_arguments",
        "view_too_large",
    }
)
# Form/query bodies carry structured arguments as JSON strings.
_JSON_ARGS = ("blocks", "view", "metadata", "attachments")


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    status_code: int
    response: dict[str, Any]
    at: float

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return self.response.get("error")


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    # A scripted fault, not a verdict on what the bot sent: not counted as a rejection.
    injected: bool = False


FaultKind = Literal["fail", "rate_limit", "delay", "refuse"]


@dataclass
class FaultRule:
    kind: FaultKind
    method: str | None  # None: every method
    remaining: int | None  # None: until cleared
    status: int = 500
    retry_after: int = 1
    seconds: float = 0.0
    error: str = "internal_error"
    # Only calls whose arguments satisfy this (None: every call of the method).
    when: Callable[[dict[str, Any]], bool] | None = None

    def matches(self, kind: FaultKind, method: str, args: dict[str, Any]) -> bool:
        alive = self.remaining is None or self.remaining > 0
        return alive and self.kind == kind and self.method in (None, method) and (self.when is None or self.when(args))


class Faults:
    """Scripted failures, consumed in the order they were added."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def fail(
        self,
        method: str | None = None,
        status: int = 500,
        count: int | None = 1,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> FaultRule:
        return self._add(FaultRule("fail", method, count, status=status, when=when))

    def rate_limit(self, method: str | None = None, retry_after: int = 1, count: int | None = 1) -> FaultRule:
        return self._add(FaultRule("rate_limit", method, count, status=429, retry_after=retry_after))

    def delay(
        self,
        method: str | None,
        seconds: float,
        count: int | None = 1,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> FaultRule:
        return self._add(FaultRule("delay", method, count, seconds=seconds, when=when))

    def refuse(
        self,
        method: str | None,
        error: str,
        count: int | None = 1,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> FaultRule:
        """Answer matching calls as Slack answers a request it refuses: HTTP 200, ok false, `error`."""
        return self._add(FaultRule("refuse", method, count, status=200, error=error, when=when))

    def clear(self) -> None:
        self.rules.clear()

    def _add(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def take(self, kind: FaultKind, method: str, args: dict[str, Any] | None = None) -> FaultRule | None:
        rule = next((r for r in self.rules if r.matches(kind, method, args or {})), None)
        if rule is not None and rule.remaining is not None:
            rule.remaining -= 1
        return rule


class PostRateLimiter:
    """Slack's ~1 message/second/channel rule for chat.postMessage."""

    def __init__(self, per_second: float, clock: Callable[[], float]) -> None:
        self.interval = 1.0 / per_second
        self.clock = clock
        self.last_post: dict[str, float] = {}

    def retry_after(self, channel: str) -> int | None:
        """Seconds to wait (Slack sends whole seconds, at least 1), or None if allowed."""
        now = self.clock()
        last = self.last_post.get(channel)
        if last is not None and now - last < self.interval:
            return max(1, math.ceil(self.interval - (now - last)))
        self.last_post[channel] = now
        return None


class Emulator:
    """A fake Slack: workspace state + Web API semantics + call log + faults."""

    def __init__(
        self,
        workspace: Workspace | None = None,
        *,
        strict_triggers: bool = True,
        auto_create_channels: bool = True,
        auto_create_users: bool = True,
        clock: Callable[[], float] = time.monotonic,
        limits: Limits | None = None,
        seed: int | None = None,
    ) -> None:
        # The flags configure a new workspace; a given workspace keeps its own.
        self.workspace = workspace or Workspace(
            strict_triggers=strict_triggers,
            auto_create_channels=auto_create_channels,
            auto_create_users=auto_create_users,
            clock=clock,
            seed=seed,
        )
        self.clock = self.workspace.clock  # one time source for triggers, rates and the call log
        self.limits = limits or Limits()
        self.methods = WebApiMethods(self.workspace, self.limits)
        self._method_table = self.methods.table()
        self.calls: list[Call] = []
        self.rejected: list[Call] = []
        self.faults = Faults()
        self.served_429 = 0
        self.served_5xx = 0
        self.server_url: str | None = None  # "http://127.0.0.1:PORT" while served
        self._post_rate: PostRateLimiter | None = None
        self._closing = asyncio.Event()
        self.socket_mode = SocketModeHub()
        # The one bot token this workspace knows (None: any xoxb-/xoxp- token works), and tokens Slack now
        # refuses with a given error (token_revoked, account_inactive, invalid_auth…).
        self.bot_token: str | None = None
        self.refused_tokens: dict[str, str] = {}

    # ---- configuration -------------------------------------------------------

    def revoke_token(self, token: str, error: str = "token_revoked") -> None:
        """From now on every call with `token` fails with `error`, as Slack answers for an uninstalled app."""
        self.refused_tokens[token] = error

    def enforce_post_rate(self, per_channel_per_second: float | None) -> None:
        self._post_rate = PostRateLimiter(per_channel_per_second, self.clock) if per_channel_per_second else None

    # ---- inspection ----------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def last_call(self, method: str) -> Call | None:
        calls = self.calls_to(method)
        return calls[-1] if calls else None

    def messages(self, channel: str, *, include_replies: bool = False) -> list[Message]:
        """Messages in a channel, oldest first; [] for a channel never posted to."""
        found = self.workspace.channels.get(channel)
        if found is None:
            return []
        return [m for m in found.messages if include_replies or not m.is_reply]

    def thread(self, channel: str, ts: str) -> list[Message]:
        return self.workspace.thread(channel, ts)

    def view(self, view_id: str) -> dict[str, Any]:
        return self.workspace.find_view(view_id)

    def last_opened_view(self) -> dict[str, Any] | None:
        opened = self.workspace.opened_views
        return self.workspace.views[opened[-1]] if opened else None

    def assert_no_rejections(self) -> None:
        if self.rejected:
            details = [f"{c.method}: {c.error} {c.response.get('errors', [])}" for c in self.rejected]
            raise AssertionError("Slack would have rejected:\n" + "\n".join(details))

    # ---- the Web API ---------------------------------------------------------

    async def handle(self, method: str, args: dict[str, Any], token: str | None) -> Reply:
        """Answer one Web API call as Slack would, and record it."""
        reply = await self._answer(method, args, token)
        self.record(method, args, reply)
        return reply

    async def _answer(self, method: str, args: dict[str, Any], token: str | None) -> Reply:
        # Only an app-level token opens a Socket Mode connection, and it is good for nothing else.
        app_level = method == "apps.connections.open"
        handler = (
            (lambda _args: {"url": self.socket_mode.url(self.server_url)})
            if app_level
            else self._method_table.get(method)
        )
        if handler is None:
            return _error("unknown_method")
        if not token:
            return _error("not_authed")
        if token.startswith("xapp-") != app_level:
            return _error("not_allowed_token_type")
        if not app_level and not token.startswith(("xoxb-", "xoxp-")):
            return _error("invalid_auth")
        if token in self.refused_tokens:
            return _error(self.refused_tokens[token])
        if not app_level and self.bot_token is not None and token != self.bot_token:
            return _error("invalid_auth")
        fault = await self._injected_fault(method, args)
        if fault is not None:
            return fault
        limited = self._post_rate_reply(method, args)
        if limited is not None:
            return limited
        # Slack tells every Web API caller which scopes its token has.
        scopes = {} if app_level else {"x-oauth-scopes": ",".join(sorted(self.workspace.bot_scopes))}
        missing = None if app_level else self._missing_scope(method, args)
        if missing is not None:
            return Reply(
                200,
                {
                    "ok": False,
                    "error": "missing_scope",
                    "needed": ",".join(missing),
                    "provided": scopes["x-oauth-scopes"],
                },
                scopes,
            )
        try:
            return Reply(200, {"ok": True, **handler(args)}, scopes)
        except SlackError as exc:
            reply = _error(exc.error, exc.errors)
            reply.headers.update(scopes)
            return reply

    def _missing_scope(self, method: str, args: dict[str, Any]) -> tuple[str, ...] | None:
        """The scopes this call needs that the token lacks (Slack's `needed`), or None."""
        private = None
        if method.startswith("conversations.") and isinstance(args.get("channel"), str):
            known = self.workspace.channels.get(args["channel"])
            private = known.is_private if known is not None else args["channel"].startswith("G")
        needed = needed_scopes(method, private_channel=private)
        missing = tuple(s for s in needed if s not in self.workspace.bot_scopes)
        return missing or None

    async def _injected_fault(self, method: str, args: dict[str, Any]) -> Reply | None:
        delay = self.faults.take("delay", method, args)
        if delay is not None:
            # Interruptible so a shutting-down server is not held by a sleeping request.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), timeout=delay.seconds)
        fail = self.faults.take("fail", method, args)
        if fail is not None:
            return Reply(fail.status, {"ok": False, "error": "internal_error"})
        refused = self.faults.take("refuse", method, args)
        if refused is not None:
            reply = _error(refused.error)
            reply.injected = True
            return reply
        limited = self.faults.take("rate_limit", method, args)
        if limited is not None:
            return _ratelimited(limited.retry_after)
        return None

    def _post_rate_reply(self, method: str, args: dict[str, Any]) -> Reply | None:
        if method != "chat.postMessage" or self._post_rate is None:
            return None
        wait = self._post_rate.retry_after(str(args.get("channel") or ""))
        return _ratelimited(wait) if wait is not None else None

    def record(self, method: str, args: dict[str, Any], reply: Reply) -> None:
        """Log a call; also used for things Slack does without an API call (response_action views)."""
        call = Call(method, args, reply.status, reply.body, self.clock())
        self.calls.append(call)
        if reply.status == 429:
            self.served_429 += 1
        elif reply.status >= 500:
            self.served_5xx += 1
        if call.error in REJECTION_ERRORS and not reply.injected:
            self.rejected.append(call)

    # ---- response_url ----------------------------------------------------------

    def response_url(self, hook: Hook, kind: str = "actions") -> str:
        # Served: a URL the bot can really POST to. Not served: Slack's shape,
        # so payloads still look right even though nothing listens there.
        root = self.server_url or "https://hooks.slack.com"
        return f"{root}/hooks/{kind}/{TEAM_ID}/{hook.id}"

    def handle_response_url(self, hook_id: str, body: dict[str, Any]) -> Reply:
        """Apply a message a bot POSTed to a response_url, and record it."""
        try:
            reply = Reply(200, {"ok": True, **self._apply_hook(hook_id, body)})
        except SlackError as exc:
            status = 404 if exc.error == "no_active_hooks" else 400
            reply = Reply(status, {"ok": False, "error": exc.error, "errors": exc.errors})
        self.record("response_url", body, reply)
        return reply

    def _apply_hook(self, hook_id: str, body: dict[str, Any]) -> dict[str, Any]:
        hook = self.workspace.hooks.get(hook_id)
        if hook is None:
            raise SlackError("no_active_hooks")
        if flag(body.get("delete_original")):
            self._delete_original(hook)
            return {}
        check_message(body.get("text"), body.get("blocks"), self.limits)
        if flag(body.get("replace_original")):
            self._replace_original(hook, body)
            return {}
        return self._post_from_hook(hook, body)

    def _delete_original(self, hook: Hook) -> None:
        ws = self.workspace
        if hook.is_ephemeral:
            eph = ws.find_ephemeral(hook.channel or "", hook.message_ts or "")
            if eph is not None:
                ws.ephemerals.remove(eph)
        elif hook.channel and hook.message_ts:
            ws.delete_message(hook.channel, hook.message_ts)

    def _replace_original(self, hook: Hook, body: dict[str, Any]) -> None:
        ws = self.workspace
        if not (hook.channel and hook.message_ts):
            raise SlackError("no_original_message")
        if hook.is_ephemeral:
            eph = ws.find_ephemeral(hook.channel, hook.message_ts)
            if eph is None:
                raise SlackError("message_not_found")
            eph.text = body.get("text") or ""
            eph.blocks = ws.assign_block_ids(body.get("blocks") or [])
            return
        # Bolt's respond(replace_original=True) without blocks clears them.
        ws.update_message(hook.channel, hook.message_ts, text=body.get("text") or "", blocks=body.get("blocks") or [])

    def _post_from_hook(self, hook: Hook, body: dict[str, Any]) -> dict[str, Any]:
        if not hook.channel:
            raise SlackError("channel_not_found")
        thread_ts = body.get("thread_ts") or hook.thread_ts
        if body.get("response_type") == "in_channel":
            msg = self.workspace.post_message(
                hook.channel, text=body.get("text") or "", blocks=body.get("blocks"), thread_ts=thread_ts
            )
            return {"ts": msg.ts}
        eph = self.workspace.post_ephemeral(
            hook.channel, hook.user_id, text=body.get("text") or "", blocks=body.get("blocks"), thread_ts=thread_ts
        )
        return {"ts": eph.ts}


def _error(error: str, errors: list[str] | None = None) -> Reply:
    body: dict[str, Any] = {"ok": False, "error": error}
    if errors:
        body["errors"] = errors
        body["response_metadata"] = {"messages": [f"[ERROR] {e}" for e in errors]}
    return Reply(200, body)


def _ratelimited(retry_after: int) -> Reply:
    return Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})


# ---- HTTP ------------------------------------------------------------------------


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _decode_json_args(args: dict[str, Any]) -> dict[str, Any]:
    for name in _JSON_ARGS:
        value = args.get(name)
        if isinstance(value, str) and value:
            # Left as a string when invalid so validation reports *_format errors.
            with contextlib.suppress(ValueError):
                args[name] = json.loads(value)
    return args


async def parse_api_request(request: Request) -> tuple[dict[str, Any], str | None, str | None]:
    """(args, token, error): merges query string and body the way Slack does."""
    args: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if raw and content_type == "application/json":
        try:
            body = json.loads(raw)
        except ValueError:
            return args, _bearer(request), "invalid_json"
        if not isinstance(body, dict):
            return args, _bearer(request), "invalid_json"
        args.update(body)
    elif raw and content_type == "multipart/form-data":
        return args, _bearer(request), "invalid_form_data"  # files.* are not emulated
    elif raw:
        args.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    # A form/query `token` is Slack's legacy alternative to the header.
    form_token = args.pop("token", None)
    token = _bearer(request) or (form_token if isinstance(form_token, str) else None)
    return _decode_json_args(args), token, None


def create_webapi_app(emulator: Emulator, extra_routes: Iterable[BaseRoute] = ()) -> Starlette:
    """The Web API (`/api/{method}`) and response_urls (`/hooks/…`), plus `extra_routes` (e.g. the dev UI's)."""

    async def api(request: Request) -> JSONResponse:
        method = request.path_params["method"]
        args, token, error = await parse_api_request(request)
        if error is not None:
            reply = _error(error)
            emulator.record(method, args, reply)
        else:
            reply = await emulator.handle(method, args, token)
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)

    async def hook(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"ok": False, "error": "invalid_payload"}, status_code=400)
        reply = emulator.handle_response_url(request.path_params["hook_id"], body)
        return JSONResponse(reply.body, status_code=reply.status)

    async def upload(request: Request) -> PlainTextResponse:
        """The upload URL files.getUploadURLExternal hands out: the file's bytes, raw, as slack_sdk sends them."""
        stored = emulator.workspace.files.get(request.path_params["file_id"])
        if stored is None:
            return PlainTextResponse("file not found", status_code=404)
        stored["content"] = await request.body()
        return PlainTextResponse(f"OK - {len(stored['content'])}")

    return Starlette(
        routes=[
            Route("/api/{method}", api, methods=["GET", "POST"]),
            Route("/hooks/{kind}/{team}/{hook_id}", hook, methods=["POST"]),
            Route("/upload/{file_id}", upload, methods=["POST"]),
            emulator.socket_mode.route(),
            *extra_routes,
        ]
    )


# ---- serving -----------------------------------------------------------------------


def require_loopback(host: str) -> None:
    """The emulator holds no secrets but must never be reachable off-box."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"serve_emulator only binds loopback addresses, not {host!r}")


class _EmbeddedServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stop = asyncio.Event()

    # Running inside someone else's loop (pytest, the bot): leave Ctrl-C and
    # SIGTERM handling to the host process instead of swallowing them.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        # uvicorn polls should_exit every 0.1 s; waking on an event instead
        # makes stopping immediate, which adds up over a test suite.
        while not await self.on_tick(0):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=1.0)

    async def shutdown(self, sockets: Any = None) -> None:
        # uvicorn's own shutdown sleeps a fixed 0.1 s after asking the connections to close, then polls every
        # 0.1 s: 0.2 s per test harness (emulator + app). Same steps and order, polling every 5 ms instead.
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                while (self.server_state.connections or self.server_state.tasks) and not self.force_exit:  # noqa: ASYNC110 - uvicorn's own shutdown wait, kept as it is
                    await asyncio.sleep(0.005)
        except TimeoutError:
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()

    def stop(self) -> None:
        self.should_exit = True
        self._stop.set()


async def _run(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits the process on bind errors
        raise RuntimeError(f"emulator server failed to start (exit {exc.code})") from None


async def _wait_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    while not server.started:
        if task.done():
            task.result()  # re-raise the startup failure
            raise RuntimeError("emulator server stopped before starting")
        await asyncio.sleep(0.005)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@contextlib.asynccontextmanager
async def serve_asgi(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    lifespan: Literal["on", "off", "auto"] = "off",
    on_stop: Callable[[], None] | None = None,
) -> AsyncIterator[str]:
    """Run any ASGI app on loopback in the current loop; yields "http://127.0.0.1:PORT"."""
    require_loopback(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan=lifespan)
    server = _EmbeddedServer(config)
    task = asyncio.create_task(_run(server))
    try:
        await _wait_started(server, task)
        bound_host, bound_port = server.servers[0].sockets[0].getsockname()[:2]
        yield f"http://{_url_host(bound_host)}:{bound_port}"
    finally:
        if on_stop is not None:
            on_stop()  # lets in-flight requests finish before uvicorn waits on them
        server.stop()
        with contextlib.suppress(Exception):
            await task


@contextlib.asynccontextmanager
async def serve_emulator(
    emulator: Emulator, host: str = "127.0.0.1", port: int = 0, *, extra_routes: Iterable[BaseRoute] = ()
) -> AsyncIterator[str]:
    """Serve the emulator on loopback; yields the Web API base URL (".../api/")."""
    emulator._closing = asyncio.Event()
    app = create_webapi_app(emulator, extra_routes=extra_routes)
    try:
        async with serve_asgi(app, host=host, port=port, on_stop=emulator._closing.set) as root:
            emulator.server_url = root
            emulator.methods.upload_root = root
            yield f"{root}/api/"
    finally:
        emulator.server_url = None
