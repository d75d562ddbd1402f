"""Request bodies read with a cap: what the HTTP API and /slack/events both refuse before parsing anything."""

from __future__ import annotations

from starlette.requests import Request


class TooLarge(Exception):
    """The body is over the cap: declared so, or found so while reading. The rest of it is never read."""


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body, or `TooLarge` as soon as its declared Content-Length or the bytes read pass `limit`
    (a Content-Length that is not a plain number counts as too large: nothing could say how much is coming)."""
    declared = request.headers.get("content-length")
    if declared is not None and not (declared.isascii() and declared.isdigit() and int(declared) <= limit):
        raise TooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise TooLarge()
    return bytes(body)
