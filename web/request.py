"""Reading untrusted request bodies."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from core.errors import Code, ServiceError

MAX_DEPTH = 16


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


async def read_json(request: web.Request) -> dict[str, Any]:
    """A JSON object from the body, or a clear refusal. Size is capped by the app."""
    if request.content_type != "application/json":
        raise ServiceError(Code.UNSUPPORTED_MEDIA_TYPE)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ServiceError(Code.BODY_TOO_LARGE) from None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ServiceError(Code.MALFORMED_JSON) from None
    if not isinstance(body, dict):
        raise ServiceError(Code.INVALID_REQUEST, "The body must be a JSON object.")
    if _depth(body) > MAX_DEPTH:
        raise ServiceError(Code.INVALID_REQUEST, "The body is nested too deeply.")
    return body


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(data, default=str).encode(), content_type="application/json"
    )
