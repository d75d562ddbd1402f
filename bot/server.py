"""The ASGI app: Slack's requests, the HTTP API, health, and the background workers' lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import create_bolt_app
from bot.compose import Hitl
from bot.scheduler import create_scheduler
from bot.services.digest import Digests
from bot.services.reviewers import all_groups
from handlers.http import api
from handlers.slack.events import SlackEvents

log = logging.getLogger(__name__)


async def _database_unavailable(_request: Request, exc: Exception) -> Response:
    log.warning("database unavailable: %s", type(exc).__name__)
    return JSONResponse(
        {"error": "unavailable", "message": "the database is busy or unreachable; retry shortly"},
        status_code=503,
        headers={"Retry-After": "2"},
    )


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.error("unhandled error: %s", exc, exc_info=exc)
    return JSONResponse({"error": "internal", "message": "unexpected error; it has been logged"}, status_code=500)


async def connect_socket_mode(handler: AsyncSocketModeHandler) -> None:
    """Open the Socket Mode connection, retrying while Slack is unreachable (the HTTP API serves meanwhile);
    once connected, slack-sdk's client reconnects by itself."""
    delay = 1.0
    while True:
        try:
            await handler.connect_async()
            log.info("connected to Slack over Socket Mode")
            return
        except Exception as exc:  # noqa: BLE001 - any failure to connect is retried, and said
            log.warning(
                "could not open the Socket Mode connection (%s: %s); retrying in %.0f s", type(exc).__name__, exc, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def _caught_up(digests: Digests) -> bool:
    try:
        await digests.catch_up_missed_digests()
        return True
    except Exception:  # a failing catch-up must not stop the server; it is logged and retried
        log.exception("catching up missed digests failed at start; retrying in the background")
        return False


async def _catch_up_digests(digests: Digests, *, attempts: int = 5) -> None:
    delay = 30.0
    for _ in range(attempts):
        await asyncio.sleep(delay)
        if await _caught_up(digests):
            return
        delay *= 2


def socket_mode_handler(hitl: Hitl, bolt: AsyncApp) -> AsyncSocketModeHandler | None:
    if hitl.settings.slack_app_token is None:
        return None
    return AsyncSocketModeHandler(bolt, hitl.settings.slack_app_token.get_secret_value(), web_client=hitl.slack)


def create_asgi_app(hitl: Hitl, *, background: bool = True) -> Starlette:
    bolt = create_bolt_app(hitl)
    replays = hitl.replays

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # One pooled HTTP session for every Slack call instead of a new one per call.
        hitl.slack.session = aiohttp.ClientSession()
        scheduler = create_scheduler(hitl)
        # Answer kill-switch questions correctly from the first request on.
        await hitl.board.refresh()
        # SQLite: the Slack requests seen before a restart are still replays.
        await replays.load()
        socket_mode = socket_mode_handler(hitl, bolt)
        connecting = asyncio.create_task(connect_socket_mode(socket_mode)) if socket_mode else None
        hitl.waiters.start()
        if background:
            hitl.outbox.start()
            scheduler.start()
            try:
                await hitl.directory.refresh(all_groups(hitl.policy))
            except Exception:  # noqa: BLE001 - Slack may be down at start; the job retries
                log.warning("could not warm the user-group cache at start")
            # A digest whose time passed while no process was up: post it now, once (claimed in the database).
            # Whatever it meets in the database, start-up goes on; a failed catch-up retries beside serving.
            catching_up = (
                None if await _caught_up(hitl.digests) else asyncio.create_task(_catch_up_digests(hitl.digests))
            )
        try:
            yield
        finally:
            if background and catching_up is not None:
                catching_up.cancel()
            if socket_mode is not None and connecting is not None:
                connecting.cancel()
                await socket_mode.close_async()
            if background:
                scheduler.shutdown(wait=False)
                await hitl.outbox.stop()
            await hitl.waiters.stop()
            await hitl.slack.session.close()
            hitl.slack.session = None
            await hitl.close()

    # Without a signing secret (Socket Mode only) nothing could tell Slack's HTTP requests from forgeries.
    secret = hitl.settings.slack_signing_secret
    slack_events = (
        SlackEvents(
            bolt, replays, secret.get_secret_value(), body_timeout=hitl.settings.slack_body_timeout.total_seconds()
        )
        if secret
        else None
    )
    slack_routes = [Route("/slack/events", slack_events.handle, methods=["POST"])] if slack_events else []
    app = Starlette(
        routes=[*slack_routes, *api.ROUTES],
        lifespan=lifespan,
        exception_handlers={
            OperationalError: _database_unavailable,
            DBAPIError: _database_unavailable,
            PoolTimeout: _database_unavailable,
            Exception: _unexpected,
        },
    )
    app.state.slack_events = slack_events  # its counts: how far Slack's requests got
    app.state.api = api.ApiServices(
        tuple(hitl.settings.api_token_list), hitl.clock, hitl.statuses, hitl.ingest, hitl.board, hitl.waiters
    )
    return app
