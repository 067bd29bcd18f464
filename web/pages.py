"""The three faces as server-rendered pages: the device, the clinician, the manager, officers.

Each page is a jinja2 shell (autoescaped) that carries its strings in one
language and loads a plain JavaScript module from `/static/`; the module talks
to the JSON API. Templates and strings are read once, off the event loop, by
`load_pages` at start-up, so a request never touches the disk for them.

The language of a page is the signed-in account's saved choice, else the
`tc_lang` cookie a signed-out visitor chose, else English.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any

import jinja2
from aiohttp import web

from core.clinical import ClinicalRecord
from core.errors import Code, ServiceError
from core.identity import Role
from core.identity.types import STAFF_ROLES
from core.permissions import Permission
from web.auth import authenticate, ensure_csrf_cookie, require
from web.middleware import SESSION_COOKIE
from web.openapi import STR, obj, op
from web.request import json_response, read_json
from web.state import CLOCK, IDENTITY, PEOPLE, SCHEDULING, SETTINGS

HERE = Path(__file__).parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
I18N_DIR = HERE / "i18n"
LOCALES = ("en", "cy")
LANG_COOKIE = "tc_lang"


STATIC_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".wav": "audio/wav",
}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


@dataclass(frozen=True)
class Pages:
    """Everything a page needs, loaded once."""

    env: jinja2.Environment
    strings: dict[str, dict[str, str]]
    static: dict[str, StaticFile]

    def render(self, name: str, locale: str, **context: Any) -> str:
        strings = self.strings[locale]
        template = self.env.get_template(name)
        return template.render(
            t=strings,
            locale=locale,
            other_locale="cy" if locale == "en" else "en",
            strings_json=strings,
            **context,
        )


PAGES = web.AppKey("pages", Pages)


def _read_assets() -> Pages:
    sources = {
        str(path.relative_to(TEMPLATE_DIR)): path.read_text("utf-8")
        for path in TEMPLATE_DIR.rglob("*.html")
    }
    strings = {
        locale: json.loads((I18N_DIR / f"{locale}.json").read_text("utf-8")) for locale in LOCALES
    }
    missing = set(strings["en"]) ^ set(strings["cy"])
    if missing:
        raise RuntimeError(f"en.json and cy.json differ in keys: {sorted(missing)[:5]}")
    static = {
        str(path.relative_to(STATIC_DIR)): StaticFile(
            body=(body := path.read_bytes()),
            content_type=STATIC_TYPES[path.suffix],
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        )
        for path in sorted(STATIC_DIR.rglob("*"))
        if path.is_file() and path.suffix in STATIC_TYPES
    }
    env = jinja2.Environment(
        loader=jinja2.DictLoader(sources),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    for name in sources:
        env.get_template(name)
    return Pages(env=env, strings=strings, static=static)


_LOADED: dict[tuple[tuple[str, int, int], ...], Pages] = {}


def _on_disk() -> tuple[tuple[str, int, int], ...]:
    """Each asset file's path, modification time and size."""
    found = []
    for path in sorted(p for d in (TEMPLATE_DIR, STATIC_DIR, I18N_DIR) for p in d.rglob("*")):
        info = path.stat()
        if S_ISREG(info.st_mode):
            found.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(found)


def _current_assets() -> Pages:
    """The assets as they are on disk now, read and compiled again only if a file changed
    since they last were: a process that starts several apps (the tests start one each, a
    few nodes in some) compiled every template each time, a fifth of a second of CPU."""
    key = _on_disk()
    found = _LOADED.get(key)
    if found is None:
        found = _read_assets()
        _LOADED.clear()
        _LOADED[key] = found
    return found


async def load_pages(app: web.Application) -> AsyncIterator[None]:
    app[PAGES] = await asyncio.to_thread(_current_assets)
    yield


routes = web.RouteTableDef()


@routes.get("/static/{path:.+}")
async def static(request: web.Request) -> web.Response:
    """Our scripts and stylesheet, from memory: only files that were there at start-up."""
    found = request.app[PAGES].static.get(request.match_info["path"])
    if found is None:
        raise ServiceError(Code.NOT_FOUND)
    headers = {"ETag": found.etag, "Cache-Control": "no-cache"}
    if request.headers.get("If-None-Match") == found.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=found.body, content_type=found.content_type, headers=headers)


async def _locale(request: web.Request) -> str:
    """The signed-in account's language, else the visitor's cookie, else English."""
    if SESSION_COOKIE in request.cookies:
        try:
            principal = await authenticate(request)
            account = await request.app[IDENTITY].account(principal.account_id)
        except ServiceError:
            account = None
        if account is not None and account.locale in LOCALES:
            return account.locale
    chosen = request.cookies.get(LANG_COOKIE, "en")
    return chosen if chosen in LOCALES else "en"


async def page(request: web.Request, template: str, face: str, **context: Any) -> web.Response:
    locale = await _locale(request)
    html = request.app[PAGES].render(
        template,
        locale,
        face=face,
        now=request.app[CLOCK].now().isoformat(),
        timezone=request.app[SETTINGS].default_timezone,
        **context,
    )
    response = web.Response(text=html, content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    ensure_csrf_cookie(request, response)
    return response


@routes.get("/favicon.ico")
async def favicon(request: web.Request) -> web.Response:
    """Browsers ask for it on every origin; the same icon the pages link to."""
    icon = request.app[PAGES].static["img/icon.svg"]
    return web.Response(body=icon.body, content_type=icon.content_type, headers={"ETag": icon.etag})


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    return await page(request, "index.html", "index")


@routes.get("/device")
async def device(request: web.Request) -> web.Response:
    return await page(request, "device.html", "device")


@routes.get("/clinician")
async def clinician(request: web.Request) -> web.Response:
    return await page(request, "clinician.html", "clinician")


@routes.get("/attend")
async def attend(request: web.Request) -> web.Response:
    """Interpreters, chaperones and officers: the consults they are invited to, and the call."""
    return await page(request, "attend.html", "attend")


@routes.get("/manager")
async def manager(request: web.Request) -> web.Response:
    return await page(request, "manager.html", "manager")


@routes.get("/staff")
async def staff(request: web.Request) -> web.Response:
    return await page(request, "staff.html", "staff")


@routes.get("/governor")
async def governor(request: web.Request) -> web.Response:
    """Governors: communications restrictions awaiting a second person's confirmation."""
    return await page(request, "governor.html", "governor")


@routes.get("/admin/jobs")
async def admin_jobs(request: web.Request) -> web.Response:
    """The job runner for admins (web/admin_jobs.py serves its API)."""
    return await page(request, "admin_jobs.html", "admin_jobs")


@routes.get("/admin")
async def admin(request: web.Request) -> web.Response:
    """Roles an admin may give: staff roles only (a community account comes from a claim)."""
    roles = [r.value for r in Role if r in STAFF_ROLES]
    return await page(request, "admin.html", "admin", roles=roles)


@routes.get("/verify-email")
async def verify_email(request: web.Request) -> web.Response:
    """The page an email verification link opens; the token is in the fragment."""
    return await page(request, "verify_email.html", "verify_email")


@routes.get("/people")
async def people(request: web.Request) -> web.Response:
    """Officers and admins: wings, cells, devices, and where each prisoner is (people.js)."""
    # The prisoner's letter is in their language, which may not be the officer's.
    strings = request.app[PAGES].strings
    letter = {
        locale: {k: v for k, v in words.items() if k.startswith(("letter.", "date."))}
        for locale, words in strings.items()
    }
    return await page(request, "people.html", "people", letter_strings=letter)


@routes.post("/api/me/locale")
async def set_locale(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SELF)
    body = await read_json(request)
    locale = body.get("locale")
    if locale not in LOCALES:
        raise ServiceError(Code.INVALID_REQUEST, "The language is en or cy.")
    await request.app[IDENTITY].set_locale(principal, str(locale))
    return json_response({"locale": locale})


@routes.post("/api/auth/socket-token")
async def socket_token(request: web.Request) -> web.Response:
    """The page's access token, for the signalling `hello`.

    Browser pages hold their session in an HttpOnly cookie, but the WebSocket
    protocol authenticates with a token in its first message (never in a URL).
    This hands the cookie's own short-lived token to our page's script; the
    CSRF check on this POST keeps other sites from asking for it.
    """
    principal = await require(request, Permission.SELF)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise ServiceError(Code.UNAUTHENTICATED)
    return json_response({"token": token, "account_id": principal.account_id})


@routes.get("/api/appointments/{appointment_id}/patient")
async def appointment_patient(request: web.Request) -> web.Response:
    """Who the clinician is about to see: name and prison number, to confirm identity,
    and the date of birth and whether a photo is on file (`/patient/photo`).

    Only the appointment's own clinician, or a manager or admin of its
    establishment (the scheduling service checks the establishment). The date
    of birth and photo follow `core.clinical`'s rule (`core.people.details`):
    an admin gets the name and number only (`identity_details: withheld`).
    """
    principal = await require(request, Permission.PATIENTS_IDENTIFY)
    appointment = await request.app[SCHEDULING].appointment(
        principal, request.match_info["appointment_id"], clinical=False
    )
    if principal.role == Role.CLINICIAN and appointment.clinician_id != principal.account_id:
        raise ServiceError(Code.FORBIDDEN)
    account = await request.app[IDENTITY].account(appointment.prisoner_id)
    if account is None:
        raise ServiceError(Code.NOT_FOUND)
    check = await request.app[PEOPLE].details.for_check(
        principal,
        ClinicalRecord(
            appointment.establishment_id, appointment.prisoner_id, appointment.clinician_id
        ),
    )
    return json_response(
        {
            "prisoner_id": account.id,
            "display_name": account.display_name,
            "prison_number": account.prison_number,
            "identity_details": "shown" if check.shown else "withheld",
            "date_of_birth": check.date_of_birth.isoformat() if check.date_of_birth else None,
            "photo": check.has_photo,
        }
    )


OPENAPI = {
    "/api/appointments/{appointment_id}/patient": {
        "get": op(
            "The patient of an appointment, for its clinician to confirm identity",
            tag="scheduling",
            permission=Permission.PATIENTS_IDENTIFY,
            parameters=[{"name": "appointment_id", "in": "path", "required": True, "schema": STR}],
            result=obj(
                prisoner_id=STR,
                display_name=STR,
                prison_number=STR,
                identity_details={"enum": ["shown", "withheld"]},
                date_of_birth={"type": ["string", "null"], "format": "date"},
                photo={"type": "boolean"},
            ),
            errors=(401, 403, 404),
        )
    },
    "/api/auth/socket-token": {
        "post": op(
            "A cookie session's access token, for the WebSocket hello (same-origin pages only)",
            tag="auth",
            permission=Permission.SELF,
            result=obj(token=STR, account_id=STR),
            errors=(401, 403),
        )
    },
    "/api/me/locale": {
        "post": op(
            "Remember the signed-in account's language (en or cy)",
            tag="auth",
            permission=Permission.SELF,
            body=obj(["locale"], locale={"type": "string", "enum": list(LOCALES)}),
            result=obj(locale=STR),
            errors=(400, 401),
        )
    },
}
