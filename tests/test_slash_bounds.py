"""Class 8 of issue 12: operators' commands are bounded. Every `/hitl` argument has a range; whatever is typed,
the answer is an ephemeral that fits Slack's limits (or the kill form), never a 500. Generated texts go through
the real app as signed slash commands; the parser is also fuzzed on its own, much harder."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from blocks.ids import InputId
from bot.domain.pauses import MAX_REASON, Mode
from handlers.slack import forms, slash
from slack_emulator.blockkit import Limits, check_message
from slack_emulator.workspace import SlackError
from tests.support import Harness

CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.characters(min_codepoint=0x7F, max_codepoint=0x9F)
ANY_TEXT = st.text(st.characters(codec="utf-8") | CONTROL, max_size=30)
SEPARATORS = st.sampled_from([" ", "  ", "\n", "\t", "\u00a0", "\u3000", " \r\n "])
DURATIONS = st.sampled_from(
    [
        "1m",
        "59s",
        "0m",
        "24h",
        "7d",
        "90d",
        "91d",
        "2160h",
        "99999999999d",
        "1" * 400 + "d",
        "1e9d",
        "-5h",
        "5",
        "1h30m",
        "",
        "soon",
        "１２h",
        "٣d",
    ]
)
TOKENS = st.one_of(
    st.sampled_from(
        [
            "--since",
            "--since=",
            "--since=7d",
            "--queue",
            "-x",
            "all",
            "ALL",
            "mode:off",
            "mode:human-only",
            "mode:maybe",
            "mode:",
            "queue:billing",
            "tenant:acme",
            "model:gpt",
            "skill:legal",
            "tenants:acme",
            "queue:",
            ":x",
            "billing",
            "nosuch",
            "<!channel>",
            "<@U0SME1>",
            "`",
            "*",
        ]
    ),
    DURATIONS,
    st.builds(
        lambda kind, value: f"{kind}:{value}",
        st.sampled_from(["queue", "tenant", "model", "skill", "foo"]),
        st.text(min_size=0, max_size=200),
    ),
    ANY_TEXT,
    st.integers(min_value=0, max_value=6000).map(lambda n: "x" * n),
)
SUBCOMMANDS = (
    st.sampled_from(["help", "status", "queue", "digest", "kill", "resume", "KILL", "Digest", "frobnicate", ""])
    | ANY_TEXT
)


@st.composite
def command_texts(draw: st.DrawFn) -> str:
    words = [draw(SUBCOMMANDS), *draw(st.lists(TOKENS, max_size=6))]
    text = words[0]
    for word in words[1:]:
        text += draw(SEPARATORS) + word
    return text


def assert_fits_slack(answer: dict[str, Any]) -> None:
    """An ephemeral command answer Slack would show: text and blocks inside its limits."""
    assert answer.get("response_type") == "ephemeral", answer
    assert isinstance(answer.get("text"), str) and answer["text"], answer
    try:
        check_message(answer["text"], answer.get("blocks"), Limits())
    except SlackError as exc:
        raise AssertionError(f"Slack would refuse this answer: {exc}") from None
    # Section text is capped at 3,000 by Slack; the fallback text is kept to the same.
    assert len(answer["text"]) <= 3000


SEEN = {"commands": 0, "500s": 0, "forms": 0}


async def send_and_check(hitl: Harness, user: str, text: str) -> None:
    opened_before = len(hitl.emulator.calls_to("views.open"))
    response = await hitl.slack.slash_command(user, "/hitl", text)
    SEEN["commands"] += 1
    SEEN["500s"] += response.status_code >= 500
    assert response.status_code == 200, (response.status_code, text[:200])
    if not response.content.strip():
        # `/hitl kill` without a reason: the answer is the kill form, opened after the ack.
        for _ in range(300):
            if len(hitl.emulator.calls_to("views.open")) > opened_before:
                break
            await asyncio.sleep(0.01)
        assert hitl.emulator.calls_to("views.open")[-1].ok, text[:200]
        return
    assert_fits_slack(response.json())


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=command_texts(), operator=st.booleans())
@example(text="digest --since 99999999999d", operator=True)
@example(text="digest billing --since 91d", operator=True)
@example(text="digest --since 0m", operator=True)
@example(text="kill tenant:acme " + "r" * 5000, operator=True)
@example(text="kill tenant:acme \x00 nul in the reason", operator=True)
@example(text="kill queue:" + "q" * 151 + " too long a scope", operator=True)
@example(text="resume all " + "é" * 1001, operator=True)
@example(text="x" * 9000, operator=True)
@example(text="queue " + "b" * 41, operator=False)
@example(text="\u202ekill\u202c all", operator=True)
async def test_generated_hitl_commands_always_get_an_ephemeral_that_fits(
    hitl: Harness, text: str, operator: bool
) -> None:
    await send_and_check(hitl, "U0OPS1" if operator else "U0SME1", text)


@pytest.mark.parametrize(
    "text, says",
    [
        ("digest --since 99999999999d", "`--since` takes a duration like `24h` or `7d`"),
        ("digest --since 91d", "`--since` must be from 1m to 90d, not 91d"),
        ("digest --since 30s", "`--since` must be from 1m to 90d, not 30s"),
        ("digest --since 1d --since 2d", "`--since` is given twice"),
        ("digest billing legal", "takes one queue name"),
        ("digest --verbose", "is not an option of `/hitl digest`"),
        ("queue " + "b" * 41, "is not a queue name"),
        ("queue billing legal", "takes one queue name"),
        ("kill tenant:acme " + "r" * 1001, "reason is 1,001 characters long; keep it to 1,000"),
        ("kill tenant:acme bad\x07bell", "contains control characters"),
        ("kill queue:" + "q" * 151 + " why", "is not a scope"),
        ("resume tenant:acme\x00 why", "is not a scope"),
        ("x" * 4001, "hitl takes at most 4,000"),
    ],
)
async def test_out_of_range_arguments_get_a_usage_answer(hitl: Harness, text: str, says: str) -> None:
    response = await hitl.slack.slash_command("U0OPS1", "/hitl", text)
    assert response.status_code == 200
    answer = response.json()
    assert_fits_slack(answer)
    assert says in answer["text"], answer["text"]
    assert (await hitl.api.get("/v1/killswitch")).json() == {"active": []}


async def test_in_range_arguments_still_work(hitl: Harness) -> None:
    digest = await hitl.slack.slash_command("U0OPS1", "/hitl", "digest billing --since=90d")
    assert_fits_slack(digest.json())
    reason = "r" * MAX_REASON
    killed = await hitl.slack.slash_command("U0OPS1", "/hitl", f"kill tenant:acme {reason}")
    assert "Paused" in killed.json()["text"]
    active = (await hitl.api.get("/v1/killswitch")).json()["active"]
    assert [a["reason"] for a in active] == [reason]
    resumed = await hitl.slack.slash_command("U0OPS1", "/hitl", "resume\ntenant:acme\tfixed")
    assert "Resumed `tenant:acme`" in resumed.json()["text"]


# ---- the kill form -------------------------------------------------------------------------------------------


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    scope=st.one_of(
        st.sampled_from(["all", "tenant:acme", "queue:billing", "tenants:acme", "", "queue:" + "q" * 151]), ANY_TEXT
    ),
    reason=st.one_of(ANY_TEXT, st.integers(0, 3000).map(lambda n: "y" * n)),
    mode=st.sampled_from([m.value for m in Mode]),
)
async def test_generated_kill_forms_get_inline_errors_or_a_pause(
    hitl: Harness, scope: str, reason: str, mode: str
) -> None:
    await send_and_check(hitl, "U0OPS1", "kill")
    view = hitl.slack.last_opened_view()
    assert view is not None
    response = await hitl.slack.submit_view(
        "U0OPS1", view["id"], {InputId.SCOPE.value: scope, InputId.MODE.value: mode, InputId.REASON.value: reason}
    )
    SEEN["forms"] += 1
    SEEN["500s"] += response.status_code >= 500
    assert response.status_code == 200, (response.status_code, scope[:80], reason[:80])
    if response.content.strip():
        body = response.json()
        assert body["response_action"] == "errors"
        inputs = {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
        assert set(body["errors"]) <= inputs and all(0 < len(e) <= 150 for e in body["errors"].values()), body


def test_the_kill_form_refuses_what_the_command_refuses() -> None:
    def values(scope: str, reason: str, mode: str = "human-only") -> dict[str, Any]:
        return {
            InputId.SCOPE.value: {InputId.VALUE.value: {"type": "plain_text_input", "value": scope}},
            InputId.MODE.value: {InputId.VALUE.value: {"type": "static_select", "selected_option": {"value": mode}}},
            InputId.REASON.value: {InputId.VALUE.value: {"type": "plain_text_input", "value": reason}},
        }

    assert forms.parse_kill(values("tenant:acme", "r" * (MAX_REASON + 1))) == {
        InputId.REASON.value: "Not kept: the reason is 1,001 characters long; keep it to 1,000."
    }
    assert InputId.REASON.value in forms.parse_kill(values("all", "nul\x00"))  # type: ignore[operator]
    assert InputId.MODE.value in forms.parse_kill(values("all", "why", mode="sideways"))  # type: ignore[operator]
    assert not isinstance(forms.parse_kill(values("tenant:acme", "r" * MAX_REASON)), dict)


# ---- the parser alone, much harder --------------------------------------------------------------------------


@settings(max_examples=3000, deadline=None)
@given(text=command_texts() | st.text(max_size=5000))
def test_the_parser_never_raises_and_every_answer_is_bounded(text: str) -> None:
    parsed = slash.parse_command(text)
    if isinstance(parsed, slash.Usage):
        assert len(parsed.text) <= 600 and "\x00" not in parsed.text
    elif isinstance(parsed, slash.Digest):
        assert slash.SINCE_MIN <= parsed.since <= slash.SINCE_MAX
    elif isinstance(parsed, (slash.Kill, slash.Resume)):
        assert len(parsed.args.reason) <= MAX_REASON and len(str(parsed.args.scope)) <= 160
    elif isinstance(parsed, slash.QueueListing) and parsed.name:
        assert slash.QUEUE_NAME.match(parsed.name)
    elif isinstance(parsed, slash.Help) and parsed.unknown:
        assert len(slash.shown(parsed.unknown)) <= 300


def test_durations_that_would_overflow_are_value_errors() -> None:
    from bot.durations import parse_duration

    for text in ("99999999999d", "9" * 5000 + "s", "36501d"):
        with pytest.raises(ValueError):
            parse_duration(text)
    assert parse_duration("36500d") == timedelta(days=36500)


def test_report_generated_inputs() -> None:
    """Runs last in this file: how many generated inputs went through the app, and how many got a 500."""
    print(json.dumps(SEEN))
    assert SEEN["500s"] == 0
