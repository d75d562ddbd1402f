"""`@require_approval`: a function (or an agent's tool) runs only with arguments a human approved."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic_core import to_jsonable_python

from hitl_client.client import AsyncHitlClient, HitlClient
from hitl_client.errors import UnexpectedDecision
from hitl_client.models import Approval

F = TypeVar("F", bound=Callable[..., Any])


def require_approval(
    client: HitlClient | AsyncHitlClient,
    *,
    reason: str | None = None,
    skill: str | None = None,
    risk_level: str | None = None,
    timeout: float | None = None,
    action: str | None = None,
    **fields: Any,
) -> Callable[[F], F]:
    """Each call proposes `{action: the function's name, args: its arguments}` and waits for a reviewer.

    Approved: the function runs with the arguments as approved (a reviewer's edits included). Rejected:
    `hitl_client.Rejected` is raised and the function does not run. Async functions need an `AsyncHitlClient`,
    plain ones a `HitlClient`. `fields` are sent with each escalation (e.g. `tenant_id`, `signals`)."""

    def decorate(fn: F) -> F:
        name = action or fn.__name__
        signature = inspect.signature(fn)
        why = reason or f"{name} needs a human's approval"
        options = {"skill": skill, "risk_level": risk_level, "timeout": timeout, **fields}
        if inspect.iscoroutinefunction(fn):
            if not isinstance(client, AsyncHitlClient):
                raise TypeError(f"@require_approval on async {fn.__qualname__} needs an AsyncHitlClient")

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                proposed = _proposed_args(signature, args, kwargs)
                approval = await client.request_approval(
                    name, to_jsonable_python(proposed, fallback=str), reason=why, **options
                )
                call_args, call_kwargs = _approved_call(signature, name, proposed, approval)
                return await fn(*call_args, **call_kwargs)

            return run_async  # type: ignore[return-value]
        if not isinstance(client, HitlClient):
            raise TypeError(
                f"@require_approval on {fn.__qualname__} needs a HitlClient (AsyncHitlClient is for async functions)"
            )

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            proposed = _proposed_args(signature, args, kwargs)
            approval = client.request_approval(name, to_jsonable_python(proposed, fallback=str), reason=why, **options)
            call_args, call_kwargs = _approved_call(signature, name, proposed, approval)
            return fn(*call_args, **call_kwargs)

        return run  # type: ignore[return-value]

    return decorate


def _proposed_args(signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Every argument by name, defaults included, so the reviewer sees the whole call; **kwargs flattened."""
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    proposed: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            proposed.update(value)
        else:
            proposed[name] = value
    return proposed


def _approved_call(
    signature: inspect.Signature, name: str, proposed: dict[str, Any], approval: Approval
) -> tuple[list[Any], dict[str, Any]]:
    if approval.action != name:
        raise UnexpectedDecision(
            approval.case_id,
            approval.decision,
            f"the reviewer changed the action to {approval.action!r}, so {name} was not run",
        )
    # Unchanged: the original Python objects, not their JSON copies. Edited: the reviewer's JSON values.
    values = approval.args if approval.edited else proposed
    values = dict(values)
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    in_order = True  # positional until a parameter is missing, then by name
    for param in signature.parameters.values():
        if param.name not in values:
            in_order = in_order and param.kind not in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            )
            continue
        value = values.pop(param.name)
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            positional.extend(value if in_order else ())
        elif param.kind is inspect.Parameter.POSITIONAL_ONLY or (
            param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and in_order
        ):
            positional.append(value)
        else:
            keywords[param.name] = value
    keywords.update(values)  # the rest belonged to **kwargs
    return positional, keywords
