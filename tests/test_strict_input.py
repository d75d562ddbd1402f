"""Strict JSON in, valid JSON out; deadlines in a sane window; case_ids that can't be spelled two ways."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import Harness, escalation

HEADERS = {"Content-Type": "application/json"}


async def _post(h: Harness, content: bytes | str, headers: dict[str, str] | None = None) -> Any:
    raw = content.encode() if isinstance(content, str) else content
    return await h.api.post("/v1/escalations", content=raw, headers=headers if headers is not None else HEADERS)


def _body_with(field_json: str, name: str = "confidence") -> str:
    """A valid escalation's JSON text with one field's value spelled exactly as given."""
    base = {k: v for k, v in escalation().items() if k != name}
    return json.dumps(base)[:-1] + f', "{name}": {field_json}}}'


@pytest.mark.parametrize("spelling", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400", "123456789e400"])
async def test_non_finite_numbers_are_422_naming_the_field(hitl: Harness, spelling: str) -> None:
    response = await _post(hitl, _body_with(spelling))
    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["fields"]] == ["confidence"]


async def test_nested_non_finite_numbers_and_duplicate_keys_are_named(hitl: Harness) -> None:
    body = json.dumps(escalation())[:-1] + ', "signals": {"a": 1e999, "b": 2}, "impact": {"dollars": NaN}}'
    response = await _post(hitl, body)
    assert response.status_code == 422
    assert {f["field"] for f in response.json()["fields"]} == {"signals.a", "impact.dollars"}
    response = await _post(hitl, json.dumps(escalation())[:-1] + ', "signals": {"a": 1, "a": 2}}')
    assert response.status_code == 422 and [f["field"] for f in response.json()["fields"]] == ["signals.a"]
    duplicate_top = json.dumps(escalation())[:-1] + ', "case_id": "other"}'
    response = await _post(hitl, duplicate_top)
    assert response.status_code == 422 and response.json()["fields"] == [
        {"field": "case_id", "message": "appears more than once in its object"}
    ]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/jsonx"],
)
async def test_a_body_that_is_not_declared_json_is_415(hitl: Harness, content_type: str) -> None:
    response = await _post(
        hitl, json.dumps(escalation()), {"Content-Type": content_type} if content_type else {"Content-Type": ""}
    )
    assert response.status_code == 415 and response.json()["error"] == "unsupported_media_type"


async def test_json_with_charset_and_plus_json_types_are_accepted(hitl: Harness) -> None:
    assert (
        await _post(hitl, json.dumps(escalation("a")), {"Content-Type": "application/json; charset=utf-8"})
    ).status_code == 201
    assert (
        await _post(hitl, json.dumps(escalation("b")), {"Content-Type": "application/vnd.hitl+json"})
    ).status_code == 201


def _deadline(hitl: Harness, delta: timedelta) -> str:
    return (hitl.clock.now() + delta).isoformat()


@pytest.mark.parametrize(
    "deadline, problem",
    [
        (1893456000, "ISO 8601"),
        ("2026-12-05T10:00", "timezone"),
        ("tomorrow", "datetime"),
        ("0001-01-01T00:00:00+01:00", "past"),
        ("9999-12-31T23:59:59-14:00", "year ahead"),
    ],
)
async def test_deadlines_must_be_iso_8601_with_an_offset_in_a_sane_window(
    hitl: Harness, deadline: Any, problem: str
) -> None:
    response = await hitl.escalate(sla_deadline=deadline)
    assert response.status_code == 422, response.text
    [field] = response.json()["fields"]
    assert field["field"] == "sla_deadline" and problem.lower() in field["message"].lower()


async def test_deadline_window_edges(hitl: Harness) -> None:
    assert (await hitl.escalate(case_id="skew", sla_deadline=_deadline(hitl, -timedelta(minutes=4)))).status_code == 201
    assert (await hitl.escalate(case_id="past", sla_deadline=_deadline(hitl, -timedelta(minutes=6)))).status_code == 422
    assert (await hitl.escalate(case_id="year", sla_deadline=_deadline(hitl, timedelta(days=365)))).status_code == 201
    assert (await hitl.escalate(case_id="later", sla_deadline=_deadline(hitl, timedelta(days=367)))).status_code == 422


@pytest.mark.parametrize("case_id", ["a/../b", "a/./b", "a//b", "a/", "a/..", "x/.", "a/b/"])
async def test_case_ids_with_ambiguous_path_segments_are_refused_at_ingest(hitl: Harness, case_id: str) -> None:
    response = await hitl.escalate(case_id=case_id)
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "case_id"


async def test_the_read_route_refuses_what_ingest_refuses(hitl: Harness) -> None:
    assert (await hitl.escalate(case_id="a/b")).status_code == 201
    assert (await hitl.api.get("/v1/escalations/a/b")).status_code == 200
    for raw_path in (
        b"/v1/escalations/a/./b",
        b"/v1/escalations/x/../a/b",
        b"/v1/escalations/a//b",
        b"/v1/escalations/a/b/",
        b"/v1/escalations/a%2F.%2Fb",
    ):
        status, body = await _raw_get(hitl, raw_path)
        assert status == 422, (raw_path, status)
        assert json.loads(body)["fields"][0]["field"] == "case_id"


async def _raw_get(h: Harness, path: bytes) -> tuple[int, bytes]:
    """A GET sent byte for byte: every client library would normalise the path before it left."""
    url = h.api.base_url
    reader, writer = await asyncio.open_connection(url.host, url.port)
    token = h.api.headers["Authorization"].encode()
    writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: " + token + b"\r\nConnection: close\r\n\r\n")
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


# Generated: a valid escalation with one value, somewhere in it, spelled the way Python's json module allows
# and JSON does not. Wherever it is, the answer is a 422 naming that place, never a 500 or a stored case.
BAD_NUMBERS = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e400", "-2E+309"])
PLACES = st.sampled_from(
    ["confidence", "signals.s", "impact.dollars", "proposed_action.args.amount", "evidence[0].score", "tool_results[0]"]
)


def _spell(place: str, bad: str) -> tuple[str, str]:
    body = escalation(tool_results=[0], signals={"s": 0}, impact={"dollars": 0})
    body["confidence"] = 0.5
    marker = 123456.789
    target: Any = body
    parts = place.replace("[0]", ".0").split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    if last.isdigit():
        target[int(last)] = marker
    else:
        target[last] = marker
    return json.dumps(body).replace(json.dumps(marker), bad), place


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(place=PLACES, bad=BAD_NUMBERS)
async def test_generated_non_finite_numbers_anywhere_are_named(hitl: Harness, place: str, bad: str) -> None:
    text, expected = _spell(place, bad)
    response = await _post(hitl, text)
    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["fields"]] == [expected]


async def test_stored_deadline_far_in_the_future_no_longer_breaks_anything(hitl: Harness) -> None:
    """What hitl stored it can read back: the status API, the card and the export take every accepted case."""
    deadline = datetime.now(UTC).replace(microsecond=0) + timedelta(days=300)
    hitl.clock.set(deadline - timedelta(days=300))
    response = await hitl.escalate(sla_deadline=deadline.isoformat())
    assert response.status_code == 201
    card = await hitl.card("case-1")
    assert card.blocks


async def test_a_waiting_read_answers_when_the_case_is_decided(hitl: Harness) -> None:
    from blocks.ids import ActionId
    from tests.test_review_loop import open_modal

    await hitl.escalate()
    await hitl.card("case-1")
    waiting = asyncio.create_task(hitl.api.get("/v1/escalations/case-1", params={"wait": "30s"}, timeout=40))
    await asyncio.sleep(0.2)
    assert not waiting.done() and hitl.rt.waiters.waiting == 1
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.APPROVE)
    await hitl.slack.submit_view("U0SME1", view["id"], {})
    response = await asyncio.wait_for(waiting, 10)
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert hitl.rt.waiters.waiting == 0


async def test_a_waiting_read_of_a_decided_case_answers_at_once_and_bad_waits_are_422(hitl: Harness) -> None:
    await hitl.escalate()
    for bad in ("forever", "-1", "99999999999999999999d", "2h"):
        response = await hitl.api.get("/v1/escalations/case-1", params={"wait": bad})
        assert response.status_code == 422 and response.json()["fields"][0]["field"] == "wait", bad
    short = await hitl.api.get("/v1/escalations/case-1", params={"wait": "0.3"})
    assert short.status_code == 200 and short.json()["status"] == "pending"
    assert (await hitl.api.get("/v1/escalations/nope", params={"wait": "1s"})).status_code == 404


async def test_a_decision_through_another_replica_reaches_the_waiter(db_url: str, emulator: Any, clock: Any) -> None:
    from blocks.ids import ActionId
    from tests.support import serve_hitl
    from tests.test_review_loop import open_modal

    async with serve_hitl(db_url, emulator, clock) as first, serve_hitl(db_url, emulator, clock) as second:
        await first.escalate()
        await first.card("case-1")
        waiting = asyncio.create_task(first.api.get("/v1/escalations/case-1", params={"wait": "30s"}, timeout=40))
        await asyncio.sleep(0.2)
        view = await open_modal(second, "U0SME1", "case-1", ActionId.REJECT)
        await second.slack.submit_view("U0SME1", view["id"], {"reason": "hallucination", "note": "made up"})
        response = await asyncio.wait_for(waiting, 10)  # found by the other replica's once-a-second poll
        assert response.json()["status"] == "rejected"
