"""/slack/events is cheap to refuse: signature before any parsing, a body cap while streaming, a body timeout, quiet
disconnects, and replays dropped on every replica (issue #12, class 6)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from slack_bolt.async_app import AsyncApp
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.routing import Route

from blocks.ids import ActionId
from bot.services.replays import KEEP_KEYS_FOR, SlackReplays, prune_request_keys, request_key
from handlers.slack.events import MAX_BODY_BYTES, SlackEvents
from slack_emulator import serve_emulator, sign
from slack_emulator.client import payload_body
from slack_emulator.webapi import serve_asgi
from store import slack_requests
from store.models import SlackRequestKey
from tests.slack_bodies import largest_bodies
from tests.support import SIGNING_SECRET, TLS, Harness, serve_hitl, serve_replica
from tests.test_reliability import click_payload


def counts(h: Harness) -> Counter[str]:
    """How far Slack's requests got: received, too_large, timed_out, disconnected, unsigned, replayed, parsed."""
    return Counter(h.app.state.slack_events.counts)


def signed_headers(body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(SIGNING_SECRET, ts, body)}


def help_command() -> bytes:
    return urlencode(
        {
            "command": "/hitl",
            "text": "help",
            "user_id": "U0OPS1",
            "team_id": "T0HITL",
            "channel_id": "C0OPS",
            "trigger_id": f"{time.time_ns()}.1.x",
        }
    ).encode()


# ---- raw HTTP/1.1 over a socket, for what httpx will not send (half a body, a lying Content-Length) ----------


@contextlib.asynccontextmanager
async def raw_connection(url: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def request_head(headers: dict[str, str]) -> bytes:
    lines = [
        "POST /slack/events HTTP/1.1",
        "Host: hitl",
        "Content-Type: application/x-www-form-urlencoded",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), timeout=30)
    return int(status_line.split()[1]), headers, body


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    return await asyncio.wait_for(reader.read(1), timeout=30) == b""


# ---- 1. the signature first -------------------------------------------------------------------------------


async def test_unsigned_forged_and_stale_requests_are_401_before_any_parsing(hitl: Harness) -> None:
    body = payload_body(click_payload("U0SME1", "C0BILLING", "1.2", ActionId.APPROVE, "case-1", "1.2.3"))
    now = int(time.time())
    stale = now - 5 * 60 - 5
    attempts = [
        {},  # unsigned
        {"X-Slack-Request-Timestamp": str(now)},  # no signature
        {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": "v0=" + "0" * 64},  # forged
        signed_headers(body + b"x", now),  # signed, another body
        signed_headers(body, stale),  # signed, stale
        signed_headers(body, now + 5 * 60 + 5),  # signed, from the future
        {"X-Slack-Request-Timestamp": "1e9", "X-Slack-Signature": sign(SIGNING_SECRET, "1e9", body)},  # not an integer
        {"X-Slack-Request-Timestamp": "9" * 5000, "X-Slack-Signature": "v0=" + "0" * 64},  # int() would refuse it
    ]
    for headers in attempts:
        response = await _post(hitl, body, headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["error"] == "invalid_signature"
    assert counts(hitl)["parsed"] == 0 and counts(hitl)["unsigned"] == len(attempts)
    # Two signature headers: which one would Bolt read? Neither is trusted.
    headers = signed_headers(body)
    two = [
        ("X-Slack-Request-Timestamp", headers["X-Slack-Request-Timestamp"]),
        ("X-Slack-Signature", headers["X-Slack-Signature"]),
        ("X-Slack-Signature", "v0=" + "0" * 64),
    ]
    async with httpx.AsyncClient() as client:
        response = await client.post(
            hitl.slack.url, content=body, headers=[("Content-Type", "application/x-www-form-urlencoded"), *two]
        )
    assert response.status_code == 401 and counts(hitl)["parsed"] == 0
    assert hitl.emulator.calls_to("views.open") == []


async def _post(
    h: Harness, body: bytes, headers: dict[str, str], content_type: str = "application/x-www-form-urlencoded"
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30, verify=TLS) as client:
        return await client.post(h.slack.url, content=body, headers={"Content-Type": content_type, **headers})


async def test_a_signed_request_reaches_bolt(hitl: Harness) -> None:
    response = await hitl.slack.slash_command("U0OPS1", "/hitl", "help")
    assert response.status_code == 200 and "/hitl help" in response.json()["text"]
    assert counts(hitl)["parsed"] == 1


# ---- 2. the body cap -----------------------------------------------------------------------------------------


async def test_a_declared_length_over_the_cap_is_413_before_reading(hitl: Harness) -> None:
    async with raw_connection(hitl.url) as (reader, writer):
        writer.write(request_head({**signed_headers(b""), "Content-Length": str(MAX_BODY_BYTES + 1)}))
        await writer.drain()
        status, headers, _ = await read_response(reader)
        assert (status, headers["connection"]) == (413, "close")
        assert await closed_by_server(reader)
    assert counts(hitl)["too_large"] == 1 and counts(hitl)["parsed"] == 0


async def test_a_streamed_body_is_refused_the_moment_it_passes_the_cap(hitl: Harness) -> None:
    chunk = b"a" * 65_536
    async with raw_connection(hitl.url) as (reader, writer):
        writer.write(request_head({**signed_headers(b""), "Transfer-Encoding": "chunked"}))
        sent = 0
        while sent <= MAX_BODY_BYTES:
            piece = chunk[: MAX_BODY_BYTES + 1 - sent]
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            sent += len(piece)
        # cap + 1 bytes sent, and no end of the body: the answer comes now, not when the body ends.
        status, headers, _ = await read_response(reader)
        assert (status, headers["connection"]) == (413, "close")
        assert await closed_by_server(reader)
    assert counts(hitl)["too_large"] == 1 and counts(hitl)["parsed"] == 0


async def test_the_largest_legit_bodies_pass_and_cap_plus_one_is_refused(hitl: Harness) -> None:
    sizes = await largest_bodies(hitl)
    assert all(s.status == 200 for s in sizes), sizes
    largest = max(s.bytes for s in sizes)
    assert largest < MAX_BODY_BYTES / 1.25, f"the cap has no margin over hitl's own {largest:,}-byte body"
    for case_id in ("size-prose", "size-punctuation-probe"):
        assert (await hitl.status(case_id))["status"] == "approved"
    # Exactly at the cap: read, verified and handed to Bolt (which finds no Slack payload in it).
    at_cap = b"x=" + b"y" * (MAX_BODY_BYTES - 2)
    assert (await hitl.slack.send_raw(at_cap)).status_code < 500
    parsed = counts(hitl)["parsed"]
    async with raw_connection(hitl.url) as (reader, writer):
        over = at_cap + b"y"
        writer.write(request_head({**signed_headers(over), "Content-Length": str(len(over))}))
        await writer.drain()
        status, _, _ = await read_response(reader)
    assert status == 413 and counts(hitl)["parsed"] == parsed


# ---- 3. slow bodies --------------------------------------------------------------------------------------------


async def test_a_body_that_stalls_gets_408_and_a_closed_connection_while_others_are_served(
    db_url: str, emulator, clock
) -> None:  # type: ignore[no-untyped-def]
    async with serve_hitl(db_url, emulator, clock, HITL_SLACK_BODY_TIMEOUT="1s") as hitl:
        body = help_command()
        async with raw_connection(hitl.url) as (reader, writer):
            writer.write(
                request_head({**signed_headers(body), "Content-Length": str(len(body))}) + body[: len(body) // 2]
            )
            await writer.drain()
            # Meanwhile the server serves others.
            answered = await hitl.slack.slash_command("U0OPS1", "/hitl", "help")
            assert answered.status_code == 200 and "/hitl help" in answered.json()["text"]
            assert (await hitl.api.get("/healthz")).status_code == 200
            status, headers, _ = await read_response(reader)
            assert (status, headers["connection"]) == (408, "close")
            assert await closed_by_server(reader)
        assert counts(hitl)["timed_out"] == 1 and counts(hitl)["parsed"] == 1


# ---- 4. a client that goes away --------------------------------------------------------------------------------


async def test_a_client_disconnect_is_one_quiet_log_line(hitl: Harness, caplog: pytest.LogCaptureFixture) -> None:
    body = help_command()
    with caplog.at_level(logging.INFO):
        async with raw_connection(hitl.url) as (_reader, writer):
            writer.write(request_head({**signed_headers(body), "Content-Length": str(len(body))}) + body[:10])
            await writer.drain()
            for _ in range(100):
                if counts(hitl)["received"]:
                    break
                await asyncio.sleep(0.01)
        for _ in range(500):
            if counts(hitl).get("disconnected"):
                break
            await asyncio.sleep(0.01)
        assert (await hitl.slack.slash_command("U0OPS1", "/hitl", "help")).status_code == 200
    assert counts(hitl)["disconnected"] == 1
    lines = [r for r in caplog.records if "disconnect" in r.getMessage().lower()]
    assert len(lines) == 1 and lines[0].name == "handlers.slack.events" and lines[0].levelno == logging.INFO
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# ---- 5. replays ------------------------------------------------------------------------------------------------


async def test_the_same_body_again_is_dropped_whatever_its_headers(hitl: Harness) -> None:
    await hitl.escalate()
    card = await hitl.card("case-1")
    body = payload_body(
        click_payload(
            "U0SME1",
            card.channel,
            card.ts,
            ActionId.APPROVE,
            "case-1",
            hitl.emulator.workspace.issue_trigger_id("U0SME1"),
        )
    )
    first = await hitl.slack.send_raw(body)
    assert first.status_code == 200
    # Replayed: with Slack's retry headers, without them, with a fresh timestamp and signature.
    replays = [
        await hitl.slack.send_raw(body, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}),
        await hitl.slack.send_raw(body),
        await hitl.slack.send_raw(body, timestamp=int(time.time()) - 60),
    ]
    assert [(r.status_code, r.content) for r in replays] == [(200, b"")] * 3
    await asyncio.sleep(0.3)
    assert len(hitl.emulator.calls_to("views.open")) == 1
    assert counts(hitl)["replayed"] == 3 and counts(hitl)["parsed"] == 1


async def test_replays_are_dropped_after_a_restart(db_url: str, emulator, clock) -> None:  # type: ignore[no-untyped-def]
    body = help_command()
    async with serve_hitl(db_url, emulator, clock) as hitl:
        assert (await hitl.slack.send_raw(body)).json()["response_type"] == "ephemeral"
    async with serve_hitl(db_url, emulator, clock) as hitl:
        again = await hitl.slack.send_raw(body)
        assert (again.status_code, again.content) == (200, b"")
        assert counts(hitl)["parsed"] == 0


async def test_the_same_body_at_two_replicas_is_processed_once(db_url: str, emulator, clock) -> None:  # type: ignore[no-untyped-def]
    if db_url.startswith("sqlite"):
        pytest.skip("replicas share PostgreSQL; SQLite serves one process")
    async with serve_emulator(emulator) as api_url:
        async with (
            serve_replica(db_url, emulator, api_url, clock) as one,
            serve_replica(db_url, emulator, api_url, clock) as two,
        ):
            await one.escalate()
            card = await one.card("case-1")
            for round_ in range(5):
                trigger = emulator.workspace.issue_trigger_id("U0SME1")
                body = payload_body(click_payload("U0SME1", card.channel, card.ts, ActionId.APPROVE, "case-1", trigger))
                # The same signed body at both replicas at once; then again at each, later.
                answers = await asyncio.gather(one.slack.send_raw(body), two.slack.send_raw(body))
                later = [await one.slack.send_raw(body), await two.slack.send_raw(body)]
                assert all(a.status_code == 200 for a in [*answers, *later])
                await asyncio.sleep(2.1)  # past the double-click guard, so only the replay check can drop the next
                assert len([c for c in emulator.calls_to("views.open") if c.args.get("trigger_id") == trigger]) == 1, (
                    round_
                )
            assert counts(one)["parsed"] + counts(two)["parsed"] == 5
            assert counts(one)["replayed"] + counts(two)["replayed"] == 15
    emulator.assert_no_rejections()


FLAKY_COMMAND = urlencode(
    {"command": "/flaky", "text": "once", "user_id": "U0OPS1", "team_id": "T0HITL", "trigger_id": "1.2.3"}
).encode()


@contextlib.asynccontextmanager
async def flaky_replica(
    db_url: str, api_url: str, clock, calls: list[str], release: asyncio.Event
) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """hitl's /slack/events in front of a Bolt app whose /flaky command fails before its ack the first time it
    runs anywhere (after `release` is set): a listener that hit an error, answered 500. `calls` is shared."""
    from bot.compose import build_hitl
    from tests.support import issue_policy, make_settings

    rt = build_hitl(make_settings(db_url, api_url), issue_policy(), clock)
    bolt = AsyncApp(client=rt.slack, signing_secret=SIGNING_SECRET, process_before_response=True)

    @bolt.command("/flaky")
    async def flaky(ack, command) -> None:  # type: ignore[no-untyped-def]
        calls.append(command["text"])
        if len(calls) == 1:
            await release.wait()
            raise RuntimeError("failed before the ack")
        await ack("done")

    replays = SlackReplays(rt.db, rt.clock)
    edge = SlackEvents(bolt, replays, SIGNING_SECRET, body_timeout=10)
    try:
        async with serve_asgi(Starlette(routes=[Route("/slack/events", edge.handle, methods=["POST"])])) as url:
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                yield client
    finally:
        await replays.close()
        await rt.close()


async def send_flaky(client: httpx.AsyncClient, retry: int = 0) -> httpx.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(FLAKY_COMMAND)}
    return await client.post(
        "/slack/events",
        content=FLAKY_COMMAND,
        headers={**headers, **({"X-Slack-Retry-Num": str(retry)} if retry else {})},
    )


async def test_a_request_that_failed_is_processed_again_on_slacks_retry(db_url: str, emulator, clock) -> None:  # type: ignore[no-untyped-def]
    """Today's rule: a 5xx (not processed) or a 401 from Bolt forgets the body, so Slack's retry goes through."""
    calls: list[str] = []
    release = asyncio.Event()
    release.set()
    async with serve_emulator(emulator) as api_url, flaky_replica(db_url, api_url, clock, calls, release) as client:
        assert (await send_flaky(client)).status_code == 500
        retry = await send_flaky(client, retry=1)
        assert (retry.status_code, retry.text) == (200, "done")
        again = await send_flaky(client, retry=2)
        assert (again.status_code, again.content) == (200, b"")
    assert calls == ["once", "once"]


async def test_a_retry_of_a_request_that_failed_at_another_replica_goes_through(db_url: str, emulator, clock) -> None:  # type: ignore[no-untyped-def]
    if db_url.startswith("sqlite"):
        pytest.skip("replicas share PostgreSQL; SQLite serves one process")
    calls: list[str] = []
    release = asyncio.Event()
    async with serve_emulator(emulator) as api_url:
        async with (
            flaky_replica(db_url, api_url, clock, calls, release) as one,
            flaky_replica(db_url, api_url, clock, calls, release) as two,
        ):
            first = asyncio.create_task(send_flaky(one))
            while not calls:
                await asyncio.sleep(0.01)
            # In flight at one: the same body at two is dropped...
            duplicate = await send_flaky(two, retry=1)
            assert (duplicate.status_code, duplicate.content) == (200, b"")
            release.set()
            assert (await first).status_code == 500
            # ...and once it failed at one, Slack's next retry is processed wherever it lands.
            retry = await send_flaky(two, retry=2)
            assert (retry.status_code, retry.text) == (200, "done")
    assert calls == ["once", "once"]


async def test_old_keys_are_pruned_in_batches(db_url: str, hitl: Harness) -> None:
    now = hitl.clock.now()
    async with hitl.rt.db.write.begin() as session:
        await slack_requests.remember_many(
            session, {request_key(str(i).encode()): now - KEEP_KEYS_FOR - timedelta(seconds=1 + i) for i in range(7)}
        )
        await slack_requests.remember_many(
            session, {request_key(b"recent"): now - KEEP_KEYS_FOR + timedelta(seconds=30)}
        )
    assert await prune_request_keys(hitl.rt.db, hitl.rt.clock, batch=3) == 7
    async with hitl.rt.db.write() as session:
        left = (await session.execute(select(SlackRequestKey.key))).scalars().all()
    assert left == [request_key(b"recent")]
    # Every key a request wrote is pruned the same way once it is old enough.
    assert (await hitl.slack.slash_command("U0OPS1", "/hitl", "help")).status_code == 200
    await hitl.app.state.slack_events.replays.flush()  # SQLite writes keys behind the ack: now
    hitl.clock.advance(KEEP_KEYS_FOR + timedelta(minutes=1))
    assert await prune_request_keys(hitl.rt.db, hitl.rt.clock) == 2
    async with hitl.rt.db.write() as session:
        assert (await session.execute(select(func.count()).select_from(SlackRequestKey))).scalar_one() == 0


def is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# ---- generated junk ---------------------------------------------------------------------------------------------


CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/json",
    "text/plain",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/octet-stream",
    "",
]
form_bodies = st.dictionaries(st.text(max_size=12), st.text(max_size=40), max_size=5).map(
    lambda d: urlencode(d).encode()
)
payload_bodies = st.text(max_size=200).map(lambda t: b"payload=" + t.encode())
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
junk_bodies = st.one_of(
    st.binary(max_size=2_000),
    form_bodies,
    payload_bodies,
    json_like.map(lambda v: payload_body(v) if isinstance(v, dict) else repr(v).encode()),
    st.sampled_from([MAX_BODY_BYTES - 1, MAX_BODY_BYTES, MAX_BODY_BYTES + 1, 2 * MAX_BODY_BYTES]).map(
        lambda n: b"payload=" + b"%7B" * ((n - 8) // 3) + b"a" * ((n - 8) % 3)
    ),
)
signings = st.sampled_from(["none", "forged", "stale", "other_body", "valid"])


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=junk_bodies, signing=signings, content_type=st.sampled_from(CONTENT_TYPES), retry=st.booleans())
async def test_generated_junk_is_never_a_500_and_never_parsed_unsigned(
    hitl: Harness, body: bytes, signing: str, content_type: str, retry: bool
) -> None:
    now = int(time.time())
    headers = {
        "none": {},
        "forged": {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": "v0=" + request_key(body)},
        "stale": signed_headers(body, now - 301),
        "other_body": signed_headers(body + b"!", now),
        "valid": signed_headers(body, now),
    }[signing]
    if retry:
        headers["X-Slack-Retry-Num"] = "1"
    before = counts(hitl)
    parsed, replayed = before["parsed"], before["replayed"]
    if len(body) > MAX_BODY_BYTES:
        # Refused after the headers: a socket that sends the body first would be reset before reading the answer.
        async with raw_connection(hitl.url) as (reader, writer):
            writer.write(request_head({**headers, "Content-Length": str(len(body))}))
            await writer.drain()
            status = (await read_response(reader))[0]
        assert status == 413
    else:
        status = (await _post(hitl, body, headers, content_type)).status_code
    event(f"{signing}, {'over the cap' if len(body) > MAX_BODY_BYTES else 'under the cap'}: {status}")
    assert status < 500, (status, signing, body[:200])
    if signing != "valid" or not is_utf8(body) or len(body) > MAX_BODY_BYTES:
        # Slack signs UTF-8 text: a body that is not cannot carry Slack's signature.
        assert status in (401, 413), (status, signing)
        assert counts(hitl)["parsed"] == parsed
    else:
        # Handed to Bolt once, or (the same body generated again) dropped as a replay.
        after = counts(hitl)
        assert (after["parsed"] - parsed, after["replayed"] - replayed) in ((1, 0), (0, 1))
