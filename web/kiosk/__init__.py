"""The kiosk's routes and pages (the domain is the top-level `kiosk` package), and what
their modules share: the OpenAPI shape of a kiosk operation and the `Idempotency-Key`
header that makes a prisoner's double tap or retry answer the first write."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.permissions import Permission
from web.openapi import STR, op

NULLABLE_STR = {"type": ["string", "null"]}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": STR}


def idempotency_key(request: web.Request) -> str | None:
    """The header as sent; the domain checks its shape (`kiosk.*.idempotency_key`)."""
    return request.headers.get("Idempotency-Key")


def kiosk_op(summary: str, permission: Permission, **kwargs: Any) -> dict[str, Any]:
    return op(summary, tag="kiosk", permission=permission, **kwargs)
