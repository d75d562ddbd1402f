"""The review loop end to end: escalation in over HTTP, card in the emulator, clicks and modal submissions
signed like Slack's, decisions in the database and on the card."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from blocks.ids import ActionId, CallbackId, CaseRef, ModalMetadata
from tests.support import Harness, escalation


def actions_of(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def card_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


async def open_modal(h: Harness, user: str, case_id: str, action: ActionId) -> dict[str, Any]:
    card = await h.card(case_id)
    opened_before = len(h.emulator.calls_to("views.open"))
    response = await h.slack.click(user, card.channel, card.ts, action.value)
    assert response.status_code == 200
    await asyncio.sleep(0)  # the listener continues after ack
    for _ in range(200):
        if len(h.emulator.calls_to("views.open")) > opened_before:
            break
        await asyncio.sleep(0.01)
    call = h.emulator.calls_to("views.open")[-1]
    assert call.ok, call.response
    return call.response["view"]


async def ephemerals_for(h: Harness, user: str, count: int = 1) -> list[str]:
    # Up to 10 s: a failed views.open is retried inside slack-sdk with back-off before the ephemeral goes out.
    for _ in range(1000):
        texts = [e.text for e in h.emulator.workspace.ephemerals if e.user == user]
        if len(texts) >= count:
            return texts
        await asyncio.sleep(0.01)
    raise AssertionError(f"no ephemeral for {user}")


@pytest.mark.parametrize(
    "overrides, queue, channel",
    [
        ({"skill": "billing"}, "billing", "C0BILLING"),
        ({"skill": "legal", "risk_level": "high"}, "legal", "C0LEGAL"),
        ({"skill": "legal", "risk_level": "critical"}, "legal", "C0LEGAL"),
        ({"skill": "legal", "risk_level": "low"}, "general", "C0GENERAL"),
        ({"skill": "shipping"}, "general", "C0GENERAL"),
    ],
)
async def test_escalation_is_routed_and_carded(
    hitl: Harness, overrides: dict[str, Any], queue: str, channel: str
) -> None:
    response = await hitl.escalate(**overrides)
    assert response.status_code == 201
    assert response.json() == {
        "case_id": "case-1",
        "status": "pending",
        "queue": queue,
        "tier": 1,
        "channel": channel,
        "automation": {"paused": False, "mode": None},
    }
    card = await hitl.card("case-1")
    assert card.channel == channel
    assert card.metadata == {"event_type": "hitl_case", "event_payload": {"case_id": "case-1"}}
    assert actions_of(card.blocks) == [
        ActionId.APPROVE.value,
        ActionId.EDIT.value,
        ActionId.REJECT.value,
        ActionId.CLAIM.value,
    ]
    buttons = [e for b in card.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [b.get("style") for b in buttons] == ["primary", None, "danger", None]
    assert {CaseRef.model_validate_json(b["value"]).case_id for b in buttons} == {"case-1"}
    status = await hitl.status("case-1")
    assert [e["action"] for e in status["timeline"]] == ["received", "posted"]
    assert status["message_ts"] == card.ts


async def test_card_shows_the_case(hitl: Harness) -> None:
    await hitl.escalate()
    text = card_text((await hitl.card("case-1")).blocks)
    for expected in (
        "Refund above the automatic limit",
        "double charge on invoice 1042",
        "issued a refund of $49.00",
        "kb-refunds-7",
        "score 0.91",
        "Duplicate charges are refunded in full.",
        "*Proposed action:* `refund`",
        "*amount*\\n49.0",
        "gpt-support 2026-10",
        "62%",
        "billing · tier 1 of 2",
        "Support specialist",
        "<!date^",
        "4h 00m left",
    ):
        assert expected in text, expected


async def test_identical_replay_is_200_and_posts_nothing_new(hitl: Harness) -> None:
    first = await hitl.escalate()
    await hitl.settle()
    again = await hitl.escalate()
    await hitl.settle()
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert len(hitl.emulator.calls_to("chat.postMessage")) == 1
    # Key order does not make a different escalation.
    reordered = dict(reversed(list(escalation().items())))
    assert (await hitl.escalate(reordered)).status_code == 200


async def test_same_case_id_different_content_is_409(hitl: Harness) -> None:
    await hitl.escalate()
    response = await hitl.escalate(model_draft="Something else entirely")
    assert response.status_code == 409
    assert response.json()["fields"] == [{"field": "case_id", "message": "already used for a different escalation"}]
    status = await hitl.status("case-1")
    assert status["timeline"][0]["action"] == "received"
    assert len([e for e in status["timeline"] if e["action"] == "received"]) == 1


async def test_concurrent_identical_posts_store_one_case(hitl: Harness) -> None:
    responses = await asyncio.gather(*(hitl.escalate() for _ in range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    await hitl.settle()
    assert len(hitl.emulator.calls_to("chat.postMessage")) == 1


async def test_invalid_escalation_names_every_bad_field(hitl: Harness) -> None:
    body = escalation(
        risk_level="extreme",
        confidence=1.5,
        evidence=[{"quote": "no id", "score": "high"}],
        sla_deadline="2026-01-01T10:00:00",
    )
    del body["model_draft"]
    response = await hitl.escalate(body)
    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["fields"]}
    assert fields == {
        "model_draft",
        "risk_level",
        "confidence",
        "evidence[0].document_id",
        "evidence[0].score",
        "sla_deadline",
    }
    assert (await hitl.api.get("/v1/escalations/case-1")).status_code == 404


async def test_unknown_fields_and_unstorable_strings_are_422(hitl: Harness) -> None:
    response = await hitl.escalate(escalation(model_drft="typo"))
    assert response.status_code == 422
    assert {"field": "model_drft", "message": "Extra inputs are not permitted"} in response.json()["fields"]
    response = await hitl.escalate(escalation(user_question="nul \x00 here"))
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "user_question"


@pytest.mark.parametrize(
    "content, status",
    [(b"{not json", 400), (b"[1, 2]", 422), (b'"text"', 422), (b"", 400), (b"\xff\xfe", 400)],
)
async def test_malformed_bodies_get_clear_4xx(hitl: Harness, content: bytes, status: int) -> None:
    response = await hitl.api.post("/v1/escalations", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert response.json()["error"] in ("invalid_json", "validation_failed")


async def test_api_needs_the_bearer_token(hitl: Harness) -> None:
    no_token = await hitl.api.post("/v1/escalations", json=escalation(), headers={"Authorization": ""})
    wrong = await hitl.api.post("/v1/escalations", json=escalation(), headers={"Authorization": "Bearer nope"})
    read = await hitl.api.get("/v1/escalations/case-1", headers={"Authorization": "Bearer nope"})
    assert (no_token.status_code, wrong.status_code, read.status_code) == (401, 401, 401)
    assert no_token.headers["www-authenticate"] == "Bearer"
    assert (await hitl.api.get("/v1/escalations/case-1")).status_code == 404


async def test_healthz(hitl: Harness) -> None:
    response = await hitl.api.get("/healthz", headers={"Authorization": ""})
    assert response.status_code == 200 and response.json() == {"ok": True}


async def test_approve_updates_card_and_records_identity(hitl: Harness) -> None:
    await hitl.escalate()
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.APPROVE)
    assert view["callback_id"] == CallbackId.APPROVE.value
    assert ModalMetadata.model_validate_json(view["private_metadata"]).case_id == "case-1"
    response = await hitl.slack.submit_view("U0SME1", view["id"], {"note": "Checked the ledger"}, user_name="dana")
    assert response.status_code == 200 and response.content in (b"", b"{}")
    card = await hitl.card("case-1")
    assert card.edits == 1
    assert actions_of(card.blocks) == []
    text = card_text(card.blocks)
    assert "✅ Approved* by <@U0SME1>" in text and "Checked the ledger" in text
    status = await hitl.status("case-1")
    assert status["status"] == "approved"
    decision = status["decision"]
    assert decision["outcome"] == "approved"
    assert decision["final_text"] == escalation()["model_draft"]
    assert decision["note"] == "Checked the ledger"
    assert decision["decided_by"] == {"slack_user_id": "U0SME1", "slack_team_id": "T0HITL", "name": "dana"}
    assert [e["action"] for e in status["timeline"]] == ["received", "posted", "viewed", "approved"]
    approved = status["timeline"][-1]
    assert approved["actor"]["slack_user_id"] == "U0SME1" and approved["actor"]["slack_team_id"] == "T0HITL"


async def test_user_group_members_can_decide(hitl: Harness) -> None:
    await hitl.escalate()
    view = await open_modal(hitl, "U0BILL2", "case-1", ActionId.APPROVE)
    await hitl.slack.submit_view("U0BILL2", view["id"], {})
    assert (await hitl.status("case-1"))["decision"]["decided_by"]["slack_user_id"] == "U0BILL2"


async def test_checklist_must_be_ticked_whole(hitl: Harness) -> None:
    await hitl.escalate(skill="legal", risk_level="high")
    view = await open_modal(hitl, "U0LAW1", "case-1", ActionId.APPROVE)
    response = await hitl.slack.submit_view("U0LAW1", view["id"], {"checklist": ["0"]})
    assert response.json() == {
        "response_action": "errors",
        "errors": {"checklist": "Tick every item to approve (1 of 2 ticked)."},
    }
    assert (await hitl.status("case-1"))["status"] == "pending"
    response = await hitl.slack.submit_view("U0LAW1", view["id"], {"checklist": ["0", "1"]})
    assert response.status_code == 200
    decision = (await hitl.status("case-1"))["decision"]
    assert decision["checklist"] == ["Verified claims against the cited sources", "Privacy and regulated data checked"]


async def test_edit_records_final_text_and_before_after(hitl: Harness) -> None:
    await hitl.escalate()
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.EDIT)
    draft_inputs = [b for b in view["blocks"] if b.get("block_id", "").startswith("draft_")]
    assert len(draft_inputs) == 1
    assert draft_inputs[0]["element"]["initial_value"] == escalation()["model_draft"]
    edited = "Yes. The double charge on invoice 1042 will be refunded ($49.00) within 5 days."
    await hitl.slack.submit_view("U0SME1", view["id"], {"draft_0": edited, "note": "Refunds take 5 days"})
    status = await hitl.status("case-1")
    assert status["status"] == "edited"
    assert status["decision"]["final_text"] == edited
    event = status["timeline"][-1]
    assert event["action"] == "edited"
    assert event["details"]["before"] == escalation()["model_draft"] and event["details"]["after"] == edited
    text = card_text((await hitl.card("case-1")).blocks)
    assert "Edited* by <@U0SME1>" in text and "within 5 days" in text and "Final answer (as edited)" in text


async def test_edit_submitted_unchanged_counts_as_approval(hitl: Harness) -> None:
    await hitl.escalate()
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.EDIT)
    await hitl.slack.submit_view("U0SME1", view["id"], {})
    status = await hitl.status("case-1")
    assert status["status"] == "approved"
    assert status["timeline"][-1]["details"]["unchanged"] is True


async def test_edit_of_empty_answer_is_an_inline_error(hitl: Harness) -> None:
    await hitl.escalate()
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.EDIT)
    response = await hitl.slack.submit_view("U0SME1", view["id"], {"draft_0": "   "})
    assert response.json()["response_action"] == "errors"
    assert list(response.json()["errors"]) == ["draft_0"]


async def test_long_draft_is_edited_whole(hitl: Harness) -> None:
    paragraphs = [f"Paragraph {i}: " + ("lorem ipsum dolor sit amet " * 20).strip() for i in range(40)]
    draft = "\n\n".join(paragraphs) + "\n"
    assert len(draft) > 20_000
    await hitl.escalate(model_draft=draft)
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.EDIT)
    parts = [b for b in view["blocks"] if b.get("block_id", "").startswith("draft_")]
    assert len(parts) >= 8
    assert all(len(p["element"]["initial_value"]) <= 3000 for p in parts)
    # Change only the last part; every other character must survive the round trip.
    last = parts[-1]
    new_last = last["element"]["initial_value"].replace("Paragraph 39", "Paragraph THIRTY-NINE")
    await hitl.slack.submit_view("U0SME1", view["id"], {last["block_id"]: new_last})
    final = (await hitl.status("case-1"))["decision"]["final_text"]
    assert final == draft.replace("Paragraph 39", "Paragraph THIRTY-NINE")


async def test_reject_needs_reason_and_note(hitl: Harness) -> None:
    await hitl.escalate()
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.REJECT)
    options = [
        o["value"] for o in next(b for b in view["blocks"] if b.get("block_id") == "reason")["element"]["options"]
    ]
    assert options == [
        "factual_error",
        "hallucination",
        "missing_evidence",
        "incorrect_evidence",
        "policy_violation",
        "unsafe",
        "other",
    ]
    response = await hitl.slack.submit_view("U0SME1", view["id"], {"note": "  "})
    assert response.json()["response_action"] == "errors"
    assert set(response.json()["errors"]) == {"reason", "note"}
    response = await hitl.slack.submit_view(
        "U0SME1", view["id"], {"reason": "hallucination", "note": "Invoice 1042 was never charged twice"}
    )
    assert response.status_code == 200
    status = await hitl.status("case-1")
    assert status["status"] == "rejected"
    assert status["decision"]["reason"] == "hallucination" and status["decision"]["final_text"] is None
    text = card_text((await hitl.card("case-1")).blocks)
    assert "⛔ Rejected* by <@U0SME1>" in text and "*Reason:* Hallucination" in text


async def test_outsider_is_refused_and_audited(hitl: Harness) -> None:
    await hitl.escalate()
    card = await hitl.card("case-1")
    await hitl.slack.click("U0NOBODY", card.channel, card.ts, ActionId.APPROVE.value)
    [text] = await ephemerals_for(hitl, "U0NOBODY")
    assert "not a reviewer for billing tier 1 (Support specialist)" in text
    assert hitl.emulator.calls_to("views.open") == []
    # Tier 2's SME is not a tier 1 reviewer either, until the case is paged to tier 2.
    await hitl.slack.click("U0SME2", card.channel, card.ts, ActionId.REJECT.value)
    await ephemerals_for(hitl, "U0SME2")
    status = await hitl.status("case-1")
    attempts = [e for e in status["timeline"] if e["action"] == "unauthorized_attempt"]
    assert [a["actor"]["slack_user_id"] for a in attempts] == ["U0NOBODY", "U0SME2"]
    assert status["status"] == "pending"


async def test_outsider_cannot_submit_a_modal_either(hitl: Harness) -> None:
    await hitl.escalate()
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.APPROVE)
    # A modal opened by a reviewer, submitted as someone else (a forged or replayed payload).
    response = await hitl.slack.submit_view("U0NOBODY", view["id"], {})
    assert response.json()["response_action"] == "update"
    assert (await hitl.status("case-1"))["status"] == "pending"


async def test_click_on_decided_card_says_who_decided(hitl: Harness) -> None:
    await hitl.escalate()
    card = await hitl.card("case-1")
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.APPROVE)
    # Slack is slow to update the card, so a second reviewer still sees the buttons.
    hitl.emulator.faults.fail("chat.update", status=500, count=None)
    await hitl.slack.submit_view("U0SME1", view["id"], {})
    await hitl.slack.click("U0BILL1", card.channel, card.ts, ActionId.REJECT.value)
    [text] = await ephemerals_for(hitl, "U0BILL1")
    assert "already *approved* by <@U0SME1>" in text
    assert (await hitl.status("case-1"))["status"] == "approved"
    hitl.emulator.faults.clear()


async def test_two_deciders_at_once_exactly_one_wins(hitl: Harness) -> None:
    await hitl.escalate()
    approve = await open_modal(hitl, "U0SME1", "case-1", ActionId.APPROVE)
    reject = await open_modal(hitl, "U0BILL1", "case-1", ActionId.REJECT)
    a, r = await asyncio.gather(
        hitl.slack.submit_view("U0SME1", approve["id"], {}),
        hitl.slack.submit_view("U0BILL1", reject["id"], {"reason": "unsafe", "note": "no"}),
    )
    answers = [a.content, r.content]
    assert sum(1 for body in answers if b"response_action" in body) == 1
    status = await hitl.status("case-1")
    decisions = [e for e in status["timeline"] if e["action"] in ("approved", "rejected")]
    assert len(decisions) == 1
    assert status["status"] == decisions[0]["action"]
    assert any(e["action"] == "decision_refused" for e in status["timeline"])
    loser = r if b"response_action" in r.content else a
    assert "already" in json.dumps(loser.json()["view"])


async def test_hostile_text_cannot_ping_or_forge_links(hitl: Harness) -> None:
    hostile = "<!channel> <!everyone> <@U0SME1> <https://evil.example|your bank> & <#C0OPS> @here"
    await hitl.escalate(
        model_draft=hostile,
        user_question=hostile,
        reason_for_escalation=hostile,
        evidence=[{"document_id": "<!here>", "quote": hostile}],
        proposed_action={"action": "<!channel>", "args": {"<@U1>": hostile}},
    )
    card = await hitl.card("case-1")
    text = card_text(card.blocks) + card.text
    for forbidden in ("<!channel>", "<!everyone>", "<!here>", "<@U0SME1>", "<https://evil", "<#C0OPS>", "<@U1>"):
        assert forbidden not in text, forbidden
    assert "&lt;!channel&gt;" in text and "&amp;" in text
    untrusted = [
        b["text"] for b in card.blocks if b["type"] == "section" and "text" in b and "&lt;" in b["text"]["text"]
    ]
    assert untrusted and all(t.get("verbatim") is True for t in untrusted)


async def test_huge_input_stays_inside_block_kit_limits(hitl: Harness) -> None:
    big = "x" * 19_000 + " & <tail>"
    body = escalation(
        model_draft=("word " * 20_000).strip(),
        user_question=big,
        reason_for_escalation=big,
        evidence=[{"document_id": "d" * 256, "quote": big[-5000:], "score": 0.5} for _ in range(50)],
        proposed_action={"action": "a" * 128, "args": {f"k{i:02d}" + "k" * 120: big[-5000:] for i in range(50)}},
        tenant_id="t" * 128,
        model={"name": "m" * 256, "version": "v" * 256},
    )
    assert (await hitl.escalate(body)).status_code == 201
    card = await hitl.card("case-1")
    assert len(card.blocks) <= 50
    assert "more characters]_" in card_text(card.blocks)
    for action in (ActionId.APPROVE, ActionId.EDIT, ActionId.REJECT):
        view = await open_modal(hitl, "U0SME1", "case-1", action)
        assert len(view["blocks"]) <= 100
    hitl.emulator.assert_no_rejections()


async def test_bodies_over_a_megabyte_are_413(hitl: Harness) -> None:
    response = await hitl.escalate(model_draft="x" * 100_000, tool_results=["y" * 100_000] * 10)
    assert response.status_code == 413 and response.json()["error"] == "too_large"


async def test_slack_outage_during_posting_is_retried_later(hitl: Harness) -> None:
    hitl.emulator.faults.fail("chat.postMessage", status=503, count=None)
    assert (await hitl.escalate()).status_code == 201
    await hitl.settle()
    status = await hitl.status("case-1")
    assert status["message_ts"] is None and status["status"] == "pending"
    [delivery] = status["deliveries"]
    assert delivery["state"] == "pending" and delivery["attempts"] >= 1 and delivery["last_error"]
    hitl.emulator.faults.clear()
    from datetime import timedelta

    hitl.clock.advance(timedelta(minutes=10))
    card = await hitl.card("case-1")
    posted = [c for c in hitl.emulator.calls_to("chat.postMessage") if c.ok]
    assert len(posted) == 1 and posted[0].response["ts"] == card.ts
    assert (await hitl.status("case-1"))["deliveries"][0]["state"] == "delivered"


async def test_rate_limited_post_honours_retry_after(hitl: Harness) -> None:
    hitl.emulator.faults.rate_limit("chat.postMessage", retry_after=1, count=1)
    await hitl.escalate()
    await hitl.card("case-1")
    calls = hitl.emulator.calls_to("chat.postMessage")
    assert [c.status_code for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 1.0


async def test_failed_modal_open_tells_the_reviewer_to_click_again(hitl: Harness) -> None:
    await hitl.escalate()
    card = await hitl.card("case-1")
    hitl.emulator.faults.fail("views.open", status=500, count=3)
    await hitl.slack.click("U0SME1", card.channel, card.ts, ActionId.EDIT.value)
    [text] = await ephemerals_for(hitl, "U0SME1")
    assert "please click again" in text
    status = await hitl.status("case-1")
    assert status["status"] == "pending" and "viewed" not in [e["action"] for e in status["timeline"]]
