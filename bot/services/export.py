"""Reviewed cases as a dataset: JSONL, CSV, or chat-format fine-tuning records, streamed row by row."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.events import action_with_key
from store.cases import decision_of
from store.db import stream_by_id
from store.models import DECIDED, Case

BATCH = 500


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    OPENAI_CHAT = "openai-chat"


CSV_COLUMNS = [
    "case_id", "queue", "tenant_id", "outcome", "reason", "note", "edit_distance", "edit_ratio",
    "reviewer_id", "reviewer_name", "model_name", "model_version", "prompt_hash", "received_at", "decided_at",
    "tier", "user_question", "model_draft", "final_text", "evidence", "proposed_action", "final_action",
]  # fmt: skip


def decided_cases(
    session: AsyncSession, *, since: datetime, queue: str | None, outcomes: Iterable[str]
) -> AsyncIterator[Case]:
    wanted = [o for o in outcomes if o in {s.value for s in DECIDED}] or [s.value for s in DECIDED]
    where = [Case.status.in_(wanted), Case.decided_at >= since] + ([Case.queue == queue] if queue else [])
    return stream_by_id(session, Case, *where, batch=BATCH)


def record(case: Case) -> dict[str, Any]:
    payload = case.payload
    model = payload.get("model") or {}
    decision = decision_of(case)
    assert decision is not None  # only decided cases are exported
    return {
        "case_id": case.case_id,
        "queue": case.queue,
        "tenant_id": case.tenant_id,
        "outcome": decision.outcome.value,
        "reason": decision.reason,
        "note": decision.note,
        "edit_distance": decision.edit_distance,
        "edit_ratio": decision.edit_ratio,
        "reviewer": decision.decided_by.to_json(),
        "model": {"name": model.get("name"), "version": model.get("version")},
        "prompt_hash": payload.get("prompt_hash"),
        "received_at": case.created_at.isoformat(),
        "decided_at": decision.decided_at.isoformat(),
        "tier": decision.tier,
        "user_question": payload.get("user_question"),
        "evidence": payload.get("evidence", []),
        "model_draft": payload.get("model_draft"),
        "final_text": decision.final_text,
        "proposed_action": payload.get("proposed_action"),
        "final_action": action_with_key(case.case_id, decision.final_action),
    }


def chat_record(case: Case, *, mark_rejected: bool) -> dict[str, Any] | None:
    """User question → the answer a human stood behind. Rejected drafts: left out, or kept with weight 0."""
    question = case.payload.get("user_question")
    if not question:
        return None
    if case.outcome == "rejected":
        if not mark_rejected:
            return None
        return {
            "messages": [
                {"role": "user", "content": question},
                {"role": "assistant", "content": case.payload.get("model_draft"), "weight": 0},
            ]
        }
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": case.final_text}]}


def _csv_row(item: dict[str, Any]) -> list[Any]:
    flat = {
        **item,
        "reviewer_id": item["reviewer"]["slack_user_id"],
        "reviewer_name": item["reviewer"]["name"],
        "model_name": item["model"]["name"],
        "model_version": item["model"]["version"],
    }
    for key in ("evidence", "proposed_action", "final_action"):
        flat[key] = json.dumps(item[key], ensure_ascii=False) if item[key] is not None else ""
    return [flat.get(column) for column in CSV_COLUMNS]


async def write_export(
    session: AsyncSession,
    out: TextIO,
    fmt: ExportFormat,
    *,
    since: datetime,
    queue: str | None,
    outcomes: list[str],
    mark_rejected: bool,
) -> int:
    written = 0
    writer = csv.writer(out) if fmt is ExportFormat.CSV else None
    if writer:
        writer.writerow(CSV_COLUMNS)
    async for case in decided_cases(session, since=since, queue=queue, outcomes=outcomes):
        if fmt is ExportFormat.OPENAI_CHAT:
            item = chat_record(case, mark_rejected=mark_rejected)
            if item is None:
                continue
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
        elif writer:
            writer.writerow(_csv_row(record(case)))
        else:
            out.write(json.dumps(record(case), ensure_ascii=False) + "\n")
        written += 1
    return written
