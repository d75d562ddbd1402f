#!/usr/bin/env python
"""The loopback Slack emulator in its own process, for the benchmarks (so it never shares an event loop with
`hitl serve` or with the load generator).

    python -m bench.emulator_server --port 8901 [--post-rate 5]

Serves `Emulator(strict_triggers=False)` (Slack's Web API at `/api/`), with the user groups of the test policy
(S0BILLING = U0BILL1, U0BILL2, ...), plus a few JSON routes for the benchmark:

* `GET  /bench/stats`                      calls per method (ok / not ok), 429s and 5xx served, rejections;
* `GET  /bench/calls?method=M&since=N`     calls from index N on: time (time.monotonic(), the same clock in
                                           every process on Linux), status, channel, trigger_id, case_id, ts;
* `GET  /bench/messages?channel=C`         top-level messages of a channel as Slack returns them, plus the
                                           hitl_case id of their metadata;
* `POST /bench/post-rate?per_second=R`     enforce R chat.postMessage per second per channel (0: off);
* `POST /bench/forget`                     drop the call log and opened views (keeps channels and messages).

Stops on SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections import Counter

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from slack_emulator import Emulator, serve_emulator
from tests.support import USER_GROUPS


def bench_routes(emulator: Emulator) -> list[Route]:
    async def stats(_request: Request) -> JSONResponse:
        by_method: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        for call in emulator.calls:
            by_method[call.method] += 1
            if not call.ok:
                failed[f"{call.method}:{call.status_code}:{call.error}"] += 1
        return JSONResponse(
            {
                "calls": len(emulator.calls),
                "by_method": dict(by_method),
                "failed": dict(failed),
                "served_429": emulator.served_429,
                "served_5xx": emulator.served_5xx,
                "rejected": [f"{c.method}: {c.error} {c.response.get('errors', [])}" for c in emulator.rejected[:20]],
                "rejected_count": len(emulator.rejected),
                "views_opened": len(emulator.workspace.opened_views),
            }
        )

    async def calls(request: Request) -> JSONResponse:
        method = request.query_params.get("method")
        since = int(request.query_params.get("since", "0"))
        out = []
        for index in range(since, len(emulator.calls)):
            call = emulator.calls[index]
            if method and call.method != method:
                continue
            metadata = call.args.get("metadata") if isinstance(call.args.get("metadata"), dict) else {}
            payload = metadata.get("event_payload") if isinstance(metadata.get("event_payload"), dict) else {}
            out.append(
                {
                    "i": index,
                    "method": call.method,
                    "at": call.at,
                    "status": call.status_code,
                    "ok": call.ok,
                    "error": call.error,
                    "channel": call.args.get("channel"),
                    "thread_ts": call.args.get("thread_ts"),
                    "trigger_id": call.args.get("trigger_id"),
                    "case_id": payload.get("case_id"),
                    "ts": call.response.get("ts"),
                }
            )
        return JSONResponse({"next": len(emulator.calls), "calls": out})

    async def messages(request: Request) -> JSONResponse:
        channel = request.query_params.get("channel", "")
        out = []
        for message in emulator.messages(channel):
            metadata = message.metadata or {}
            payload = metadata.get("event_payload") or {}
            out.append(
                {
                    "ts": message.ts,
                    "case_id": payload.get("case_id") if metadata.get("event_type") == "hitl_case" else None,
                    "api": message.to_api(include_metadata=False),
                }
            )
        return JSONResponse({"channel": channel, "messages": out})

    async def post_rate(request: Request) -> JSONResponse:
        rate = float(request.query_params.get("per_second", "0"))
        emulator.enforce_post_rate(rate or None)
        return JSONResponse({"per_second": rate or None})

    async def forget(_request: Request) -> JSONResponse:
        ws = emulator.workspace
        emulator.calls.clear()
        emulator.rejected.clear()
        ws.views.clear()
        ws.view_owner.clear()
        ws.view_stacks.clear()
        ws.opened_views.clear()
        ws.triggers.clear()
        ws.hooks.clear()
        ws.ephemerals.clear()
        return JSONResponse({"ok": True})

    return [
        Route("/bench/stats", stats, methods=["GET"]),
        Route("/bench/calls", calls, methods=["GET"]),
        Route("/bench/messages", messages, methods=["GET"]),
        Route("/bench/post-rate", post_rate, methods=["POST"]),
        Route("/bench/forget", forget, methods=["POST"]),
    ]


async def main_async(args: argparse.Namespace) -> None:
    emulator = Emulator(strict_triggers=False)
    for group, members in USER_GROUPS.items():
        emulator.workspace.add_usergroup(group, members)
    if args.post_rate:
        emulator.enforce_post_rate(args.post_rate)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve_emulator(emulator, port=args.port, extra_routes=bench_routes(emulator)) as api_url:
        print(json.dumps({"api_url": api_url}), flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--post-rate", type=float, default=0.0, help="chat.postMessage per second per channel (0: unlimited)"
    )
    args = parser.parse_args()
    try:
        import uvloop  # the same loop uvicorn picks for hitl serve

        uvloop.run(main_async(args))
    except ImportError:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
