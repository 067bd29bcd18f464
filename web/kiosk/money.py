"""The kiosk's money: the prisoner's own balance and transactions, and finance's desk.

Amounts on the wire are integer pence (`amount_pence`), never decimals; the pages word
them (`£12.50`) and each entry's kind in their reader's language. The finance file is
sent as text inside JSON (`{"csv": "..."}`), under the app's body limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from core.errors import Code, ServiceError
from core.identity import Principal
from core.permissions import Permission
from kiosk.money import (
    Money,
    Preview,
    Statement,
    money_account,
    problem_json,
    reference_text,
    whole_pence,
)
from web.auth import require
from web.openapi import DATETIME, STR, obj, op
from web.pages import page
from web.request import json_response, read_json
from web.scheduling_shared import ID, INT, path_params, query_params
from web.state import AUDIT, CLOCK, DATABASE, IDENTITY

MONEY = web.AppKey("money", Money)

routes = web.RouteTableDef()


async def money_ctx(app: web.Application) -> AsyncIterator[None]:
    app[MONEY] = Money(app[DATABASE], identity=app[IDENTITY], clock=app[CLOCK], audit=app[AUDIT])
    yield


def _statement_json(s: Statement) -> dict[str, Any]:
    return {
        "prisoner_id": s.prisoner_id,
        "balances": {account.value: pence for account, pence in s.balances.items()},
        "entries": [
            {
                "id": e.id,
                "n": e.n,
                "account": e.account.value,
                "kind": e.kind.value,
                "amount_pence": e.amount_pence,
                "reference": e.reference,
                "at": e.created_at.isoformat(),
                "reverses_id": e.reverses_id,
                "reversed": e.reversed,
            }
            for e in s.entries
        ],
    }


def _preview_json(p: Preview) -> dict[str, Any]:
    return {
        "digest": p.digest,
        "lines": [
            {
                "line": line.line,
                "prison_number": line.prison_number,
                "account": line.account.value,
                "kind": line.kind.value,
                "amount_pence": line.amount_pence,
                "reference": line.reference,
            }
            for line in p.lines
        ],
        "problems": [problem_json(x) for x in p.problems],
        "total_pence": p.total_pence,
        "posted_at": p.posted_at.isoformat() if p.posted_at else None,
    }


async def _csv(request: web.Request, principal: Principal) -> tuple[str, str]:
    """The acting establishment and the file's text from `{"csv": "..."}`."""
    body = await read_json(request)
    text = body.get("csv")
    if not isinstance(text, str) or not text.strip():
        raise ServiceError(Code.INVALID_REQUEST, "Send the file's text as csv.")
    if principal.establishment_id is None:
        raise ServiceError(Code.INVALID_REQUEST, "Choose an establishment first.")
    return principal.establishment_id, text


@routes.get("/finance")
async def finance_page(request: web.Request) -> web.Response:
    """Finance staff: post credits from a file, look up a prisoner's money."""
    return await page(request, "finance.html", "finance")


@routes.get("/api/kiosk/money")
async def my_money(request: web.Request) -> web.Response:
    principal = await require(request, Permission.MONEY_OWN)
    found = await request.app[MONEY].statement(principal, principal.account_id)
    return json_response(_statement_json(found))


@routes.get("/api/kiosk/money/prisoners")
async def find_prisoner(request: web.Request) -> web.Response:
    principal = await require(request, Permission.MONEY_MANAGE)
    number = request.query.get("prison_number", "")
    found = await request.app[MONEY].find(principal, number)
    return json_response(_statement_json(found))


@routes.post("/api/kiosk/money/credits/preview")
async def preview_credits(request: web.Request) -> web.Response:
    principal = await require(request, Permission.MONEY_MANAGE)
    establishment, text = await _csv(request, principal)
    found = await request.app[MONEY].preview_credits(principal, establishment, text)
    return json_response(_preview_json(found))


@routes.post("/api/kiosk/money/credits")
async def post_credits(request: web.Request) -> web.Response:
    principal = await require(request, Permission.MONEY_MANAGE)
    establishment, text = await _csv(request, principal)
    batch = await request.app[MONEY].post_credits(principal, establishment, text)
    return json_response(
        {
            "id": batch.id,
            "lines": batch.lines,
            "total_pence": batch.total_pence,
            "posted_at": batch.posted_at.isoformat(),
        },
        status=201,
    )


@routes.post("/api/kiosk/money/prisoners/{prisoner_id}/transfers")
async def transfer(request: web.Request) -> web.Response:
    principal = await require(request, Permission.MONEY_MANAGE)
    body = await read_json(request)
    ids = await request.app[MONEY].transfer(
        principal,
        request.match_info["prisoner_id"],
        source=money_account(body.get("from")),
        target=money_account(body.get("to")),
        amount_pence=whole_pence(body.get("amount_pence")),
        reference=reference_text(body.get("reference")),
    )
    return json_response({"entries": ids}, status=201)


@routes.post("/api/kiosk/money/prisoners/{prisoner_id}/entries/{entry_id}/reverse")
async def reverse(request: web.Request) -> web.Response:
    principal = await require(request, Permission.MONEY_MANAGE)
    entry = await request.app[MONEY].reverse(
        principal, request.match_info["prisoner_id"], request.match_info["entry_id"]
    )
    return json_response({"entry": entry}, status=201)


ENTRY = obj(
    ["id", "n", "account", "kind", "amount_pence", "reference", "at", "reversed"],
    id=ID,
    n=INT,
    account={"enum": ["private", "spends"]},
    kind={"enum": ["wages", "sent_in", "refund", "order", "transfer", "reversal", "payout"]},
    amount_pence={"type": "integer", "description": "Positive a credit, negative a debit."},
    reference=STR,
    at=DATETIME,
    reverses_id={"type": ["string", "null"]},
    reversed={"type": "boolean"},
)
STATEMENT = obj(
    ["prisoner_id", "balances", "entries"],
    prisoner_id=ID,
    balances=obj(["private", "spends"], private=INT, spends=INT),
    entries={"type": "array", "items": ENTRY},
)
CSV_BODY = obj(["csv"], csv={"type": "string", "description": "The credits file (CSV)."})
PROBLEMS = {
    "type": "array",
    "items": obj(["line", "problem"], line=INT, problem=STR),
}


def _op(summary: str, permission: Permission, **kwargs: Any) -> dict[str, Any]:
    return op(summary, tag="kiosk", permission=permission, **kwargs)


OPENAPI: dict[str, Any] = {
    "/api/kiosk/money": {
        "get": _op(
            "The prisoner's own balances and latest transactions (also during a lockdown)",
            Permission.MONEY_OWN,
            result=STATEMENT,
            errors=(401, 403),
        )
    },
    "/api/kiosk/money/prisoners": {
        "get": _op(
            "Finance: a prisoner's balances and transactions by prison number (logged)",
            Permission.MONEY_MANAGE,
            result=STATEMENT,
            parameters=query_params("prison_number"),
            errors=(400, 401, 403, 404),
        )
    },
    "/api/kiosk/money/credits/preview": {
        "post": _op(
            "Finance: what posting a credits file would do, a problem per bad line; posts nothing",
            Permission.MONEY_MANAGE,
            body=CSV_BODY,
            result=obj(
                ["digest", "lines", "problems", "total_pence"],
                digest=STR,
                lines={"type": "array"},
                problems=PROBLEMS,
                total_pence=INT,
                posted_at={"type": ["string", "null"]},
            ),
            errors=(400, 401, 403, 413, 415),
        )
    },
    "/api/kiosk/money/credits": {
        "post": _op(
            "Finance: post every line of a credits file, or none if any line is bad; "
            "the same file twice is refused (409)",
            Permission.MONEY_MANAGE,
            body=CSV_BODY,
            ok=201,
            result=obj(
                ["id", "lines", "total_pence", "posted_at"],
                id=ID,
                lines=INT,
                total_pence=INT,
                posted_at=DATETIME,
            ),
            errors=(400, 401, 403, 409, 413, 415),
        )
    },
    "/api/kiosk/money/prisoners/{prisoner_id}/transfers": {
        "post": _op(
            "Finance: move money between a prisoner's private cash and spends",
            Permission.MONEY_MANAGE,
            body=obj(
                ["from", "to", "amount_pence"],
                **{"from": {"enum": ["private", "spends"]}},
                to={"enum": ["private", "spends"]},
                amount_pence=INT,
                reference=STR,
            ),
            ok=201,
            result=obj(["entries"], entries={"type": "array", "items": ID}),
            parameters=path_params("prisoner_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/kiosk/money/prisoners/{prisoner_id}/entries/{entry_id}/reverse": {
        "post": _op(
            "Finance: put a mistaken entry right with a new entry of the opposite amount",
            Permission.MONEY_MANAGE,
            ok=201,
            result=obj(["entry"], entry=ID),
            parameters=path_params("prisoner_id", "entry_id"),
            errors=(401, 403, 404, 409),
        )
    },
}
