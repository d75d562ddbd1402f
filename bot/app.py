"""The app factory: one Bolt AsyncApp per runtime, every listener module registered explicitly."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.outbox import DATABASE_BUSY
from bot.runtime import Runtime
from handlers import commands, review
from handlers.payloads import click_location, first_input_block, reviewer_of

log = logging.getLogger(__name__)

# A listener that could not get the database in time (SQLite's writer busy, a full pool, a restart) or ran out
# of the seconds Slack allows (TimeoutError from a budget). Nothing was changed: the person may simply retry.
OVERLOADED = (*DATABASE_BUSY, TimeoutError)
OVERLOADED_TEXT = "hitl is overloaded or its database is briefly unavailable, so nothing was changed. Please try again in a few seconds."
# A submission may have been cut off while committing; the conditional update makes a second one harmless.
OVERLOADED_SUBMISSION = "hitl is overloaded or its database is briefly unavailable, so this may not have been recorded. Please submit again in a few seconds: it is only ever recorded once."


async def tell_overloaded(client: AsyncWebClient, body: dict[str, Any]) -> None:
    """After the ack there is no HTTP answer left: an ephemeral is how the clicker learns the click did nothing."""
    channel = click_location(body)[0] or body.get("channel_id")
    user = reviewer_of(body).user_id
    if not (channel and user):
        return
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=OVERLOADED_TEXT)
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("could not tell %s that hitl was overloaded: %s", user, exc)


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
    async def answer_listener_error(error: Exception, body: dict[str, Any], client: AsyncWebClient, response: BoltResponse | None) -> BoltResponse | None:
        """Before the ack, Slack gets an answer that says what happened; after it, the person gets an ephemeral."""
        if isinstance(error, OVERLOADED):
            log.warning("database unavailable or too slow during a Slack request: %s", type(error).__name__)
            if response is None:
                await tell_overloaded(client, body)
                return None
            if body.get("type") == "view_submission" and (field := first_input_block(body)):
                # Keeps the modal and what was typed in it; Submit again works once the database answers.
                return BoltResponse(status=200, body=json.dumps({"response_action": "errors", "errors": {field: OVERLOADED_SUBMISSION}}), headers={"Content-Type": "application/json"})
            status, headers = 503, {"Retry-After": "2"}
        elif isinstance(error, (KeyError, IndexError, TypeError, AttributeError, ValueError)):
            log.warning("malformed Slack payload: %s: %s", type(error).__name__, error)
            status, headers = 400, {}
        else:
            log.error("listener failed: %s: %s", type(error).__name__, error, exc_info=error)
            status, headers = 500, {}
        return BoltResponse(status=status, body="", headers=headers) if response is not None else None

    return app
