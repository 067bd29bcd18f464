"""Interpreters on the web: inviting one for a language, and the page that accepts an
emailed invitation (scheduling/interpreters.py).

The invitation's code comes in the link's fragment or is typed; the page posts it in a
form body, never in an address. Accepting signs the new interpreter in and sends them
to `/attend`, where the appointment they were invited to is listed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from core.errors import Code, ServiceError
from core.fields import FieldCipher
from core.identity import Principal
from core.permissions import Permission
from scheduling.interpreters import ACCEPT_PATH, Interpreters
from scheduling.languages import LANGUAGES
from web.auth import authenticate, require
from web.community import _source
from web.middleware import SESSION_COOKIE
from web.openapi import DATETIME, STR, obj, op
from web.pages import LANG_COOKIE, page
from web.request import json_response, read_json
from web.scheduling_shared import ID, api_op, path_params
from web.signin import _SESSION, _TOKENS, _signed_in, _wants_cookie
from web.state import AUDIT, CLOCK, DATABASE, IDENTITY, KEYS, MAILER, SETTINGS, SUBJECT_KEYS

routes = web.RouteTableDef()

INTERPRETERS = web.AppKey("interpreters", Interpreters)


async def interpreters_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[INTERPRETERS] = Interpreters(
        app[DATABASE],
        cipher=FieldCipher(app[KEYS].field_key),
        subject_keys=app[SUBJECT_KEYS],
        clock=app[CLOCK],
        audit=app[AUDIT],
        mailer=app[MAILER],
        hasher=app[IDENTITY].hasher,
        link_base=settings.public_origins[0] if settings.public_origins else "",
    )
    yield


@routes.get(ACCEPT_PATH)
async def accept_page(request: web.Request) -> web.Response:
    """Type (or bring in the link) the invitation's code, add the key to an app, set a
    name, username and password."""
    return await page(request, "interpreter_accept.html", "interpreter_accept")


@routes.post("/api/appointments/{appointment_id}/interpreters")
async def invite(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPOINTMENTS_INVITE)
    body = await read_json(request)
    invited = await request.app[INTERPRETERS].invite(
        principal,
        request.match_info["appointment_id"],
        language=body.get("language"),
        account_id=body.get("account_id"),
        email=body.get("email"),
    )
    return json_response(
        {
            "invited": invited.kind,
            "language": invited.language,
            "account_id": invited.account_id,
            "invitation_id": invited.invitation_id,
            "expires_at": None if invited.expires_at is None else invited.expires_at.isoformat(),
        },
        status=201,
    )


@routes.post("/api/interpreter-invitations/start")
async def start(request: web.Request) -> web.Response:
    body = await read_json(request)
    enrolment = await request.app[INTERPRETERS].start(body.get("code"), source=_source(request))
    return json_response(
        {
            "totp_secret": enrolment.secret,
            "otpauth_uri": enrolment.uri,
            "expires_at": enrolment.expires_at.isoformat(),
            "language": enrolment.language,
            "appointment_id": enrolment.appointment_id,
            "starts_at": enrolment.starts_at.isoformat(),
            "ends_at": enrolment.ends_at.isoformat(),
        }
    )


async def _signed_in_as(request: web.Request) -> Principal | None:
    """Whoever is signed in, or None. A bearer token must be good; a page's session cookie
    that has expired or was ended counts as nobody (the person opening the invitation on a
    shared computer gets the form that makes their account, not a sign-in error)."""
    if request.headers.get("Authorization"):
        return await authenticate(request)
    if not request.cookies.get(SESSION_COOKIE):
        return None
    try:
        return await authenticate(request)
    except ServiceError as error:
        if error.code in (
            Code.INVALID_TOKEN,
            Code.UNAUTHENTICATED,
            Code.TOKEN_EXPIRED,
            Code.SESSION_REVOKED,
        ):
            return None
        raise


@routes.post("/api/interpreter-invitations/accept")
async def accept(request: web.Request) -> web.Response:
    """Anonymous: make the interpreter's account and sign in. Signed in (a bearer token or
    a page's session): accept for that account, which must be an interpreter's here."""
    body = await read_json(request)
    service = request.app[INTERPRETERS]
    principal = await _signed_in_as(request)
    if principal is not None:
        appointment_id = await service.accept_as(
            principal, body.get("code"), source=_source(request)
        )
        return json_response({"account_id": principal.account_id, "appointment_id": appointment_id})
    _wants_cookie(body)
    made = await service.accept(
        body.get("code"),
        display_name=body.get("display_name"),
        username=body.get("username"),
        password=body.get("password"),
        totp=body.get("totp"),
        source=_source(request),
        # The language the page was read in, which the new account keeps.
        locale=body.get("locale", request.cookies.get(LANG_COOKIE, "en")),
    )
    result = await request.app[IDENTITY].session_for(made)
    return _signed_in(request, body, result)


_CODE = {"type": "string", "maxLength": 64}
_LANGUAGE = {"enum": list(LANGUAGES)}

OPENAPI = {
    "/api/appointments/{appointment_id}/interpreters": {
        "post": api_op(
            "Invite an interpreter for a language: an interpreter's account directly, or an"
            " email address, sent a one-time invitation that makes an account",
            Permission.APPOINTMENTS_INVITE,
            body=obj(["language"], language=_LANGUAGE, account_id=ID, email=STR),
            result=obj(
                invited={"enum": ["account", "email"]},
                language=_LANGUAGE,
                account_id=ID,
                invitation_id=ID,
                expires_at=DATETIME,
            ),
            parameters=path_params("appointment_id"),
            ok=201,
            errors=(400, 401, 403, 404, 409, 502),
        )
    },
    "/api/interpreter-invitations/start": {
        "post": op(
            "Check an interpreter's invitation code and get a TOTP key for an authenticator app",
            tag="auth",
            auth=None,
            body=obj(["code"], code=_CODE),
            result=obj(
                totp_secret=STR,
                otpauth_uri=STR,
                expires_at=DATETIME,
                language=_LANGUAGE,
                appointment_id=ID,
                starts_at=DATETIME,
                ends_at=DATETIME,
            ),
            errors=(400, 409, 413, 415, 429),
        )
    },
    "/api/interpreter-invitations/accept": {
        "post": op(
            "Accept an interpreter's invitation: a new account (name, username, password, the"
            " app's code; signs in), or, signed in as an interpreter, for that account",
            tag="auth",
            auth=None,
            body=obj(
                ["code"],
                code=_CODE,
                display_name=STR,
                username=STR,
                password=STR,
                totp={"type": "string", "pattern": "^[0-9]{6}$"},
                locale={"enum": ["en", "cy"]},
                session=_SESSION,
            ),
            result=_TOKENS,
            errors=(400, 401, 403, 409, 413, 415, 429),
        )
    },
}
