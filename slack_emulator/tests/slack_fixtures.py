"""Slack-shaped payloads for the tests: ours, in slack_emulator/tests/fixtures/slack (always there), and
Slack's own samples and Web API spec in `../shared/slack-fixtures` beside the repository, used only as an extra
cross-check when present (HITL_SLACK_FIXTURES names another place, e.g. for a git worktree)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

LOCAL = Path(__file__).parent / "fixtures" / "slack"
BESIDE_REPO = Path(__file__).resolve().parents[3] / "shared" / "slack-fixtures"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((LOCAL / name).read_text(encoding="utf-8"))
    return data


def raw(name: str) -> bytes:
    return (LOCAL / name).read_bytes().strip()


def shared_dir() -> Path | None:
    """Slack's own samples, when they are at hand; None in a fresh clone anywhere else."""
    override = os.environ.get("HITL_SLACK_FIXTURES")
    for candidate in ([Path(override)] if override else []) + [BESIDE_REPO]:
        if candidate.is_dir():
            return candidate
    return None


def shared_file(name: str) -> Path | None:
    folder = shared_dir()
    path = folder / name if folder else None
    return path if path is not None and path.exists() else None
