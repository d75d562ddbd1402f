"""hitl's own biggest Slack request bodies, built by the emulator's SlackRequestSender exactly as Slack sends them:
the click on a full card (`block_actions` carries the whole message) and the submission of the Edit modal of a
100,000-character draft (`view_submission` carries the whole view, every input's initial value, plus the state
values: the draft twice). Used by tests/test_slack_edge.py (they must pass the cap) and bench/slack_bodies.py
(the table in the README).

The worst shape for size is text that percent-encoding triples: ASCII punctuation is one byte of JSON and three
of `payload=<urlencoded JSON>`. (Non-ASCII text is sent as \\uXXXX escapes, as Slack does in view payloads:
six bytes of JSON, eight encoded.) The emulator refuses a view of 250,000 bytes of JSON or more, as Slack does,
so the punctuation case fills the Edit modal's argument inputs up to that.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx

from blocks.ids import ActionId
from slack_emulator import SlackRequestSender
from slack_emulator.blockkit import Limits
from tests.support import SIGNING_SECRET, Harness, escalation

REVIEWER = "U0SME1"
# One byte of JSON each, three once percent-encoded (quote() keeps only letters, digits, "_.-~/").
PUNCTUATION = "!#$%&'()*+,;=?@[]^`{|}<>:"


class MeasuringSender(SlackRequestSender):
    """The emulator's sender, remembering the size of every body it sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sizes: list[int] = []

    async def send_raw(self, body: bytes, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        self.sizes.append(len(body))
        return await super().send_raw(body, **kwargs)


@dataclass
class BodySize:
    shape: str
    kind: str  # block_actions (the Edit click on the card) or view_submission (the Edit modal submitted)
    bytes: int
    status: int
    view_json_bytes: int  # the view as hitl opened it (compact JSON, as the emulator measures it)


def prose(n: int) -> str:
    words = [
        "the",
        "refund",
        "for",
        "invoice",
        "1042",
        "was",
        "issued",
        "twice",
        "so",
        "we",
        "reverse",
        "one",
        "of",
        "them",
        "today",
    ]
    out: list[str] = []
    size = 0
    i = 0
    while size < n:
        word = words[i % len(words)] + ("\n" if i % 17 == 16 else " ")
        out.append(word)
        size += len(word)
        i += 1
    return "".join(out)[: n - 1].rstrip().ljust(n - 1, "x") + "."


def punctuation(n: int) -> str:
    # A space every 60 characters: the split over inputs cuts at whitespace, as for real text.
    line = (PUNCTUATION * 3)[:59] + " "
    return (line * (n // len(line) + 1))[: n - 1] + "!"


async def _open_edit_modal(h: Harness, sender: MeasuringSender, case_id: str) -> tuple[dict[str, Any] | None, int]:
    card = await h.card(case_id)
    before = len(h.emulator.calls_to("views.open"))
    response = await sender.click(REVIEWER, card.channel, card.ts, ActionId.EDIT.value)
    assert response.status_code == 200, response.text
    for _ in range(500):
        if len(h.emulator.calls_to("views.open")) > before:
            break
        await asyncio.sleep(0.01)
    call = h.emulator.calls_to("views.open")[-1]
    return (call.response["view"] if call.ok else None), sender.sizes[-1]


def _view_bytes(view: dict[str, Any]) -> int:
    return len(json.dumps(view, separators=(",", ":")).encode())


async def measure_edit(h: Harness, shape: str, draft: str, args: dict[str, Any]) -> list[BodySize]:
    """Escalate, click Edit on the card, submit the modal unchanged; the size of both bodies."""
    case_id = f"size-{shape}"
    body = escalation(case_id, model_draft=draft, proposed_action={"action": "refund", "args": args})
    # Raw UTF-8 JSON, as an LLM system would send it (the ingest cap is 1 MB).
    ingest = await h.api.post(
        "/v1/escalations",
        content=json.dumps(body, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert ingest.status_code == 201, ingest.text
    async with MeasuringSender(h.url, SIGNING_SECRET, h.emulator) as sender:
        view, click_bytes = await _open_edit_modal(h, sender, case_id)
        assert view is not None, f"the Edit modal of {shape} did not open"
        submitted = await sender.submit_view(REVIEWER, view["id"])
        view_bytes = _view_bytes(h.emulator.calls_to("views.open")[-1].args["view"])
        return [
            BodySize(shape, "block_actions", click_bytes, 200, view_bytes),
            BodySize(shape, "view_submission", sender.sizes[-1], submitted.status_code, view_bytes),
        ]


async def largest_bodies(h: Harness) -> list[BodySize]:
    """The Edit click and submission for a 100k-character draft of prose, and of punctuation with as many
    3,000-character punctuation arguments as the 250,000-byte view allows."""
    sizes = await measure_edit(h, "prose", prose(100_000), escalation()["proposed_action"]["args"])
    # Probe one argument's share of the view, then fill the view up to just under Slack's limit.
    probe = await measure_edit(h, "punctuation-probe", punctuation(100_000), {"a00": punctuation(3_000)})
    one_arg = await measure_edit(
        h, "punctuation-probe2", punctuation(100_000), {"a00": punctuation(3_000), "a01": punctuation(3_000)}
    )
    per_arg = one_arg[0].view_json_bytes - probe[0].view_json_bytes
    room = Limits().view_bytes - 1 - probe[0].view_json_bytes
    count = min(50, 1 + room // per_arg)
    args = {f"a{i:02d}": punctuation(3_000) for i in range(count)}
    sizes += await measure_edit(h, f"punctuation-{count}-args", punctuation(100_000), args)
    return sizes
