"""Slack request bodies parsed into the few typed facts handlers need."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from blocks.ids import CaseRef, ModalMetadata
from bot.identity import Reviewer


class BadPayload(Exception):
    """A request that did not come from a card or modal of ours (or came from an older, incompatible one)."""


def reviewer_of(body: dict[str, Any]) -> Reviewer:
    """The acting user and where the request says it comes from: interactions carry `user` and `team` objects,
    slash commands flat `user_id` / `team_id` / `enterprise_id` fields."""
    user = _mapping(body.get("user"))
    team = _mapping(body.get("team"))
    enterprise = body.get("enterprise")
    enterprise_id = (
        _mapping(enterprise).get("id")
        or team.get("enterprise_id")
        or body.get("enterprise_id")
        or (enterprise if isinstance(enterprise, str) else None)
    )
    return Reviewer(
        user_id=_text(user.get("id") or body.get("user_id")),
        team_id=_text(team.get("id") or body.get("team_id")) or None,
        name=_text(user.get("username") or user.get("name") or body.get("user_name")) or None,
        user_team_id=_text(user.get("team_id")) or None,
        enterprise_id=_text(enterprise_id) or None,
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def clicked_case(body: dict[str, Any]) -> CaseRef:
    try:
        return CaseRef.model_validate_json(body["actions"][0]["value"])
    except (KeyError, IndexError, TypeError, ValidationError) as exc:
        raise BadPayload("button value is not a case reference") from exc


def click_location(body: dict[str, Any]) -> tuple[str | None, str | None]:
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    return channel, container.get("message_ts")


def modal_metadata(body: dict[str, Any]) -> ModalMetadata:
    try:
        return ModalMetadata.model_validate_json(body["view"]["private_metadata"])
    except (KeyError, TypeError, ValidationError) as exc:
        raise BadPayload("modal metadata is not ours") from exc


def state_values(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return ((body.get("view") or {}).get("state") or {}).get("values") or {}


def first_input_block(body: dict[str, Any]) -> str | None:
    """The block an inline modal error can hang on (Slack only accepts errors on input blocks)."""
    blocks = (body.get("view") or {}).get("blocks") or []
    return next(
        (b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("type") == "input" and b.get("block_id")),
        None,
    )
