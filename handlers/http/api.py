"""The HTTP API the LLM system calls: send escalations, read decisions back."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.clock import Clock
from bot.domain.audit import Actor, ActorType
from bot.domain.escalation import Escalation, NewInput, case_id_problem, unstorable_strings
from bot.durations import parse_duration
from bot.services.ingest import CaseConflict, Ingest, NoRoute, Unacceptable
from bot.services.killswitch import KillSwitchBoard
from bot.services.status import CaseStatuses
from bot.services.waiting import DecisionWaiters
from handlers.bodies import TooLarge, read_capped
from handlers.http import strict_json

MAX_BODY_BYTES = 1_000_000


def _error(
    status: int,
    error: str,
    message: str,
    fields: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": error, "message": message}
    if fields is not None:
        body["fields"] = fields
    return JSONResponse(body, status_code=status, headers=headers)


def _field_path(loc: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(body)"


def _api_actor(tokens: tuple[str, ...], request: Request) -> Actor | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    for known in tokens:
        if hmac.compare_digest(token.encode(), known.encode()):
            # Audit who called without ever storing the token itself.
            return Actor(ActorType.API, "token:" + hashlib.sha256(known.encode()).hexdigest()[:12], None, "api")
    return None


def _unauthorized() -> JSONResponse:
    return _error(
        401, "unauthorized", "send Authorization: Bearer <HITL_API_TOKEN>", headers={"WWW-Authenticate": "Bearer"}
    )


async def read_json_object(request: Request) -> dict[str, Any] | JSONResponse:
    """The body as a JSON object, or the 4xx answer that says what is wrong with it."""
    if not strict_json.media_type_ok(request.headers.get("content-type")):
        return _error(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
    try:
        raw = strict_json.parse(await read_capped(request, MAX_BODY_BYTES))
    except TooLarge:
        return _error(413, "too_large", f"the body is over {MAX_BODY_BYTES:,} bytes")
    except strict_json.NotJson:
        return _error(400, "invalid_json", "the body is not valid JSON (UTF-8, one object)")
    except strict_json.Refused as exc:
        fields = [{"field": _field_path(p.path), "message": p.message} for p in exc.problems[:50]]
        return _error(422, "validation_failed", f"{len(exc.problems)} value(s) are not accepted", fields)
    if not isinstance(raw, dict):
        return _error(
            422,
            "validation_failed",
            "the body must be a JSON object",
            [{"field": "(body)", "message": "expected an object"}],
        )
    return raw


def _wait_seconds(text: str | None) -> float:
    """`?wait=30s` (or `2m`, or plain seconds): how long to hold the request for a decision, 0 without."""
    if not text:
        return 0.0
    try:
        seconds = float(text) if text.replace(".", "", 1).isdigit() else parse_duration(text).total_seconds()
    except (ValueError, OverflowError):
        raise ValueError("a duration like 30s or 1m") from None
    if not 0 <= seconds <= 3600:
        raise ValueError("between 0s and 1h (answers come after at most 55 s; ask again)")
    return seconds


def _unsettled(status: dict[str, Any]) -> bool:
    return status["status"] == "pending" and status["unhandled_at"] is None


@dataclass(frozen=True)
class ApiServices:
    """What the HTTP routes use (Starlette's `app.state.api`)."""

    api_tokens: tuple[str, ...]
    clock: Clock
    statuses: CaseStatuses
    ingest: Ingest
    board: KillSwitchBoard
    waiters: DecisionWaiters


def api_services(request: Request) -> ApiServices:
    found = request.app.state.api
    assert isinstance(found, ApiServices)
    return found


def _parse_escalation(raw: dict[str, Any], now: datetime) -> Escalation | JSONResponse:
    bad_strings = unstorable_strings(raw)
    if bad_strings:
        fields = [
            {"field": _field_path(path), "message": "contains a NUL character or an unpaired surrogate"}
            for path in bad_strings[:50]
        ]
        return _error(422, "validation_failed", "some strings cannot be stored", fields)
    try:
        return Escalation.model_validate(raw, context={"new": NewInput(now)})
    except ValidationError as exc:
        fields = [
            {"field": _field_path(err["loc"]), "message": err["msg"].removeprefix("Value error, ")}
            for err in exc.errors(include_url=False)
        ]
        return _error(422, "validation_failed", f"{len(fields)} field(s) are invalid", fields)
    except RecursionError:
        return _error(
            422,
            "validation_failed",
            "the body is nested too deeply",
            [{"field": "(body)", "message": "nested too deeply"}],
        )


async def create_escalation(request: Request) -> JSONResponse:
    api = api_services(request)
    actor = _api_actor(api.api_tokens, request)
    if actor is None:
        return _unauthorized()
    raw = await read_json_object(request)
    if isinstance(raw, JSONResponse):
        return raw
    escalation = _parse_escalation(raw, api.clock.now())
    if isinstance(escalation, JSONResponse):
        return escalation
    try:
        result = await api.ingest.receive(raw, escalation, actor)
    except Unacceptable as exc:
        return _error(422, "validation_failed", exc.summary, [{"field": exc.field, "message": str(exc)}])
    except NoRoute as exc:
        return _error(
            422,
            "no_route",
            str(exc),
            [{"field": "skill", "message": "no queue matches skill/risk_level/tenant_id/language"}],
        )
    except CaseConflict as exc:
        return _error(
            409, "conflict", str(exc), [{"field": "case_id", "message": "already used for a different escalation"}]
        )
    case = result.case
    body = {
        "case_id": case.case_id,
        "status": case.status,
        "queue": case.queue,
        "tier": case.tier,
        "channel": case.channel,
        "automation": result.automation.to_json(detail=False),
    }
    return JSONResponse(body, status_code=201 if result.created else 200)


async def get_killswitch(request: Request) -> JSONResponse:
    """Served from memory: the LLM system may ask before every request."""
    api = api_services(request)
    if _api_actor(api.api_tokens, request) is None:
        return _unauthorized()
    params = request.query_params
    if not any(k in params for k in ("tenant", "model", "skill", "queue")):
        return JSONResponse({"active": [s.to_json() for s in api.board.switches]})
    context = {k: params.get(k) for k in ("tenant", "model", "skill", "queue")}
    return JSONResponse(api.board.evaluate(context).to_json())


async def get_escalation(request: Request) -> JSONResponse:
    api = api_services(request)
    if _api_actor(api.api_tokens, request) is None:
        return _unauthorized()
    case_id = request.path_params["case_id"]
    problem = case_id_problem(case_id)
    if problem:
        # Refuse what ingest refuses: no spelling of a path reaches a case under another name.
        return _error(422, "validation_failed", "not a valid case_id", [{"field": "case_id", "message": problem}])
    try:
        wait = _wait_seconds(request.query_params.get("wait"))
    except ValueError as exc:
        return _error(422, "validation_failed", "not a valid wait", [{"field": "wait", "message": str(exc)}])
    async with api.waiters.watch(case_id) as settled:
        status = await api.statuses.get(case_id)
        if status is not None and wait and _unsettled(status) and await settled(wait):
            status = await api.statuses.get(case_id)
    if status is None:
        return _error(404, "not_found", "no case with that case_id")
    return JSONResponse(status)


async def healthz(request: Request) -> JSONResponse:
    problem = await api_services(request).statuses.database_problem()
    if problem is not None:
        return JSONResponse({"ok": False, "database": problem}, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse({"ok": True})


ROUTES = [
    Route("/v1/escalations", create_escalation, methods=["POST"]),
    Route("/v1/escalations/{case_id:path}", get_escalation, methods=["GET"]),
    Route("/v1/killswitch", get_killswitch, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
]
