"""The app factory: one Bolt AsyncApp per runtime, every listener module registered explicitly."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from bot.runtime import Runtime
from handlers import commands, review

log = logging.getLogger(__name__)


class _SkipClientTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that our client (which carries
    that same token, SLACK_API_URL and the retry handlers) wins. That is the intent, so the warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def create_bolt_app(rt: Runtime) -> AsyncApp:
    secret = rt.settings.slack_signing_secret.get_secret_value() if rt.settings.slack_signing_secret else None
    logging.getLogger("slack_bolt.AsyncApp").addFilter(_SkipClientTokenWarning())
    app = AsyncApp(client=rt.slack, signing_secret=secret, process_before_response=False)
    review.register(app, rt)
    commands.register(app, rt)

    @app.error
    async def log_listener_error(error: Exception) -> None:
        log.error("listener failed: %s: %s", type(error).__name__, error, exc_info=error)

    return app
