"""What a submitted decision form means for a case (bot/services/decision_rules.py): checklists, typed action
arguments, the draft kept whole, an unchanged edit counted as an approval, a rejection's reason and note."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blocks.modals import split_for_inputs
from bot.domain.cases import CaseStatus, RejectReason
from bot.services.decision_rules import (
    ApproveInput,
    ArgInput,
    DecisionRequest,
    EditInput,
    Invalid,
    RejectInput,
    approve,
    decision_request,
    edit,
    reject,
    typed_arg,
)

DRAFT = "Yes. You were charged twice for invoice 1042; I have issued a refund of $49.00."
PROPOSED = {
    "action": "refund",
    "args": {"invoice": "1042", "amount": 49.0, "count": 2, "notify": True, "meta": {"k": [1, 2]}, "none": None},
}
UNCHANGED_ARGS = {
    0: ArgInput("1042"),
    1: ArgInput("49.0"),
    2: ArgInput("2"),
    3: ArgInput(selected="true"),
    4: ArgInput('{"k": [1, 2]}'),
    5: ArgInput(None),
}


def test_a_checklist_must_be_ticked_whole() -> None:
    checklist = ["Verified claims", "Privacy checked"]
    partly = approve(ApproveInput("c", frozenset({"0"})), DRAFT, None, checklist)
    assert partly == {"checklist": "Tick every item to approve (1 of 2 ticked)."}
    assert approve(ApproveInput("c", frozenset({"1", "7"})), DRAFT, None, checklist) == {
        "checklist": "Tick every item to approve (1 of 2 ticked)."
    }
    whole = approve(ApproveInput("c", frozenset({"0", "1"}), "ok"), DRAFT, PROPOSED, checklist)
    assert whole == DecisionRequest(
        CaseStatus.APPROVED, final_text=DRAFT, final_action=PROPOSED, note="ok", checklist=tuple(checklist)
    )


def test_no_checklist_approves_as_is() -> None:
    assert approve(ApproveInput("c"), DRAFT, None, []) == DecisionRequest(CaseStatus.APPROVED, final_text=DRAFT)


def test_an_edit_that_changes_nothing_is_an_approval() -> None:
    decided = edit(EditInput("c", (DRAFT,), UNCHANGED_ARGS), DRAFT, PROPOSED)
    assert isinstance(decided, DecisionRequest)
    assert decided.outcome is CaseStatus.APPROVED
    assert decided.final_text == DRAFT and decided.final_action == PROPOSED
    assert decided.details == {"via": "edit", "unchanged": True, "action_after": PROPOSED}


def test_changing_the_text_or_one_argument_is_an_edit() -> None:
    text = edit(EditInput("c", ("Yes, refunded.",), UNCHANGED_ARGS), DRAFT, PROPOSED)
    assert (
        isinstance(text, DecisionRequest) and text.outcome is CaseStatus.EDITED and text.final_text == "Yes, refunded."
    )
    amount = edit(EditInput("c", (DRAFT,), {**UNCHANGED_ARGS, 1: ArgInput("25.5")}), DRAFT, PROPOSED)
    assert isinstance(amount, DecisionRequest) and amount.outcome is CaseStatus.EDITED
    assert amount.final_action == {"action": "refund", "args": {**PROPOSED["args"], "amount": 25.5}}
    assert amount.details["unchanged"] is False


def test_arguments_the_modal_did_not_offer_are_kept_as_proposed() -> None:
    decided = edit(EditInput("c", (DRAFT,), {1: ArgInput("10")}), DRAFT, PROPOSED)
    assert isinstance(decided, DecisionRequest)
    assert decided.final_action == {"action": "refund", "args": {**PROPOSED["args"], "amount": 10.0}}


def test_an_edit_without_a_proposed_action_has_none() -> None:
    decided = edit(EditInput("c", (DRAFT,)), DRAFT, None)
    assert (
        isinstance(decided, DecisionRequest) and decided.final_action is None and decided.outcome is CaseStatus.APPROVED
    )


@pytest.mark.parametrize("parts", [("",), ("   \n\t",), ("\u3000",)])
def test_an_empty_answer_is_an_inline_error_on_the_first_part(parts: tuple[str, ...]) -> None:
    assert edit(EditInput("c", parts), DRAFT, None) == {
        "draft_0": "The answer can't be empty. To turn the draft down, use Reject instead."
    }


def test_every_bad_argument_and_an_empty_draft_are_reported_together() -> None:
    errors = edit(
        EditInput("c", ("",), {**UNCHANGED_ARGS, 1: ArgInput("lots"), 2: ArgInput("2.5"), 4: ArgInput("{oops")}),
        DRAFT,
        PROPOSED,
    )
    assert isinstance(errors, dict)
    assert set(errors) == {"draft_0", "arg_1", "arg_2", "arg_4"}
    assert (
        errors["arg_1"] == "Enter a number."
        and errors["arg_2"] == "Enter a whole number."
        and errors["arg_4"].startswith("Not valid JSON: ")
    )
    assert all(len(message) <= 150 for message in errors.values())


def test_a_long_draft_keeps_the_parts_the_modal_did_not_show() -> None:
    draft = ("word " * 1000 + "\n\n") * 20  # ~100,000 characters: many parts
    parts, _ = split_for_inputs(draft)
    assert len(parts) > 3
    edited = ["Changed first part.", *parts[1:3]]  # the modal offered three parts
    decided = edit(EditInput("c", tuple(edited)), draft, None)
    assert isinstance(decided, DecisionRequest) and decided.outcome is CaseStatus.EDITED
    assert decided.final_text is not None
    assert decided.final_text.startswith(draft[: len(draft) - len(draft.lstrip())] + "Changed first part.")
    assert decided.final_text.endswith(draft[-5000:])  # the rest exactly as written
    # Submitting the offered parts untouched is an approval of the whole draft.
    same = edit(EditInput("c", tuple(parts[:3])), draft, None)
    assert isinstance(same, DecisionRequest) and same.outcome is CaseStatus.APPROVED and same.final_text == draft


@pytest.mark.parametrize(
    "given_, original, expected",
    [
        (ArgInput(selected="false"), True, False),
        (ArgInput(selected=None), True, True),  # nothing picked: as proposed
        (ArgInput(selected=None), False, False),
        (ArgInput(" 42 "), 7, 42),
        (ArgInput("-0"), 7, 0),
        (ArgInput("1e3"), 1.5, 1000.0),
        (ArgInput(" 2 "), 1.5, 2.0),
        (ArgInput("  spaced  "), "x", "  spaced  "),  # text is kept as typed
        (ArgInput(None), "x", ""),
        (ArgInput(""), {"a": 1}, None),  # JSON left empty: null
        (ArgInput(" [1, 2] "), [0], [1, 2]),
        (ArgInput('"text"'), None, "text"),
    ],
)
def test_typed_arguments_keep_the_proposed_type(given_: ArgInput, original: Any, expected: Any) -> None:
    value = typed_arg(given_, original)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "given_, original, message",
    [
        (ArgInput("4.5"), 7, "Enter a whole number."),
        (ArgInput(""), 7, "Enter a whole number."),
        (ArgInput("abc"), 1.5, "Enter a number."),
        (ArgInput("inf"), 1.5, "Enter a finite number."),
        (ArgInput("nan"), 1.5, "Enter a finite number."),
        (ArgInput("1e999"), 1.5, "Enter a finite number."),
    ],
)
def test_typed_arguments_refuse_what_the_type_cannot_hold(given_: ArgInput, original: Any, message: str) -> None:
    assert typed_arg(given_, original) == Invalid(message)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_float_typed_back_is_itself(number: float) -> None:
    value = typed_arg(ArgInput(repr(number)), 0.5)
    assert value == number and math.copysign(1, value) == math.copysign(1, number)


@pytest.mark.parametrize("reason", [r.value for r in RejectReason])
def test_a_rejection_needs_a_known_reason_and_a_note(reason: str) -> None:
    assert reject(RejectInput("c", reason, "wrong invoice")) == DecisionRequest(
        CaseStatus.REJECTED, reason=reason, note="wrong invoice"
    )


def test_a_rejection_without_them_names_both_inputs() -> None:
    assert reject(RejectInput("c", None, None)) == {
        "reason": "Pick the category that fits best.",
        "note": "Add a note: what is wrong, or what the answer should have been.",
    }
    assert set(reject(RejectInput("c", "made_up", "n"))) == {"reason"}  # type: ignore[arg-type]


def test_the_form_is_checked_against_the_stored_payload() -> None:
    payload = {"model_draft": DRAFT, "proposed_action": PROPOSED}
    assert decision_request(ApproveInput("c"), payload, ["one"]) == {
        "checklist": "Tick every item to approve (0 of 1 ticked)."
    }
    approved = decision_request(EditInput("c", (DRAFT,), UNCHANGED_ARGS), payload, ["one"])  # an edit has no checklist
    assert isinstance(approved, DecisionRequest) and approved.outcome is CaseStatus.APPROVED
    assert decision_request(RejectInput("c", "other", "n"), {}, []) == DecisionRequest(
        CaseStatus.REJECTED, reason="other", note="n"
    )
    # A payload without a draft (or with an empty action) reads as an empty draft and no action.
    empty = decision_request(EditInput("c", ("Written by the reviewer.",)), {"proposed_action": {}}, [])
    assert isinstance(empty, DecisionRequest) and empty.final_action is None and empty.outcome is CaseStatus.EDITED
