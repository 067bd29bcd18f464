"""The kiosk's shop: the prisoner's catalogue, orders and history; shop staff's set-up and
pick list (the staff catalogue and healthcare's restrictions are in
web/kiosk/shop_catalogue.py). Prices and totals are integer pence on the wire.

Placing an order needs an `Idempotency-Key` header (the device makes one per basket):
the same key again answers 200 with the first order instead of 201 with a new one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from core.errors import Code, ServiceError
from core.permissions import Permission
from kiosk.leaving import STEP as LEAVING_STEP
from kiosk.leaving import KioskLeaving
from kiosk.shop import Shop
from kiosk.shop_types import MODULE, Catalogue, Item, Order
from web.auth import require
from web.kiosk import idempotency_key
from web.kiosk.money import MONEY
from web.openapi import DATETIME, STR, obj, op
from web.pages import page
from web.request import json_response, read_json
from web.scheduling_shared import ID, INT, path_params, query_params
from web.state import AUDIT, CLOCK, DATABASE, SCHEDULING

SHOP = web.AppKey("shop", Shop)

routes = web.RouteTableDef()


async def shop_ctx(app: web.Application) -> AsyncIterator[None]:
    scheduling = app[SCHEDULING]
    scheduling.suspensions.register(MODULE)
    app[SHOP] = Shop(
        app[DATABASE], money=app[MONEY], gate=scheduling, clock=app[CLOCK], audit=app[AUDIT]
    )
    leaving = KioskLeaving(money=app[MONEY], audit=app[AUDIT])
    scheduling.transfer_steps.register(LEAVING_STEP, leaving.transfer)
    scheduling.release_steps.register(LEAVING_STEP, leaving.release)
    yield


def item_json(i: Item) -> dict[str, Any]:
    return {
        "id": i.id,
        "category": i.category,
        "name": i.name,
        "price_pence": i.price_pence,
        "min_level": i.min_level.value if i.min_level else None,
        "unavailable": i.unavailable,
    }


def _order_json(o: Order) -> dict[str, Any]:
    return {
        "id": o.id,
        "receipt": o.receipt,
        "status": o.status.value,
        "total_pence": o.total_pence,
        "refunded_pence": o.refunded_pence,
        "placed_at": o.placed_at.isoformat(),
        "cell": o.cell,
        "wing": o.wing,
        "lines": [
            {
                "id": line.id,
                "item_id": line.item_id,
                "name": line.name,
                "price_pence": line.price_pence,
                "quantity": line.quantity,
                "out_of_stock": line.out_of_stock,
            }
            for line in o.lines
        ],
    }


def _catalogue_json(c: Catalogue) -> dict[str, Any]:
    return {
        "items": [item_json(i) for i in c.items],
        "level": c.level.value,
        "limit_pence": c.limit_pence,
        "spent_pence": c.spent_pence,
        "spends_pence": c.spends_pence,
        "cutoff": c.cutoff.isoformat(),
        "open": c.open,
    }


def establishment_of(principal: Any) -> str:
    if principal.establishment_id is None:
        raise ServiceError(Code.INVALID_REQUEST, "Choose an establishment first.")
    return str(principal.establishment_id)


@routes.get("/shop-desk")
async def shop_desk_page(request: web.Request) -> web.Response:
    """Shop staff: the pick list per wing, picked and delivered."""
    return await page(request, "shop_desk.html", "shop_desk")


@routes.get("/api/kiosk/shop")
async def catalogue(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SHOP_ORDER)
    return json_response(_catalogue_json(await request.app[SHOP].catalogue(principal)))


@routes.post("/api/kiosk/shop/orders")
async def place(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SHOP_ORDER)
    body = await read_json(request)
    order, new = await request.app[SHOP].place(
        principal, body.get("lines"), idempotency_key(request)
    )
    return json_response(_order_json(order), status=201 if new else 200)


@routes.get("/api/kiosk/shop/orders")
async def history(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SHOP_ORDER)
    return json_response([_order_json(o) for o in await request.app[SHOP].history(principal)])


@routes.post("/api/kiosk/shop/items")
async def add_item(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SHOP_MANAGE)
    body = await read_json(request)
    item = await request.app[SHOP].add_item(
        principal,
        establishment_of(principal),
        category=body.get("category"),
        name=body.get("name"),
        price_pence=body.get("price_pence"),
        min_level=body.get("min_level"),
    )
    return json_response(item_json(item), status=201)


@routes.put("/api/kiosk/shop/settings")
async def set_settings(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SHOP_MANAGE)
    body = await read_json(request)
    found = await request.app[SHOP].set_settings(
        principal,
        establishment_of(principal),
        limits=body.get("limits"),
        cutoff_weekday=body.get("cutoff_weekday"),
        cutoff_time=body.get("cutoff_time"),
    )
    return json_response(
        {
            "limits": {k.value: v for k, v in found.limits.items()},
            "cutoff_weekday": found.cutoff_weekday,
            "cutoff_time": f"{found.cutoff_minute // 60:02d}:{found.cutoff_minute % 60:02d}",
        }
    )


@routes.get("/api/kiosk/shop/pick-list")
async def pick_list(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SHOP_MANAGE)
    wing = request.query.get("wing") or None
    orders = await request.app[SHOP].pick_list(principal, establishment_of(principal), wing)
    if request.query.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["wing", "cell", "receipt", "item", "quantity", "status"])
        for o in orders:
            for line in o.lines:
                writer.writerow(
                    [
                        o.wing or "",
                        o.cell or "",
                        o.receipt,
                        line.name,
                        line.quantity,
                        o.status.value,
                    ]
                )
        return web.Response(
            text=out.getvalue(),
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="pick-list.csv"'},
        )
    return json_response([_order_json(o) for o in orders])


@routes.post("/api/kiosk/shop/orders/{order_id}/picked")
async def picked(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SHOP_MANAGE)
    body = await read_json(request)
    order = await request.app[SHOP].picked(
        principal, request.match_info["order_id"], body.get("out_of_stock", [])
    )
    return json_response(_order_json(order))


@routes.post("/api/kiosk/shop/orders/{order_id}/delivered")
async def delivered(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SHOP_MANAGE)
    order = await request.app[SHOP].delivered(principal, request.match_info["order_id"])
    return json_response(_order_json(order))


LINE = obj(
    ["id", "item_id", "name", "price_pence", "quantity", "out_of_stock"],
    id=ID,
    item_id=ID,
    name=STR,
    price_pence=INT,
    quantity=INT,
    out_of_stock={"type": "boolean"},
)
ORDER = obj(
    ["id", "receipt", "status", "total_pence", "refunded_pence", "placed_at", "lines"],
    id=ID,
    receipt=STR,
    status={"enum": ["placed", "picked", "delivered", "cancelled"]},
    total_pence=INT,
    refunded_pence=INT,
    placed_at=DATETIME,
    cell={"type": ["string", "null"]},
    wing={"type": ["string", "null"]},
    lines={"type": "array", "items": LINE},
)
ITEM = obj(
    ["id", "category", "name", "price_pence"],
    id=ID,
    category=STR,
    name=STR,
    price_pence=INT,
    min_level={"type": ["string", "null"]},
    unavailable={"type": ["string", "null"], "description": "level or restricted"},
)


def _op(summary: str, permission: Permission, **kwargs: Any) -> dict[str, Any]:
    return op(summary, tag="kiosk", permission=permission, **kwargs)


OPENAPI: dict[str, Any] = {
    "/api/kiosk/shop": {
        "get": _op(
            "The catalogue as it applies to the prisoner, their weekly limit, spend and cut-off",
            Permission.SHOP_ORDER,
            result=obj(
                ["items", "limit_pence", "spent_pence", "spends_pence", "cutoff", "open"],
                items={"type": "array", "items": ITEM},
                level=STR,
                limit_pence=INT,
                spent_pence=INT,
                spends_pence=INT,
                cutoff=DATETIME,
                open={"type": "boolean"},
            ),
            errors=(401, 403),
        )
    },
    "/api/kiosk/shop/orders": {
        "post": _op(
            "Place an order (Idempotency-Key header: the same key again returns the first order)",
            Permission.SHOP_ORDER,
            body=obj(
                ["lines"],
                lines={
                    "type": "array",
                    "items": obj(["item_id", "quantity"], item_id=ID, quantity=INT),
                },
            ),
            ok=201,
            result=ORDER,
            errors=(400, 401, 403, 404, 409, 423),
        ),
        "get": _op(
            "The prisoner's own orders, newest first",
            Permission.SHOP_ORDER,
            result={"type": "array", "items": ORDER},
            errors=(401, 403),
        ),
    },
    "/api/kiosk/shop/items": {
        "post": _op(
            "Shop staff: add an item to the establishment's catalogue",
            Permission.SHOP_MANAGE,
            body=obj(
                ["category", "name", "price_pence"],
                category=STR,
                name=STR,
                price_pence=INT,
                min_level={"enum": ["basic", "standard", "enhanced", None]},
            ),
            ok=201,
            result=ITEM,
            errors=(400, 401, 403),
        )
    },
    "/api/kiosk/shop/settings": {
        "put": _op(
            "Shop staff: weekly limits per incentive level (pence) and the order cut-off",
            Permission.SHOP_MANAGE,
            body=obj(
                ["limits", "cutoff_weekday", "cutoff_time"],
                limits=obj(
                    ["basic", "standard", "enhanced"], basic=INT, standard=INT, enhanced=INT
                ),
                cutoff_weekday=INT,
                cutoff_time=STR,
            ),
            result={"type": "object"},
            errors=(400, 401, 403),
        )
    },
    "/api/kiosk/shop/pick-list": {
        "get": _op(
            "Shop staff: orders to pick and deliver, by wing and cell (format=csv for a file)",
            Permission.SHOP_MANAGE,
            result={"type": "array", "items": ORDER},
            parameters=query_params("wing", "format"),
            errors=(400, 401, 403),
        )
    },
    "/api/kiosk/shop/orders/{order_id}/picked": {
        "post": _op(
            "Shop staff: the order is picked; out-of-stock lines are refunded at once",
            Permission.SHOP_MANAGE,
            body=obj(out_of_stock={"type": "array", "items": ID}),
            result=ORDER,
            parameters=path_params("order_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/kiosk/shop/orders/{order_id}/delivered": {
        "post": _op(
            "Shop staff: the order is delivered",
            Permission.SHOP_MANAGE,
            result=ORDER,
            parameters=path_params("order_id"),
            errors=(401, 403, 404, 409),
        )
    },
}
