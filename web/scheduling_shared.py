"""What the scheduling and care endpoints share (`web/scheduling_api.py`, `web/care_api.py`).

The service behind them, the establishment a request asks about, times as
JSON, and the OpenAPI pieces that list each operation's permission and roles.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.errors import Code, ServiceError
from core.identity import Principal, Role
from core.permissions import Permission, allows
from scheduling import SchedulingService
from web.openapi import STR, op
from web.state import SCHEDULING

P, C, M, O, A = Role.PRISONER, Role.CLINICIAN, Role.MANAGER, Role.OFFICER, Role.ADMIN  # noqa: E741
ANYONE = (P, C, M, O, A)
CLINICAL = (C, M, A)

ID = {"type": "string", "format": "uuid"}
INT = {"type": "integer"}
ARRAY = {"type": "array"}


def scheduling_of(request: web.Request) -> SchedulingService:
    return request.app[SCHEDULING]


def establishment_asked(principal: Principal, value: object) -> str:
    """The establishment asked about: only the one the caller acts in, unless they may act
    in any (`Permission.ANY_ESTABLISHMENT`).

    Another establishment answers as a missing record (404), not 403: a clinician
    who serves two establishments but acts in one must not learn, by asking, what
    the other holds, and an establishment they do not serve does not exist for them.
    """
    est = value if value is not None else principal.establishment_id
    if not isinstance(est, str):
        raise ServiceError(Code.INVALID_REQUEST, "establishment_id is required.")
    if not allows(principal, Permission.ANY_ESTABLISHMENT) and est != principal.establishment_id:
        raise ServiceError(Code.NOT_FOUND, "No such establishment.")
    return est


def iso_or_none(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def api_op(summary: str, permission: Permission, **kwargs: Any) -> dict[str, Any]:
    """An OpenAPI operation tagged `scheduling`, its roles listed as `x-roles` (`op`)."""
    return op(summary, tag="scheduling", permission=permission, **kwargs)


def path_params(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "schema": STR} for n in names]


def query_params(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "required": False, "schema": STR} for n in names]
