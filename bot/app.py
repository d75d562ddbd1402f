"""The Slack side's wiring: one Bolt AsyncApp per hitl, its services provided to every listener, each listener
module registered explicitly, and the answer Slack gets when a listener fails before its ack."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from bot.compose import Hitl
from handlers.slack import commands, guards, review
from handlers.slack.answers import OVERLOADED, OVERLOADED_SUBMISSION, OVERLOADED_TEXT
from handlers.slack.context import SlackServices, provide
from handlers.slack.payloads import first_input_block

log = logging.getLogger(__name__)


class _SkipClientTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that our client (which carries
    that same token, SLACK_API_URL and the retry handlers) wins. That is the intent, so the warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def create_bolt_app(hitl: Hitl) -> AsyncApp:
    if hitl.identity is None:
        # Every request is checked against the workspace auth.test named: without it none could be trusted.
        raise ValueError("create_bolt_app needs hitl's Slack identity: build it with bot.startup.check_slack's result")
    secret = hitl.settings.slack_signing_secret.get_secret_value() if hitl.settings.slack_signing_secret else None
    logging.getLogger("slack_bolt.AsyncApp").addFilter(_SkipClientTokenWarning())
    app = AsyncApp(client=hitl.slack, signing_secret=secret, process_before_response=False)
    provide(
        app,
        SlackServices(hitl.policy, hitl.access, hitl.reviews, hitl.killswitches, hitl.board, hitl.ops, hitl.digests),
    )
    guards.register(app)
    review.register(app)
    commands.register(app)

    @app.error
    async def answer_listener_error(
        error: Exception, body: dict[str, Any], response: BoltResponse | None
    ) -> BoltResponse | None:
        """Errors before the ack: Slack gets an answer that says what happened. (After the ack, handlers.slack.answers.
        after_ack has already answered the person.)"""
        headers: dict[str, str | Sequence[str]]
        if isinstance(error, OVERLOADED):
            log.warning("database unavailable or too slow during a Slack request: %s", type(error).__name__)
            if body.get("type") == "view_submission" and (field := first_input_block(body)):
                # Keeps the modal and what was typed in it; Submit again works once the database answers.
                return _json(response, {"response_action": "errors", "errors": {field: OVERLOADED_SUBMISSION}})
            if body.get("command"):
                return _json(response, {"response_type": "ephemeral", "text": OVERLOADED_TEXT})
            status, headers = 503, {"Retry-After": "2"}
        elif isinstance(error, (KeyError, IndexError, TypeError, AttributeError, ValueError)):
            log.warning("malformed Slack payload: %s: %s", type(error).__name__, error)
            status, headers = 400, {}
        else:
            log.error("listener failed: %s: %s", type(error).__name__, error, exc_info=error)
            status, headers = 500, {}
        return BoltResponse(status=status, body="", headers=headers) if response is not None else None

    return app


def _json(response: BoltResponse | None, answer: dict[str, Any]) -> BoltResponse | None:
    return (
        BoltResponse(status=200, body=json.dumps(answer), headers={"Content-Type": "application/json"})
        if response is not None
        else None
    )
