"""The OpenAPI 3.1 document, assembled from each route module's `OPENAPI` paths.

Each web module documents its own endpoints beside them; a test checks that
every route the app serves under /api is in this document and vice versa.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.permissions import Permission, roles_with
from web.request import json_response

routes = web.RouteTableDef()

PROBLEM = {"$ref": "#/components/responses/Problem"}


def op(
    summary: str,
    *,
    tag: str,
    auth: str | None = "bearer",
    body: dict[str, Any] | None = None,
    ok: int = 200,
    result: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (400, 401, 403),
    parameters: list[dict[str, Any]] | None = None,
    permission: Permission | None = None,
) -> dict[str, Any]:
    """One operation, with the problem+json responses it can give.

    `permission` is the one its handler checks (`web.auth.require`): the
    operation lists it as `x-permission` and the roles holding it, read from
    `core.permissions`, as `x-roles`.
    """
    operation: dict[str, Any] = {"summary": summary, "tags": [tag]}
    if permission is not None:
        operation["x-permission"] = permission.value
        operation["x-roles"] = roles_with(permission)
    if auth == "bearer":
        operation["security"] = [{"bearer": []}, {"cookie": []}]
    elif auth == "device":
        operation["security"] = [{"device": []}]
    else:
        operation["security"] = []
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    responses: dict[str, Any] = {}
    if result is None:
        responses[str(ok)] = {"description": "Done."}
    else:
        responses[str(ok)] = {
            "description": "Done.",
            "content": {"application/json": {"schema": result}},
        }
    for status in errors:
        responses[str(status)] = PROBLEM
    operation["responses"] = responses
    return operation


def obj(required: list[str] | None = None, **props: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


STR = {"type": "string"}
DATETIME = {"type": "string", "format": "date-time"}


def document(fragments: list[dict[str, Any]]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for fragment in fragments:
        for path, ops in fragment.items():
            paths.setdefault(path, {}).update(ops)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Throughcare",
            "version": "1",
            "description": "Telehealth consultations and self-service for prisons.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "tc_access"},
                "device": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`Device <credential>` from enrolment.",
                },
            },
            "responses": {
                "Problem": {
                    "description": "A refusal, as RFC 9457 problem details.",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                }
            },
            "schemas": {
                "Problem": obj(
                    ["type", "title", "status", "code"],
                    type=STR,
                    title=STR,
                    status={"type": "integer"},
                    code=STR,
                    detail=STR,
                    request_id=STR,
                )
            },
        },
    }


DOCUMENT = web.AppKey("openapi_document", dict)


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[DOCUMENT])
