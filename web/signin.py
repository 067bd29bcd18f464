"""Sign-in, token refresh, sign-out and device enrolment endpoints."""

from __future__ import annotations

from aiohttp import web

from core.errors import Code, ServiceError
from core.identity import SignInResult
from core.permissions import Permission, permissions_of
from web.auth import (
    clear_session_cookies,
    device_credential,
    require,
    set_session_cookies,
    sign_in_body,
)
from web.middleware import REFRESH_COOKIE
from web.openapi import DATETIME, STR, obj, op
from web.request import json_response, read_json
from web.state import IDENTITY

routes = web.RouteTableDef()


def _wants_cookie(body: dict[str, object]) -> bool:
    mode = body.get("session", "token")
    if mode not in ("token", "cookie"):
        raise ServiceError(Code.INVALID_REQUEST, "session is token or cookie.")
    return mode == "cookie"


def _signed_in(request: web.Request, body: dict[str, object], result: SignInResult) -> web.Response:
    if _wants_cookie(body):
        response = json_response(
            {
                "account_id": result.principal.account_id,
                "role": result.principal.role.value,
                "establishment_id": result.principal.establishment_id,
                "expires_at": result.access.expires_at.isoformat(),
            }
        )
        csrf = set_session_cookies(request, response, result)
        response.headers["X-CSRF-Token"] = csrf
        return response
    return json_response(sign_in_body(result))


@routes.post("/api/auth/staff")
async def sign_in_staff(request: web.Request) -> web.Response:
    body = await read_json(request)
    _wants_cookie(body)
    result = await request.app[IDENTITY].sign_in_staff(
        body.get("username"), body.get("password"), body.get("totp")
    )
    return _signed_in(request, body, result)


@routes.post("/api/auth/prisoner")
async def sign_in_prisoner(request: web.Request) -> web.Response:
    body = await read_json(request)
    _wants_cookie(body)
    credential = device_credential(request) or body.get("device_credential")
    result = await request.app[IDENTITY].sign_in_prisoner(
        credential, body.get("prison_number"), body.get("pin")
    )
    return _signed_in(request, body, result)


@routes.post("/api/auth/refresh")
async def refresh(request: web.Request) -> web.Response:
    cookie = request.cookies.get(REFRESH_COOKIE)
    if cookie is not None and request.content_length in (None, 0):
        result = await request.app[IDENTITY].refresh(cookie)
        return _signed_in(request, {"session": "cookie"}, result)
    body = await read_json(request)
    result = await request.app[IDENTITY].refresh(body.get("refresh_token"))
    return _signed_in(request, body, result)


@routes.post("/api/auth/sign-out")
async def sign_out(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SELF)
    await request.app[IDENTITY].sign_out(principal)
    response = web.Response(status=204)
    clear_session_cookies(response)
    return response


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SELF)
    account = await request.app[IDENTITY].account(principal.account_id)
    if account is None:
        raise ServiceError(Code.SESSION_REVOKED)
    return json_response(
        {
            "account_id": account.id,
            "role": account.role.value,
            # Where this session acts (chosen on the desk among those served) ...
            "establishment_id": principal.establishment_id,
            # ... and the account's home establishment.
            "home_establishment_id": account.establishment_id,
            "permissions": sorted(p.value for p in permissions_of(principal.role)),
            "display_name": account.display_name,
            "locale": account.locale,
            "device_id": principal.device_id,
        }
    )


@routes.post("/api/devices")
async def start_enrolment(request: web.Request) -> web.Response:
    principal = await require(request, Permission.DEVICES_MANAGE)
    body = await read_json(request)
    establishment_id = body.get("establishment_id", principal.establishment_id)
    if not isinstance(establishment_id, str):
        raise ServiceError(Code.INVALID_REQUEST, "establishment_id is required.")
    enrolment = await request.app[IDENTITY].devices.start_enrolment(
        principal,
        establishment_id,
        body.get("cell"),
    )
    return json_response(
        {
            "device_id": enrolment.device_id,
            "enrolment_code": enrolment.code,
            "expires_at": enrolment.expires_at.isoformat(),
        },
        status=201,
    )


@routes.post("/api/devices/enrol")
async def complete_enrolment(request: web.Request) -> web.Response:
    body = await read_json(request)
    device, credential = await request.app[IDENTITY].devices.complete_enrolment(body.get("code"))
    return json_response(
        {
            "device_id": device.id,
            "device_credential": credential,
            "establishment_id": device.establishment_id,
            "cell": device.cell,
        },
        status=201,
    )


@routes.get("/api/devices/me")
async def device_me(request: web.Request) -> web.Response:
    device = await request.app[IDENTITY].devices.authenticate_device(device_credential(request))
    establishment = await request.app[IDENTITY].establishment(device.establishment_id)
    return json_response(
        {
            "device_id": device.id,
            "establishment_id": device.establishment_id,
            "establishment_name": establishment.name if establishment else None,
            "cell": device.cell,
        }
    )


@routes.delete("/api/devices/{device_id}")
async def revoke_device(request: web.Request) -> web.Response:
    principal = await require(request, Permission.DEVICES_MANAGE)
    await request.app[IDENTITY].devices.revoke_device(principal, request.match_info["device_id"])
    return web.Response(status=204)


@routes.post("/api/accounts/{account_id}/disable")
async def disable_account(request: web.Request) -> web.Response:
    principal = await require(request, Permission.ACCOUNTS_DISABLE)
    await request.app[IDENTITY].disable_account(principal, request.match_info["account_id"])
    return web.Response(status=204)


_TOKENS = obj(
    ["access_token", "token_type", "expires_at", "refresh_token", "role"],
    access_token=STR,
    token_type=STR,
    expires_at=DATETIME,
    refresh_token=STR,
    refresh_expires_at=DATETIME,
    account_id=STR,
    role=STR,
    establishment_id=STR,
)
_SESSION = {"type": "string", "enum": ["token", "cookie"]}

OPENAPI = {
    "/api/auth/staff": {
        "post": op(
            "Staff sign-in with password and TOTP",
            tag="auth",
            auth=None,
            body=obj(
                ["username", "password", "totp"],
                username=STR,
                password=STR,
                totp={"type": "string", "pattern": "^[0-9]{6}$"},
                session=_SESSION,
            ),
            result=_TOKENS,
            errors=(400, 401, 413, 415, 423),
        )
    },
    "/api/auth/prisoner": {
        "post": op(
            "Prisoner sign-in with prison number and PIN, on an enrolled device",
            tag="auth",
            auth="device",
            body=obj(
                ["prison_number", "pin"],
                prison_number={"type": "string", "pattern": "^[A-Z][0-9]{4}[A-Z]{2}$"},
                pin={"type": "string", "pattern": "^[0-9]{4,8}$"},
                device_credential=STR,
                session=_SESSION,
            ),
            result=_TOKENS,
            errors=(400, 401, 403, 413, 415, 423),
        )
    },
    "/api/auth/refresh": {
        "post": op(
            "Swap a refresh token for new tokens; a reused one ends the session",
            tag="auth",
            auth=None,
            body=obj(refresh_token=STR, session=_SESSION),
            result=_TOKENS,
            errors=(400, 401),
        )
    },
    "/api/auth/sign-out": {
        "post": op(
            "End this session; its open sockets close (4005)",
            tag="auth",
            permission=Permission.SELF,
            ok=204,
            errors=(401,),
        )
    },
    "/api/me": {
        "get": op(
            "The signed-in account, where it acts, and what its role permits",
            tag="auth",
            permission=Permission.SELF,
            result=obj(
                account_id=STR,
                role=STR,
                establishment_id=STR,
                home_establishment_id=STR,
                permissions={"type": "array", "items": STR},
                display_name=STR,
                locale=STR,
            ),
            errors=(401,),
        )
    },
    "/api/devices": {
        "post": op(
            "Register a device to a cell and get its one-time enrolment code (officer)",
            tag="devices",
            permission=Permission.DEVICES_MANAGE,
            body=obj(["cell"], cell=STR, establishment_id=STR),
            ok=201,
            result=obj(device_id=STR, enrolment_code=STR, expires_at=DATETIME),
        )
    },
    "/api/devices/enrol": {
        "post": op(
            "Exchange a one-time enrolment code for the device's credential",
            tag="devices",
            auth=None,
            body=obj(["code"], code=STR),
            ok=201,
            result=obj(device_id=STR, device_credential=STR, establishment_id=STR, cell=STR),
            errors=(400,),
        )
    },
    "/api/devices/me": {
        "get": op(
            "The device this credential belongs to",
            tag="devices",
            auth="device",
            result=obj(device_id=STR, establishment_id=STR, establishment_name=STR, cell=STR),
            errors=(401,),
        )
    },
    "/api/accounts/{account_id}/disable": {
        "post": op(
            "Disable an account (admin): it cannot sign in, and its sessions and sockets end",
            tag="auth",
            permission=Permission.ACCOUNTS_DISABLE,
            ok=204,
            parameters=[{"name": "account_id", "in": "path", "required": True, "schema": STR}],
            errors=(400, 401, 403, 404),
        )
    },
    "/api/devices/{device_id}": {
        "delete": op(
            "Revoke a device; its sessions end",
            tag="devices",
            permission=Permission.DEVICES_MANAGE,
            ok=204,
            parameters=[{"name": "device_id", "in": "path", "required": True, "schema": STR}],
            errors=(401, 403, 404),
        )
    },
}
