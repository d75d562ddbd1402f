"""Reading modal submissions into typed inputs (handlers/slack/forms.py). The state comes from the real modal
builders through the emulator's `state_values`, the way Slack fills `view.state.values` from a view's inputs,
so these tests also prove builder, reader and rules agree: a modal submitted untouched decides nothing new."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blocks.ids import InputId, ModalMetadata
from blocks.modals import build_approve_modal, build_edit_modal, build_reject_modal, split_for_inputs
from blocks.ops import build_kill_modal
from bot.domain.cases import CaseStatus
from bot.domain.pauses import MAX_REASON, KillArgs, Mode, Scope
from bot.services.decision_rules import (
    ApproveInput,
    ArgInput,
    DecisionRequest,
    EditInput,
    RejectInput,
    decision_request,
)
from handlers.slack import forms
from slack_emulator.interactions import match_inputs, state_values
from tests.unit.cases import card_view

META = ModalMetadata(case_id="case-1", channel="C0BILLING", message_ts="1763729000.000100")


def submitted(view: dict[str, Any], entered: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """`view.state.values` as Slack sends it on submit: every input as pre-filled, except what was `entered`."""
    return state_values(view["blocks"], match_inputs(view["blocks"], entered or {}))


def _meta(view: dict[str, Any]) -> ModalMetadata:
    return ModalMetadata.model_validate_json(view["private_metadata"])


# ---- Approve -------------------------------------------------------------------------------------------------


def test_approve_reads_the_ticked_items_and_the_note() -> None:
    modal = build_approve_modal(card_view(), ["Verified", "Privacy"], META)
    form = forms.read_approve(
        "case-1", submitted(modal, {InputId.CHECKLIST.value: ["0", "1"], InputId.NOTE.value: "  fine  "})
    )
    assert form == ApproveInput("case-1", frozenset({"0", "1"}), "fine")


def test_approve_untouched_reads_nothing_ticked_and_no_note() -> None:
    modal = build_approve_modal(card_view(), ["Verified"], META)
    assert forms.read_approve("case-1", submitted(modal)) == ApproveInput("case-1", frozenset(), None)
    assert forms.read_approve("case-1", {}) == ApproveInput("case-1", frozenset(), None)


def test_a_whitespace_note_is_no_note() -> None:
    modal = build_approve_modal(card_view(), [], META)
    assert forms.read_approve("case-1", submitted(modal, {InputId.NOTE.value: " \n\t "})).note is None


# ---- Edit ----------------------------------------------------------------------------------------------------


def test_edit_untouched_is_an_approval_of_the_draft_and_the_action() -> None:
    view = card_view()
    modal = build_edit_modal(view, META)
    form = forms.read_edit(_meta(modal), submitted(modal))
    assert isinstance(form, EditInput) and form.parts == (view.escalation.model_draft,)
    payload = view.escalation.model_dump(mode="json")
    decided = decision_request(form, payload, [])
    assert isinstance(decided, DecisionRequest) and decided.outcome is CaseStatus.APPROVED
    assert decided.final_action == payload["proposed_action"]


def test_edit_reads_every_typed_argument() -> None:
    view = card_view(
        proposed_action={
            "action": "refund",
            "args": {"invoice": "1042", "amount": 49.0, "count": 2, "notify": True, "meta": {"a": 1}},
        }
    )
    modal = build_edit_modal(view, META)
    entered = {
        "arg_0": "1043",
        "arg_1": "12.5",
        "arg_2": "3",
        "arg_3": "false",
        "arg_4": '{"a": 2}',
        "draft_0": "  New answer.  ",
    }
    form = forms.read_edit(_meta(modal), submitted(modal, entered))
    assert form.parts == ("New answer.",)  # parts are stripped: Slack may trim them
    assert form.args == {
        0: ArgInput("1043"),
        1: ArgInput("12.5"),
        2: ArgInput("3"),
        3: ArgInput(None, "false"),
        4: ArgInput('{"a": 2}'),
    }
    decided = decision_request(form, view.escalation.model_dump(mode="json"), [])
    assert isinstance(decided, DecisionRequest) and decided.outcome is CaseStatus.EDITED
    assert decided.final_action == {
        "action": "refund",
        "args": {"invoice": "1043", "amount": 12.5, "count": 3, "notify": False, "meta": {"a": 2}},
    }


def test_edit_of_a_long_draft_reads_each_offered_part_in_order() -> None:
    draft = ("lorem ipsum " * 300 + "\n\n") * 8
    view = card_view(model_draft=draft)
    modal = build_edit_modal(view, META)
    meta = _meta(modal)
    parts, _ = split_for_inputs(draft)
    assert meta.draft_parts == len(parts) > 1
    form = forms.read_edit(meta, submitted(modal, {"draft_1": "second part, rewritten"}))
    assert form.parts == (parts[0], "second part, rewritten", *parts[2:])


def test_edit_ignores_blocks_that_are_not_argument_inputs() -> None:
    values = {
        "arg_x": {"value": {"type": "plain_text_input", "value": "1"}},
        "argh": {},
        "arg_2": {"value": {"type": "plain_text_input", "value": 5}},
    }
    form = forms.read_edit(ModalMetadata(case_id="c"), values)
    assert form.parts == ("",)  # no metadata parts: one part, empty
    assert form.args == {2: ArgInput(None, None)}  # a value that is not text is no value


# ---- Reject --------------------------------------------------------------------------------------------------


def test_reject_reads_the_reason_and_the_note() -> None:
    modal = build_reject_modal(card_view(), META)
    assert forms.read_reject(
        "case-1", submitted(modal, {InputId.REASON.value: "hallucination", InputId.NOTE.value: "made up"})
    ) == RejectInput("case-1", "hallucination", "made up")
    assert forms.read_reject("case-1", submitted(modal)) == RejectInput("case-1", None, None)


# ---- the kill form -------------------------------------------------------------------------------------------


def test_the_kill_form_untouched_pauses_everything_human_only_but_needs_a_reason() -> None:
    modal = build_kill_modal()
    assert forms.parse_kill(submitted(modal)) == {
        InputId.REASON.value: "Say why: it is announced to ops and kept in the audit trail."
    }
    assert forms.parse_kill(submitted(modal, {InputId.REASON.value: " PII leak "})) == KillArgs(
        Scope("all"), Mode.HUMAN_ONLY, "PII leak"
    )


def test_the_kill_form_reads_scope_and_mode() -> None:
    modal = build_kill_modal("tenant:acme")
    args = forms.parse_kill(submitted(modal, {InputId.MODE.value: "off", InputId.REASON.value: "why"}))
    assert args == KillArgs(Scope("tenant", "acme"), Mode.OFF, "why")
    assert forms.parse_kill(submitted(modal, {InputId.SCOPE.value: "  ", InputId.REASON.value: "why"})) == KillArgs(
        Scope("all"), Mode.HUMAN_ONLY, "why"
    )


def test_the_kill_form_names_each_bad_input_in_at_most_150_characters() -> None:
    values = submitted(
        build_kill_modal(), {InputId.SCOPE.value: "tenants:" + "`x" * 200, InputId.REASON.value: "r" * (MAX_REASON + 1)}
    )
    errors = forms.parse_kill(values)
    assert isinstance(errors, dict) and set(errors) == {InputId.SCOPE.value, InputId.REASON.value}
    assert "`" not in errors[InputId.SCOPE.value] and all(len(e) <= 150 for e in errors.values())
    values[InputId.MODE.value][InputId.VALUE.value]["selected_option"] = {"value": "sideways"}  # a forged option
    assert forms.parse_kill(values)[InputId.MODE.value] == "Pick one of the modes offered."  # type: ignore[index]


@settings(max_examples=100, deadline=None)
@given(scope=st.text(max_size=400), reason=st.text(max_size=1200), mode=st.sampled_from(["human-only", "off"]))
def test_the_kill_form_answers_a_pause_or_bounded_errors(scope: str, reason: str, mode: str) -> None:
    parsed = forms.parse_kill(
        submitted(
            build_kill_modal(), {InputId.SCOPE.value: scope, InputId.MODE.value: mode, InputId.REASON.value: reason}
        )
    )
    if isinstance(parsed, dict):
        assert (
            parsed
            and set(parsed) <= {InputId.SCOPE.value, InputId.REASON.value}
            and all(0 < len(e) <= 150 for e in parsed.values())
        )
    else:
        assert parsed.mode is Mode(mode) and 0 < len(parsed.reason) <= MAX_REASON


@pytest.mark.parametrize(
    "values", [{}, {"scope": None}, {"scope": {"value": None}}, {"reason": {"value": {"value": 3}}}]
)
def test_missing_or_odd_state_never_raises(values: dict[str, Any]) -> None:
    assert forms.parse_kill(values) == {
        InputId.REASON.value: "Say why: it is announced to ops and kept in the audit trail."
    }
