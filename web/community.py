"""Community accounts on the web: the release step that issues a claim code, the public
claim page and its API, community sign-in, and the former prisoner's own pages.

The code is issued inside the release's one transaction (`release_step`, registered by
`web.interventions`): its claim id goes into the step's summary (audited, in the
release's answer), the code itself only into the release's `handout`, which the
officer's page prints on the prisoner's letter. The claim page takes it in a form
body, never in an address. See core/identity/community.py and docs/release.md.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.events import Action, AuditRecord
from core.identity.community import STEP
from scheduling.release_steps import ReleaseContext
from web.openapi import DATETIME, STR, obj, op
from web.pages import page
from web.request import json_response, read_json
from web.signin import _SESSION, _TOKENS, _signed_in, _wants_cookie
from web.state import AUDIT, IDENTITY

routes = web.RouteTableDef()

CLAIM_PATH = "/community/claim"


def release_step(app: web.Application) -> Any:
    """The release step: a one-time claim code for the prisoner's community account."""

    async def step(ctx: ReleaseContext) -> None:
        issued = await app[IDENTITY].issue_claim(
            ctx.conn, account_id=ctx.prisoner_id, actor_id=ctx.actor.account_id, now=ctx.now
        )
        expires = issued.expires_at.isoformat()
        ctx.summary[STEP] = {"claim_id": issued.claim_id, "expires_at": expires}
        ctx.handout[STEP] = {"code": issued.code, "expires_at": expires, "claim_path": CLAIM_PATH}

        async def audited() -> None:
            await app[AUDIT].append(
                AuditRecord(
                    action=Action.COMMUNITY_CODE_ISSUED,
                    actor=ctx.actor.account_id,
                    establishment=ctx.establishment_id,
                    subject=ctx.prisoner_id,
                    details={"claim": issued.claim_id, "expires_at": expires},
                )
            )

        ctx.after_commit.append(audited)

    return step


def _source(request: web.Request) -> str:
    """Where a claim comes from, for slowing guesses: behind the proxy, the one address
    it put in X-Forwarded-For (it drops any the client sent); else the peer's."""
    forwarded = request.headers.getall("X-Forwarded-For", [])
    address = forwarded[-1].split(",")[-1].strip() if forwarded else (request.remote or "")
    return str(request.app[IDENTITY].claim_source(address[:100]))


# ------------------------------------------------------------------ pages


@routes.get("/community")
async def home(request: web.Request) -> web.Response:
    """A former prisoner's own page: programmes to carry on, learning record, certificates."""
    return await page(request, "community/home.html", "community")


@routes.get(CLAIM_PATH)
async def claim_page(request: web.Request) -> web.Response:
    """Type the code from the release letter, add the key to an app, set email and password."""
    return await page(request, "community/claim.html", "community_claim")


@routes.get("/community/programmes")
async def programmes(request: web.Request) -> web.Response:
    """The programmes' sessions, as on the device, for a community account."""
    return await page(
        request,
        "interventions/programme_work.html",
        "programme_work",
        home="/community",
        role="community",
    )


# -------------------------------------------------------------------- API


@routes.post("/api/community/claim/start")
async def start(request: web.Request) -> web.Response:
    body = await read_json(request)
    enrolment = await request.app[IDENTITY].start_claim(body.get("code"), source=_source(request))
    return json_response(
        {
            "totp_secret": enrolment.secret,
            "otpauth_uri": enrolment.uri,
            "expires_at": enrolment.expires_at.isoformat(),
        }
    )


@routes.post("/api/community/claim")
async def claim(request: web.Request) -> web.Response:
    body = await read_json(request)
    _wants_cookie(body)
    result = await request.app[IDENTITY].complete_claim(
        body.get("code"),
        body.get("email"),
        body.get("password"),
        body.get("totp"),
        source=_source(request),
    )
    return _signed_in(request, body, result)


@routes.post("/api/auth/community")
async def sign_in(request: web.Request) -> web.Response:
    body = await read_json(request)
    _wants_cookie(body)
    result = await request.app[IDENTITY].sign_in_community(
        body.get("email"), body.get("password"), body.get("totp")
    )
    return _signed_in(request, body, result)


_CODE = {"type": "string", "maxLength": 64}
_TOTP = {"type": "string", "pattern": "^[0-9]{6}$"}

OPENAPI = {
    "/api/community/claim/start": {
        "post": op(
            "Check a release's claim code and get a TOTP key for an authenticator app",
            tag="auth",
            auth=None,
            body=obj(["code"], code=_CODE),
            result=obj(totp_secret=STR, otpauth_uri=STR, expires_at=DATETIME),
            errors=(400, 409, 413, 415, 429),
        )
    },
    "/api/community/claim": {
        "post": op(
            "Claim the community account with the code, an email, a password and the app's"
            " code; signs in",
            tag="auth",
            auth=None,
            body=obj(
                ["code", "email", "password", "totp"],
                code=_CODE,
                email=STR,
                password=STR,
                totp=_TOTP,
                session=_SESSION,
            ),
            result=_TOKENS,
            errors=(400, 409, 413, 415, 429),
        )
    },
    "/api/auth/community": {
        "post": op(
            "Community-account sign-in with email, password and TOTP",
            tag="auth",
            auth=None,
            body=obj(
                ["email", "password", "totp"],
                email=STR,
                password=STR,
                totp=_TOTP,
                session=_SESSION,
            ),
            result=_TOKENS,
            errors=(400, 401, 413, 415, 423),
        )
    },
}
