"""How the outbox treats a failure (bot/outbox.py, bot/slack.py): the back-off, which failures are transient,
Slack's Retry-After, and the error codes it stores."""

from __future__ import annotations

import random
from typing import Any

import aiohttp
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.slack_response import SlackResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.outbox import PERMANENT_SLACK_ERRORS, TRANSIENT_SLACK_ERRORS, GiveUp, RetryLater, backoff, is_transient
from bot.slack import retry_after_seconds, slack_error_code


def slack_error(error: str | None, status: int = 200, headers: dict[str, Any] | None = None) -> SlackApiError:
    data: dict[str, Any] = {"ok": False, **({"error": error} if error else {})}
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/chat.postMessage",
        req_args={},
        data=data,
        headers=headers or {},
        status_code=status,
    )
    return SlackApiError(f"The request to the Slack API failed: {error}", response)


def http_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "https://receiver.example.com/hook")
    return httpx.HTTPStatusError(
        "failed", request=request, response=httpx.Response(status, headers=headers, request=request)
    )


# ---- back-off ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attempts, ceiling", [(0, 2), (1, 2), (2, 4), (3, 8), (8, 256), (9, 300), (50, 300), (10_000, 300)]
)
def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter_on_the_upper_half(
    attempts: int, ceiling: float
) -> None:
    random.seed(attempts)
    waits = [backoff(attempts) for _ in range(200)]
    assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
    assert max(waits) - min(waits) > ceiling / 4  # jittered, not a fixed step


@given(st.integers(-5, 10_000), st.floats(0.01, 100), st.floats(1, 10_000))
def test_backoff_never_leaves_its_bounds(attempts: int, base: float, cap: float) -> None:
    ceiling = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 64))
    assert ceiling / 2 <= backoff(attempts, base=base, cap=cap) <= ceiling


def test_an_outage_of_any_length_keeps_its_back_off() -> None:
    """Transient failures are never given up: attempt 2,000 (about a week of outage at 5 minutes) still waits."""
    assert 150 <= backoff(2_000) <= 300 and 150 <= backoff(10**9) <= 300


def test_a_larger_base_waits_longer() -> None:
    random.seed(1)
    assert all(backoff(1, base=60) >= 30 for _ in range(50))


# ---- what is transient --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        OSError("connection reset"),
        ConnectionRefusedError(),
        TimeoutError(),
        TimeoutError(),
        aiohttp.ClientConnectionError(),
        aiohttp.ServerDisconnectedError(),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        SlackRequestError("no response"),
        OperationalError("INSERT", {}, Exception("database is locked")),
        PoolTimeout("pool exhausted"),
        slack_error("ratelimited", 429),
        slack_error(None, 503),
        slack_error("internal_error"),
        slack_error("fatal_error"),
        slack_error("service_unavailable"),
        slack_error("request_timeout"),
        http_error(500),
        http_error(503),
        http_error(429),
    ],
    ids=repr,
)
def test_transient_failures_are_retried_for_as_long_as_it_takes(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bug"),
        KeyError("x"),
        GiveUp("no"),
        RetryLater("later"),
        slack_error("channel_not_found"),
        slack_error("invalid_blocks"),
        slack_error("some_new_error"),
        slack_error(None, 400),
        http_error(404),
        http_error(410),
        http_error(400),
    ],
    ids=repr,
)
def test_other_failures_are_not(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_no_error_is_both_permanent_and_transient() -> None:
    assert not PERMANENT_SLACK_ERRORS & TRANSIENT_SLACK_ERRORS
    assert {
        "invalid_blocks",
        "msg_blocks_too_long",
        "channel_not_found",
        "not_in_channel",
        "invalid_auth",
        "token_revoked",
    } <= PERMANENT_SLACK_ERRORS


# ---- Retry-After and error codes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc, seconds",
    [
        (slack_error("ratelimited", 429, {"Retry-After": "30"}), 30.0),
        (slack_error("ratelimited", 429, {"retry-after": ["2.5"]}), 2.5),  # aiohttp's headers can be lists
        (slack_error("ratelimited", 429, {"RETRY-AFTER": "soon"}), None),
        (slack_error("ratelimited", 429, {"Retry-After": []}), None),
        (slack_error("ratelimited", 429), None),
        (http_error(429, {"Retry-After": "7"}), 7.0),
        (http_error(503, {"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}), None),  # the date form is not read
        (ValueError("no response"), None),
    ],
    ids=repr,
)
def test_retry_after(exc: BaseException, seconds: float | None) -> None:
    assert retry_after_seconds(exc) == seconds


@pytest.mark.parametrize(
    "exc, code",
    [
        (slack_error("channel_not_found"), "channel_not_found"),
        (slack_error(None, 502), "http_502"),
        (http_error(404), "http_404"),
        (OSError("x"), "OSError"),
        (httpx.ConnectError("x"), "ConnectError"),
    ],
    ids=repr,
)
def test_error_codes_name_what_slack_said_or_the_status_or_the_exception(exc: BaseException, code: str) -> None:
    assert slack_error_code(exc) == code


def test_a_retry_later_carries_its_wait() -> None:
    assert RetryLater("waiting on the card").seconds == 1.0
    assert RetryLater("paced", 0.25).seconds == 0.25
