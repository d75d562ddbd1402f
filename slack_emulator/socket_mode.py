"""Socket Mode, as Slack runs it: `apps.connections.open` (app-level `xapp-` token) hands out a WebSocket URL;
the app connects, gets `hello`, and then receives each request as an envelope that it must acknowledge with the
envelope's id (plus a response payload where one is accepted, e.g. a modal's `response_action`).

`SocketModeTransport` lets `SlackRequestSender` send its usual Slack-shaped requests over that socket instead of
HTTP, so every helper (click, submit_view, command) works in either mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from slack_emulator.workspace import APP_ID

# Slack waits this long for an envelope's acknowledgement before it shows the user an error.
ACK_TIMEOUT = 3.0


class SocketModeHub:
    def __init__(self) -> None:
        self.connections: list[WebSocket] = []
        self.connected = asyncio.Event()
        self.opened = 0
        self._acks: dict[str, asyncio.Future[dict[str, Any] | None]] = {}

    def url(self, server_url: str | None) -> str:
        root = (server_url or "http://127.0.0.1").replace("http://", "ws://", 1)
        return f"{root}/socket-mode?ticket={uuid.uuid4()}"

    def route(self) -> WebSocketRoute:
        return WebSocketRoute("/socket-mode", self._endpoint)

    async def _endpoint(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self.opened += 1
        await websocket.send_json(
            {
                "type": "hello",
                "num_connections": len(self.connections) + 1,
                "debug_info": {"host": "applink-emulator", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            }
        )
        self.connections.append(websocket)
        self.connected.set()
        try:
            while True:
                message = json.loads(await websocket.receive_text())
                future = self._acks.pop(str(message.get("envelope_id")), None) if isinstance(message, dict) else None
                if future is not None and not future.done():
                    future.set_result(message.get("payload"))
        except (WebSocketDisconnect, ValueError):
            pass
        finally:
            self.connections.remove(websocket)
            if not self.connections:
                self.connected.clear()

    async def deliver(
        self, kind: str, payload: dict[str, Any], *, timeout: float = ACK_TIMEOUT
    ) -> dict[str, Any] | None:
        """Send one envelope to a connected app; its acknowledgement's payload (None if it carried none).
        TimeoutError if the app did not acknowledge within Slack's 3 s."""
        if not self.connections:
            raise ConnectionError("no app is connected over Socket Mode")
        envelope_id = str(uuid.uuid4())
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = future
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
        }
        try:
            await self.connections[-1].send_json(envelope)
            return await asyncio.wait_for(future, timeout)
        finally:
            self._acks.pop(envelope_id, None)

    async def close_all(self) -> None:
        for websocket in list(self.connections):
            with contextlib.suppress(Exception):
                await websocket.close()


class SocketModeTransport(httpx.AsyncBaseTransport):
    """An httpx transport that turns the form body Slack would POST into a Socket Mode envelope, and the
    acknowledgement into the HTTP answer (200 with its payload; 504 when none came within 3 s)."""

    def __init__(self, hub: SocketModeHub) -> None:
        self.hub = hub

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs((await request.aread()).decode("utf-8"), keep_blank_values=True)
        if "payload" in form:
            kind, payload = "interactive", json.loads(form["payload"][0])
        else:
            kind, payload = "slash_commands", {name: values[0] for name, values in form.items()}
        try:
            answer = await self.hub.deliver(kind, payload)
        except TimeoutError:
            return httpx.Response(504, request=request)
        content = json.dumps(answer).encode() if answer else b""
        return httpx.Response(
            200, content=content, headers={"Content-Type": "application/json"} if content else {}, request=request
        )
