"""REST endpoints for access: roles and permissions, staff, the establishments one
serves and the one a desk acts in, departments, keyworkers' caseloads, email.

Thin: each handler authorises with one permission (`web.auth.require`), calls
one service of `core.access` or identity, and answers.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.access.caseloads import CaseloadEntry
from core.access.departments import Department
from core.access.notice_emails import NoticeEmailSetting
from core.access.staff import StaffMember
from core.errors import Code, ServiceError
from core.permissions import Permission, parse_permission, roles_with, table
from web.auth import require
from web.openapi import STR, obj, op
from web.request import json_response, read_json
from web.state import ACCESS, IDENTITY

routes = web.RouteTableDef()

ID = {"type": "string", "format": "uuid"}
IDS = {"type": "array", "items": ID}


def _staff_json(m: StaffMember) -> dict[str, Any]:
    return {
        "id": m.id,
        "username": m.username,
        "display_name": m.display_name,
        "role": m.role.value,
        "establishment_id": m.establishment_id,
        "serves": list(m.serves),
        "departments": list(m.departments),
        "email": m.email,
    }


def _department_json(d: Department) -> dict[str, Any]:
    return {
        "id": d.id,
        "establishment_id": d.establishment_id,
        "code": d.code,
        "name": d.name,
        "built_in": d.built_in,
        "members": list(d.members),
    }


def _caseload_json(entries: list[CaseloadEntry]) -> list[dict[str, Any]]:
    return [
        {
            "prisoner_id": e.prisoner_id,
            "display_name": e.display_name,
            "prison_number": e.prison_number,
            "establishment_id": e.establishment_id,
        }
        for e in entries
    ]


# ------------------------------------------------------------ roles


@routes.get("/api/roles")
async def roles(request: web.Request) -> web.Response:
    await require(request, Permission.STAFF_MANAGE)
    asked = request.query.get("permission")
    if asked is not None:
        permission = parse_permission(asked)
        return json_response({"permission": permission.value, "roles": roles_with(permission)})
    return json_response({"roles": table(), "permissions": sorted(p.value for p in Permission)})


# ------------------------------------------------------------ staff


@routes.get("/api/staff")
async def staff_list(request: web.Request) -> web.Response:
    principal = await require(request, Permission.STAFF_MANAGE)
    found = await request.app[ACCESS].staff.list(principal)
    return json_response([_staff_json(m) for m in found])


@routes.put("/api/staff/{account_id}/role")
async def staff_role(request: web.Request) -> web.Response:
    principal = await require(request, Permission.STAFF_MANAGE)
    body = await read_json(request)
    member = await request.app[ACCESS].staff.set_role(
        principal, request.match_info["account_id"], body.get("role")
    )
    return json_response(_staff_json(member))


@routes.put("/api/staff/{account_id}/establishments")
async def staff_establishments(request: web.Request) -> web.Response:
    principal = await require(request, Permission.STAFF_MANAGE)
    body = await read_json(request)
    member = await request.app[ACCESS].staff.set_served(
        principal, request.match_info["account_id"], body.get("establishment_ids")
    )
    return json_response(_staff_json(member))


@routes.post("/api/staff/{account_id}/email")
async def staff_email(request: web.Request) -> web.Response:
    principal = await require(request, Permission.STAFF_MANAGE)
    body = await read_json(request)
    await request.app[ACCESS].email.start(
        principal, request.match_info["account_id"], body.get("email")
    )
    return json_response({"sent": True}, status=202)


# ------------------------------------------------------------ me


@routes.post("/api/me/email")
async def my_email(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SELF)
    body = await read_json(request)
    await request.app[ACCESS].email.start(principal, principal.account_id, body.get("email"))
    return json_response({"sent": True}, status=202)


def _notice_email_json(setting: NoticeEmailSetting) -> dict[str, Any]:
    return {"email": setting.email, "opted_in": setting.opted_in}


@routes.get("/api/me/notice-email")
async def my_notice_email(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SELF)
    setting = await request.app[ACCESS].notice_emails.setting(principal)
    return json_response(_notice_email_json(setting))


@routes.put("/api/me/notice-email")
async def choose_notice_email(request: web.Request) -> web.Response:
    """Opt in or out of an email ("You have a new message") for each new notice."""
    principal = await require(request, Permission.SELF)
    body = await read_json(request)
    setting = await request.app[ACCESS].notice_emails.choose(principal, body.get("opted_in"))
    return json_response(_notice_email_json(setting))


@routes.post("/api/email/verify")
async def verify_email(request: web.Request) -> web.Response:
    """Opening the link proves the mailbox; no session needed (the token is the proof)."""
    body = await read_json(request)
    done = await request.app[ACCESS].email.verify(body.get("token"))
    return json_response({"email": done.email, "verified_at": done.verified_at.isoformat()})


@routes.get("/api/me/establishments")
async def my_establishments(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SELF)
    served = await request.app[IDENTITY].served(principal)
    return json_response(
        {
            "current": principal.establishment_id,
            "establishments": [{"id": e.id, "code": e.code, "name": e.name} for e in served],
        }
    )


@routes.post("/api/me/establishment")
async def choose_establishment(request: web.Request) -> web.Response:
    """Act in another establishment one serves: every later request is scoped to it."""
    principal = await require(request, Permission.SELF)
    body = await read_json(request)
    result = await request.app[IDENTITY].choose_establishment(
        principal, body.get("establishment_id")
    )
    return json_response(
        {
            "establishment_id": result.principal.establishment_id,
            "access_token": result.access.token,
            "expires_at": result.access.expires_at.isoformat(),
        }
    )


# ------------------------------------------------------------ departments


@routes.get("/api/establishments/{establishment_id}/departments")
async def departments(request: web.Request) -> web.Response:
    principal = await require(request, Permission.DEPARTMENTS_READ)
    found = await request.app[ACCESS].departments.of_establishment(
        principal, request.match_info["establishment_id"]
    )
    return json_response([_department_json(d) for d in found])


@routes.post("/api/establishments/{establishment_id}/departments")
async def add_department(request: web.Request) -> web.Response:
    principal = await require(request, Permission.DEPARTMENTS_MANAGE)
    body = await read_json(request)
    added = await request.app[ACCESS].departments.add(
        principal, request.match_info["establishment_id"], body.get("code"), body.get("name")
    )
    return json_response(_department_json(added), status=201)


@routes.put("/api/departments/{department_id}/members")
async def department_members(request: web.Request) -> web.Response:
    principal = await require(request, Permission.DEPARTMENTS_MANAGE)
    body = await read_json(request)
    done = await request.app[ACCESS].departments.set_members(
        principal, request.match_info["department_id"], body.get("account_ids")
    )
    return json_response(_department_json(done))


# ------------------------------------------------------------ caseloads


@routes.get("/api/caseload")
async def my_caseload(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CASELOAD_READ)
    return json_response(_caseload_json(await request.app[ACCESS].caseloads.mine(principal)))


@routes.get("/api/keyworkers/{keyworker_id}/caseload")
async def keyworker_caseload(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CASELOAD_MANAGE)
    found = await request.app[ACCESS].caseloads.of_keyworker(
        principal, request.match_info["keyworker_id"]
    )
    return json_response(_caseload_json(found))


@routes.put("/api/keyworkers/{keyworker_id}/caseload")
async def set_caseload(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CASELOAD_MANAGE)
    body = await read_json(request)
    if "prisoner_ids" not in body:
        raise ServiceError(Code.INVALID_REQUEST, "prisoner_ids is a list of prisoner ids.")
    found = await request.app[ACCESS].caseloads.set_caseload(
        principal, request.match_info["keyworker_id"], body.get("prisoner_ids")
    )
    return json_response(_caseload_json(found))


def _path(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "schema": STR} for n in names]


STAFF = obj(
    ["id", "role"],
    id=ID,
    username=STR,
    display_name=STR,
    role=STR,
    establishment_id=ID,
    serves=IDS,
    departments=IDS,
    email=STR,
)
DEPARTMENT = obj(
    ["id", "code", "name"],
    id=ID,
    establishment_id=ID,
    code=STR,
    name=STR,
    built_in={"type": "boolean"},
    members=IDS,
)
CASELOAD = {"type": "array", "items": obj(prisoner_id=ID, display_name=STR, prison_number=STR)}

OPENAPI: dict[str, Any] = {
    "/api/roles": {
        "get": op(
            "Each role and the permissions it holds, or the roles holding one permission",
            tag="access",
            permission=Permission.STAFF_MANAGE,
            parameters=[{"name": "permission", "in": "query", "required": False, "schema": STR}],
            result={"type": "object"},
        )
    },
    "/api/staff": {
        "get": op(
            "Staff accounts in the caller's scope",
            tag="access",
            permission=Permission.STAFF_MANAGE,
            result={"type": "array", "items": STAFF},
        )
    },
    "/api/staff/{account_id}/role": {
        "put": op(
            "Change a staff account's role",
            tag="access",
            permission=Permission.STAFF_MANAGE,
            body=obj(["role"], role=STR),
            result=STAFF,
            parameters=_path("account_id"),
            errors=(400, 401, 403, 404),
        )
    },
    "/api/staff/{account_id}/establishments": {
        "put": op(
            "The establishments a clinician or keyworker serves besides their home one",
            tag="access",
            permission=Permission.STAFF_MANAGE,
            body=obj(["establishment_ids"], establishment_ids=IDS),
            result=STAFF,
            parameters=_path("account_id"),
            errors=(400, 401, 403, 404),
        )
    },
    "/api/staff/{account_id}/email": {
        "post": op(
            "Send a verification link to a staff account's new address",
            tag="access",
            permission=Permission.STAFF_MANAGE,
            body=obj(["email"], email=STR),
            ok=202,
            parameters=_path("account_id"),
            errors=(400, 401, 403, 404, 502),
        )
    },
    "/api/me/email": {
        "post": op(
            "Send a verification link to one's own new address",
            tag="access",
            permission=Permission.SELF,
            body=obj(["email"], email=STR),
            ok=202,
            errors=(400, 401, 502),
        )
    },
    "/api/me/notice-email": {
        "get": op(
            "One's verified address and whether new notices are emailed to it",
            tag="access",
            permission=Permission.SELF,
            result=obj(email=STR, opted_in={"type": "boolean"}),
            errors=(400, 401),
        ),
        "put": op(
            "Opt in or out of an email for each new notice (a verified address first)",
            tag="access",
            permission=Permission.SELF,
            body=obj(["opted_in"], opted_in={"type": "boolean"}),
            result=obj(email=STR, opted_in={"type": "boolean"}),
            errors=(400, 401, 409),
        ),
    },
    "/api/email/verify": {
        "post": op(
            "Open a verification link (once, before it expires)",
            tag="access",
            auth=None,
            body=obj(["token"], token=STR),
            result=obj(email=STR, verified_at=STR),
            errors=(400,),
        )
    },
    "/api/me/establishments": {
        "get": op(
            "The establishments one serves and the one this session acts in",
            tag="access",
            permission=Permission.SELF,
            result=obj(current=ID, establishments={"type": "array"}),
            errors=(401,),
        )
    },
    "/api/me/establishment": {
        "post": op(
            "Act in another establishment one serves",
            tag="access",
            permission=Permission.SELF,
            body=obj(["establishment_id"], establishment_id=ID),
            result=obj(establishment_id=ID, access_token=STR, expires_at=STR),
            errors=(400, 401, 403, 404),
        )
    },
    "/api/establishments/{establishment_id}/departments": {
        "get": op(
            "An establishment's departments and their members",
            tag="access",
            permission=Permission.DEPARTMENTS_READ,
            result={"type": "array", "items": DEPARTMENT},
            parameters=_path("establishment_id"),
            errors=(401, 403, 404),
        ),
        "post": op(
            "Add a department",
            tag="access",
            permission=Permission.DEPARTMENTS_MANAGE,
            body=obj(["code", "name"], code=STR, name=STR),
            ok=201,
            result=DEPARTMENT,
            parameters=_path("establishment_id"),
            errors=(400, 401, 403, 404, 409),
        ),
    },
    "/api/departments/{department_id}/members": {
        "put": op(
            "Set a department's members",
            tag="access",
            permission=Permission.DEPARTMENTS_MANAGE,
            body=obj(["account_ids"], account_ids=IDS),
            result=DEPARTMENT,
            parameters=_path("department_id"),
            errors=(400, 401, 403, 404),
        )
    },
    "/api/caseload": {
        "get": op(
            "A keyworker's own caseload, in the establishment they act in",
            tag="access",
            permission=Permission.CASELOAD_READ,
            result=CASELOAD,
        )
    },
    "/api/keyworkers/{keyworker_id}/caseload": {
        "get": op(
            "A keyworker's caseload",
            tag="access",
            permission=Permission.CASELOAD_MANAGE,
            result=CASELOAD,
            parameters=_path("keyworker_id"),
            errors=(401, 403, 404),
        ),
        "put": op(
            "Set a keyworker's caseload (prisoners of the caller's establishment)",
            tag="access",
            permission=Permission.CASELOAD_MANAGE,
            body=obj(["prisoner_ids"], prisoner_ids=IDS),
            result=CASELOAD,
            parameters=_path("keyworker_id"),
            errors=(400, 401, 403, 404),
        ),
    },
}
