#!/usr/bin/env python
"""Measurement: the sizes of hitl's own biggest Slack request bodies, to choose /slack/events' body cap.

    python -m bench.slack_bodies

Runs the real app and the emulator in this process (tests/support.py's serve_hitl, a fresh SQLite file) and
builds the bodies with the emulator's SlackRequestSender, byte for byte as Slack sends them
(`payload=<urlencoded JSON>`, non-ASCII as \\uXXXX as Slack sends view payloads): the Edit click on a card
(`block_actions` carries the whole message) and the Edit modal submitted (`view_submission` carries the whole
view and the state values) for a 100,000-character draft, once of prose and once of punctuation (one byte of
JSON, three once percent-encoded) with as many 3,000-character punctuation arguments as a 250,000-byte view
holds. Writes bench/results/slack_bodies.json and prints a markdown table.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from bench.common import ROOT, machine, machine_line, md_table, write_results
from bot.clock import ManualClock
from handlers.slack.events import MAX_BODY_BYTES
from tests import dbs
from tests.slack_bodies import BodySize, largest_bodies
from tests.support import make_emulator, serve_hitl


async def measure(db_url: str) -> list[BodySize]:
    async with serve_hitl(db_url, make_emulator(), ManualClock()) as hitl:
        return await largest_bodies(hitl)


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        # Migrating runs its own event loop: before ours.
        db_url = dbs.fresh_sqlite(dbs.sqlite_template(Path(tmp)), Path(tmp))
        sizes = asyncio.run(measure(db_url))
    largest = max(s.bytes for s in sizes)
    return {
        "machine": machine(),
        "cap": MAX_BODY_BYTES,
        "largest": largest,
        "cap_over_largest": round(MAX_BODY_BYTES / largest, 2),
        "bodies": [asdict(s) for s in sizes],
    }


def markdown(report: dict[str, object]) -> str:
    rows = [
        [b["shape"], b["kind"], f"{b['view_json_bytes']:,}", f"{b['bytes']:,}", b["status"]] for b in report["bodies"]
    ]  # type: ignore[index, union-attr]
    table = md_table(["draft", "request", "view JSON bytes", "body bytes", "answer"], rows, "llrrr")
    head = f"Slack request bodies (`python -m bench.slack_bodies`), {machine_line(report['machine'])}"  # type: ignore[index]
    cap = f"cap {report['cap']:,} bytes = {report['cap_over_largest']} x the largest ({report['largest']:,})"
    return f"{head}\n\n{table}\n\n{cap}"


def main() -> int:
    report = run()
    out = write_results("slack_bodies.json", report)
    print(markdown(report))
    print(f"\nresults: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
