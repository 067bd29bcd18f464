"""Request ids, errors as problem+json, CSRF for cookie sessions, security headers."""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from core.db.engine import is_unavailable
from core.errors import Code, ServiceError
from web.logs import request_id
from web.problems import HTTP_STATUS_CODES, problem_response
from web.state import METRICS, SETTINGS

log = logging.getLogger("throughcare.web")

SESSION_COOKIE = "tc_access"
REFRESH_COOKIE = "tc_refresh"
CSRF_COOKIE = "tc_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-Id", "")
    rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    token = request_id.set(rid)
    started = time.perf_counter()
    route = "-"
    if request.match_info.route.resource is not None:
        route = request.match_info.route.resource.canonical
    try:
        response = await _handle_errors(request, handler, rid)
        response.headers["X-Request-Id"] = rid
        metrics = request.app[METRICS]
        metrics.http_requests.labels(request.method, route, str(response.status)).inc()
        metrics.http_seconds.labels(route).observe(time.perf_counter() - started)
        return response
    finally:
        request_id.reset(token)


_MACHINE_PREFIXES = ("/api/", "/fhir/", "/ws", "/calendar/", "/metrics", "/healthz", "/readyz")

_PAGE_WORDS = {
    404: ("This page does not exist.", "Nid yw'r dudalen hon yn bodoli."),
    405: ("This page does not exist.", "Nid yw'r dudalen hon yn bodoli."),
    401: ("Please sign in again.", "Mewngofnodwch eto, os gwelwch yn dda."),
    403: ("You cannot open this page.", "Ni allwch agor y dudalen hon."),
    500: (
        "Something went wrong. Please try again, or ask a member of staff.",
        "Aeth rhywbeth o'i le. Rhowch gynnig arall arni, neu gofynnwch i aelod o staff.",
    ),
}


def _wants_page(request: web.Request) -> bool:
    """A person's browser navigating to a page gets words, not problem+json."""
    return (
        request.method == "GET"
        and not request.path.startswith(_MACHINE_PREFIXES)
        and "text/html" in request.headers.get("Accept", "")
    )


def _error_page(status: int, rid: str) -> web.Response:
    english, welsh = _PAGE_WORDS.get(status, _PAGE_WORDS[500])
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>Throughcare</title><link rel="stylesheet" href="/static/css/throughcare.css">'
        '</head><body><main class="page"><h1>Throughcare</h1>'
        f'<p>{english}</p><p lang="cy">{welsh}</p>'
        '<p><a href="/">Home</a> &middot; <a href="/" lang="cy">Hafan</a></p>'
        f'<p class="muted">Reference / Cyfeirnod: {rid[:8]}</p></main></body></html>'
    )
    return web.Response(status=status, text=body, content_type="text/html")


async def _handle_errors(request: web.Request, handler: Handler, rid: str) -> web.StreamResponse:
    response = await _to_problem(request, handler, rid)
    if (
        response.status >= 400
        and isinstance(response, web.Response)
        and response.content_type == "application/problem+json"
        and _wants_page(request)
    ):
        return _error_page(response.status if response.status in _PAGE_WORDS else 500, rid)
    return response


async def _to_problem(request: web.Request, handler: Handler, rid: str) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServiceError as error:
        if error.code.status >= 500 or error.debug_context:
            log.info(
                "refused",
                extra={
                    "code": error.code.slug,
                    **{f"ctx_{k}": v for k, v in error.debug_context.items()},
                },
            )
        return problem_response(error, rid)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = HTTP_STATUS_CODES.get(exc.status, Code.INVALID_REQUEST)
        response = problem_response(ServiceError(code), rid)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception as exc:
        if is_unavailable(exc):
            # Loud, but not a fault of ours: one line, no trace, and the client retries.
            log.warning("store unavailable", extra={"error": type(exc).__name__})
            return problem_response(ServiceError(Code.STORE_UNAVAILABLE), rid)
        log.exception("unhandled error")
        return problem_response(ServiceError(Code.INTERNAL), rid)


@web.middleware
async def csrf_protection(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Cookie sessions must prove the request came from our own page.

    A request authenticated by a bearer token is not sent by a browser on its
    own, so needs no check. One that carries the session cookie must send the
    CSRF cookie's value in a header (double submit), and its Origin, if any,
    must be one of ours.
    """
    if (
        request.method not in SAFE_METHODS
        and (SESSION_COOKIE in request.cookies or REFRESH_COOKIE in request.cookies)
        and not request.headers.get("Authorization")
    ):
        settings = request.app[SETTINGS]
        origin = request.headers.get("Origin")
        if origin is not None and origin not in settings.public_origins:
            raise ServiceError(Code.CSRF_FAILED)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        header = request.headers.get(CSRF_HEADER, "")
        if not cookie or not secrets.compare_digest(cookie.encode(), header.encode()):
            raise ServiceError(Code.CSRF_FAILED)
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(self), microphone=(self), geolocation=(), usb=()"
    if request.path.startswith("/api/") or request.path.startswith("/fhir/"):
        headers["Cache-Control"] = "no-store"
    if request.app[SETTINGS].cookie_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
