"""Escalations at every limit, made of one hostile unit repeated: the worst cases the builders must fit
(tests/unit/test_block_limits.py renders them directly, tests/test_renders.py posts them through the real app)."""

from __future__ import annotations

from typing import Any


def worst_case(case_id: str, unit: str, *, draft: str | None = None) -> dict[str, Any]:
    """An escalation at every limit, made of `unit` repeated; its JSON stays under the API's 1 MB."""

    def text(size: int) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    arg_values: list[Any] = [
        text(1000),
        10**4000,
        1e308,
        -0.0,
        True,
        None,
        [text(200)] * 4,
        {"a": {"b": [text(100), 1.5, None]}},
        123456789012345678901234567890,
    ]
    return {
        "case_id": case_id,
        "skill": "billing",
        "tenant_id": text(128),
        "model_draft": draft if draft is not None else text(100_000),
        "reason_for_escalation": text(20_000),
        "user_question": text(20_000),
        "risk_level": "critical",
        "evidence": [
            {
                "document_id": text(254) + f"{i:02d}",
                "quote": text(1_000),
                "score": 1e308,
                "url": "https://kb.example.com/" + "a" * 2000,
            }
            for i in range(50)
        ],
        "model": {"name": text(256), "version": text(256)},
        "confidence": 0.5,
        "signals": {f"s{i}": text(100) for i in range(50)},
        "impact": {"dollars": 1e308, "users_affected": 10**4000, "compliance_risk": text(2000)},
        "proposed_action": {
            "action": text(128),
            "args": {text(120) + f"{i:03d}": arg_values[i % len(arg_values)] for i in range(50)},
        },
    }


WORST = [
    ("entities", "&<>"),
    ("astral", "😀👩‍👩‍👧"),
    ("zero-width-rtl-mrkdwn", "\u200b\u202e*_~`"),
]
WHITESPACE_DRAFTS = ["a" + " " * 99_998 + "b", ("x" + " \n\t\u3000" * 3) * 7_000, "\n" * 49_999 + "." + "\n" * 50_000]
