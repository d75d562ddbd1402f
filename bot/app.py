"""The app factory: one Bolt AsyncApp per runtime, every listener module registered explicitly."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from bot.runtime import Runtime
from handlers import commands, review

log = logging.getLogger(__name__)


def create_bolt_app(rt: Runtime) -> AsyncApp:
    secret = rt.settings.slack_signing_secret.get_secret_value() if rt.settings.slack_signing_secret else None
    app = AsyncApp(client=rt.slack, signing_secret=secret, process_before_response=False)
    review.register(app, rt)
    commands.register(app, rt)

    @app.error
    async def log_listener_error(error: Exception) -> None:
        log.error("listener failed: %s: %s", type(error).__name__, error, exc_info=error)

    return app
