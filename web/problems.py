"""The one place a `ServiceError` becomes an HTTP response (RFC 9457 problem+json)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from core.errors import Code, ServiceError

PROBLEM_TYPE = "application/problem+json"
RETRY_AFTER_S = 5
"""Told to clients with every 503: about how long a store restart or a failover takes."""


def problem_response(error: ServiceError, request_id: str) -> web.Response:
    code = error.code
    body: dict[str, Any] = {
        "type": f"https://throughcare.invalid/problems/{code.slug}",
        "title": code.message,
        "status": code.status,
        "code": code.slug,
        "request_id": request_id,
    }
    if error.detail:
        body["detail"] = error.detail
    body.update({k: v for k, v in error.extra.items() if k not in body})
    headers = {}
    if code.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="throughcare"'
    if code.status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_S)
    if code.status == 416 and isinstance(size := error.extra.get("size"), int):
        # RFC 9110 14.4: an unsatisfiable range answer says how long the representation is.
        headers["Content-Range"] = f"bytes */{size}"
    return web.Response(
        status=code.status,
        body=json.dumps(body).encode(),
        content_type=PROBLEM_TYPE,
        headers=headers,
    )


HTTP_STATUS_CODES: dict[int, Code] = {
    400: Code.INVALID_REQUEST,
    401: Code.UNAUTHENTICATED,
    403: Code.FORBIDDEN,
    404: Code.NOT_FOUND,
    405: Code.METHOD_NOT_ALLOWED,
    413: Code.BODY_TOO_LARGE,
    415: Code.UNSUPPORTED_MEDIA_TYPE,
    429: Code.RATE_LIMITED,
}
