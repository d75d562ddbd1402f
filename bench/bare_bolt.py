#!/usr/bin/env python
"""The baseline of the ack-latency benchmark: a bare slack-bolt AsyncApp whose only listener acks.

    SLACK_SIGNING_SECRET=... SLACK_BOT_TOKEN=xoxb-... SLACK_API_URL=http://127.0.0.1:8901/api/ \
        python -m bench.bare_bolt --port 8902 [--log-level warning]

Same server stack as `hitl serve`: Starlette + `AsyncSlackRequestHandler` at `POST /slack/events`, uvicorn with
one worker and the same flags (`uvicorn.run(app, host, port, log_level, proxy_headers=True)`, uvloop and
httptools picked automatically). `GET /healthz` answers 200 for the start-up probe.
"""

from __future__ import annotations

import argparse
import os

import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def create_app() -> Starlette:
    token = os.environ["SLACK_BOT_TOKEN"]
    client = AsyncWebClient(token=token, base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"))
    bolt = AsyncApp(signing_secret=os.environ["SLACK_SIGNING_SECRET"], token=token, client=client)

    @bolt.action("hitl.approve")
    async def approve(ack: AsyncAck) -> None:
        await ack()

    handler = AsyncSlackRequestHandler(bolt)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[Route("/slack/events", events, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level, proxy_headers=True)


if __name__ == "__main__":
    main()
