"""Who is calling: a bearer token, or the session cookie of a signed-in page."""

from __future__ import annotations

import secrets

from aiohttp import web

from core.errors import Code, ServiceError
from core.identity import Principal, SignInResult
from core.permissions import Permission, require_permission
from web.middleware import CSRF_COOKIE, REFRESH_COOKIE, SESSION_COOKIE
from web.state import IDENTITY, SETTINGS


async def authenticate(request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    token: str | None = None
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ServiceError(Code.INVALID_TOKEN)
        token = value.strip()
    else:
        token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise ServiceError(Code.UNAUTHENTICATED)
    return await request.app[IDENTITY].authenticate(token)


async def require(request: web.Request, permission: Permission) -> Principal:
    """Authenticate, then refuse (403) anyone whose role does not hold the permission.

    The route's OpenAPI operation names the same permission (`op(permission=...)`),
    which lists the roles holding it as `x-roles`; `tests/web/test_permissions.py`
    calls every route as every role and checks the two agree.
    """
    principal = await authenticate(request)
    require_permission(principal, permission)
    return principal


def device_credential(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "device" and value.strip():
        return value.strip()
    return None


def sign_in_body(result: SignInResult) -> dict[str, object]:
    return {
        "access_token": result.access.token,
        "token_type": "Bearer",
        "expires_at": result.access.expires_at.isoformat(),
        "refresh_token": result.refresh_token,
        "refresh_expires_at": result.refresh_expires_at.isoformat(),
        "account_id": result.principal.account_id,
        "role": result.principal.role.value,
        "establishment_id": result.principal.establishment_id,
    }


def set_session_cookies(request: web.Request, response: web.Response, result: SignInResult) -> str:
    """Browser pages keep tokens in HttpOnly cookies; scripts only see the CSRF token."""
    secure = request.app[SETTINGS].cookie_secure
    csrf = secrets.token_urlsafe(24)

    response.set_cookie(
        SESSION_COOKIE,
        result.access.token,
        httponly=True,
        samesite="Strict",
        secure=secure,
        path="/",
        max_age=int(request.app[SETTINGS].access_token_seconds),
    )
    response.set_cookie(
        REFRESH_COOKIE,
        result.refresh_token,
        httponly=True,
        samesite="Strict",
        secure=secure,
        path="/api/auth/",
        max_age=int(request.app[SETTINGS].refresh_token_seconds),
    )
    _set_csrf(request, response, csrf)
    return csrf


def _set_csrf(request: web.Request, response: web.StreamResponse, value: str) -> None:
    """The CSRF cookie lives as long as the session it protects (the refresh cookie).

    It was a session cookie while the access and refresh cookies persisted: a
    kiosk or browser restart dropped it, and every POST, the token refresh
    among them, was refused `csrf_failed` until the person signed in again.
    """
    settings = request.app[SETTINGS]
    response.set_cookie(
        CSRF_COOKIE,
        value,
        samesite="Strict",
        secure=settings.cookie_secure,
        path="/",
        max_age=int(settings.refresh_token_seconds),
    )


def ensure_csrf_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """A page load re-issues the CSRF cookie if the browser has none.

    Double submit needs only a value our own page can read and send back; one
    set by our origin on a page it serves is as good as the one set at sign-in.
    """
    if not request.cookies.get(CSRF_COOKIE):
        _set_csrf(request, response, secrets.token_urlsafe(24))


def clear_session_cookies(response: web.Response) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(REFRESH_COOKIE, path="/api/auth/")
    response.del_cookie(CSRF_COOKIE, path="/")
