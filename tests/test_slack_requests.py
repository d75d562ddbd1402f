"""Requests as Slack sends them: signatures, retries, slash commands, payloads that are not ours."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

from bot.emulator import sign
from tests.conftest import SIGNING_SECRET, Harness

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "slack-fixtures"


def _fixture_body() -> bytes:
    local = FIXTURES / "block_actions_button_ephemeral.form_body.txt"
    if local.exists():
        return local.read_bytes().strip()
    return b"payload=" + quote('{"type":"block_actions","user":{"id":"U111"},"actions":[{"action_id":"button","value":"x"}]}').encode()


async def test_bad_signature_is_401(hitl: Harness) -> None:
    response = await hitl.slack.send_raw(_fixture_body(), signature="v0=" + "0" * 64)
    assert response.status_code == 401


async def test_stale_timestamp_is_401(hitl: Harness) -> None:
    body = _fixture_body()
    old = str(int(time.time()) - 6 * 60)
    response = await hitl.slack.send_raw(body, timestamp=old, signature=sign(SIGNING_SECRET, old, body))
    assert response.status_code == 401


async def test_real_fixture_click_that_is_not_ours_is_acked(hitl: Harness) -> None:
    # Slack's own sample (a click on some other app's button) is signed correctly: acked, nothing happens.
    response = await hitl.slack.send_raw(_fixture_body())
    assert response.status_code in (200, 404)
    assert hitl.emulator.calls_to("views.open") == []


async def test_hitl_help_answers_ephemerally(hitl: Harness) -> None:
    response = await hitl.slack.slash_command("U0OPS1", "/hitl", "help")
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral" and "/hitl help" in response.json()["text"]
    unknown = await hitl.slack.slash_command("U0OPS1", "/hitl", "<!channel>")
    assert "Unknown subcommand `&lt;!channel&gt;`" in unknown.json()["text"]
