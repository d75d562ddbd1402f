"""Requests as Slack sends them: signatures, retries, slash commands, payloads that are not ours."""

from __future__ import annotations

import time

from slack_emulator import sign
from slack_emulator.tests import slack_fixtures
from tests.support import SIGNING_SECRET, Harness


def _fixture_body() -> bytes:
    return slack_fixtures.raw("block_actions_button_ephemeral.form_body.txt")


async def test_bad_signature_is_401(hitl: Harness) -> None:
    response = await hitl.slack.send_raw(_fixture_body(), signature="v0=" + "0" * 64)
    assert response.status_code == 401


async def test_stale_timestamp_is_401(hitl: Harness) -> None:
    body = _fixture_body()
    old = str(int(time.time()) - 6 * 60)
    response = await hitl.slack.send_raw(body, timestamp=old, signature=sign(SIGNING_SECRET, old, body))
    assert response.status_code == 401


async def test_real_fixture_click_that_is_not_ours_is_acked(hitl: Harness) -> None:
    # A Slack-shaped click on some other app's button, signed correctly: acked, nothing happens.
    response = await hitl.slack.send_raw(_fixture_body())
    assert response.status_code in (200, 404)
    assert hitl.emulator.calls_to("views.open") == []


async def test_hitl_help_answers_ephemerally(hitl: Harness) -> None:
    response = await hitl.slack.slash_command("U0OPS1", "/hitl", "help")
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral" and "/hitl help" in response.json()["text"]
    unknown = await hitl.slack.slash_command("U0OPS1", "/hitl", "<!channel>")
    assert "Unknown subcommand `&lt;!channel&gt;`" in unknown.json()["text"]
