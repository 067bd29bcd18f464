"""The catalogue as staff keep it: shop staff's list of items and a change of price or
level (the shop desk's Catalogue), and healthcare's page that makes an item unavailable
to one prisoner, or available again, without a reason. Prices are integer pence on the
wire; the pages take and show pounds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from core.errors import Code, ServiceError
from core.permissions import Permission
from kiosk.shop_catalogue import ShopCatalogue
from web.auth import require
from web.kiosk.shop import ITEM, SHOP, establishment_of, item_json
from web.openapi import obj, op
from web.pages import page
from web.request import json_response, read_json
from web.scheduling_shared import ID, INT, path_params, query_params
from web.state import AUDIT, CLOCK, DATABASE, IDENTITY

SHOP_CATALOGUE = web.AppKey("shop_catalogue", ShopCatalogue)

routes = web.RouteTableDef()


async def shop_catalogue_ctx(app: web.Application) -> AsyncIterator[None]:
    app[SHOP_CATALOGUE] = ShopCatalogue(
        app[DATABASE],
        shop=app[SHOP],
        identity=app[IDENTITY],
        clock=app[CLOCK],
        audit=app[AUDIT],
    )
    yield


@routes.get("/shop-restrictions")
async def restrictions_page(request: web.Request) -> web.Response:
    """Healthcare: make a shop item unavailable to one prisoner, without saying why."""
    return await page(request, "shop_restrictions.html", "shop_restrictions")


@routes.get("/api/kiosk/shop/items")
async def items(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SHOP_MANAGE)
    found = await request.app[SHOP_CATALOGUE].items(principal, establishment_of(principal))
    return json_response([item_json(i) for i in found])


@routes.put("/api/kiosk/shop/items/{item_id}")
async def change(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SHOP_MANAGE)
    body = await read_json(request)
    found = await request.app[SHOP_CATALOGUE].change(
        principal,
        request.match_info["item_id"],
        price_pence=body.get("price_pence"),
        min_level=body.get("min_level"),
    )
    return json_response(item_json(found))


@routes.get("/api/kiosk/shop/restrictions")
async def for_healthcare(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SHOP_HEALTH_RESTRICT)
    found = await request.app[SHOP_CATALOGUE].for_healthcare(
        principal, request.query.get("prison_number", "")
    )
    return json_response(
        {"prisoner_id": found.prisoner_id, "items": [item_json(i) for i in found.items]}
    )


@routes.post("/api/kiosk/shop/restrictions")
async def restrict(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SHOP_HEALTH_RESTRICT)
    body = await read_json(request)
    prisoner_id, item_id = body.get("prisoner_id"), body.get("item_id")
    if not isinstance(prisoner_id, str) or not isinstance(item_id, str):
        raise ServiceError(Code.INVALID_REQUEST, "Send prisoner_id and item_id.")
    await request.app[SHOP_CATALOGUE].restrict(
        principal, prisoner_id[:64], item_id[:64], body.get("restricted", True)
    )
    return web.Response(status=204)


def _op(summary: str, permission: Permission, **kwargs: Any) -> dict[str, Any]:
    return op(summary, tag="kiosk", permission=permission, **kwargs)


OPENAPI: dict[str, Any] = {
    "/api/kiosk/shop/items": {
        "get": _op(
            "Shop staff: every item of the establishment's catalogue",
            Permission.SHOP_MANAGE,
            result={"type": "array", "items": ITEM},
            errors=(400, 401, 403),
        ),
    },
    "/api/kiosk/shop/items/{item_id}": {
        "put": _op(
            "Shop staff: an item's new price (pence) and the level it needs (null: any)",
            Permission.SHOP_MANAGE,
            body=obj(
                ["price_pence"],
                price_pence=INT,
                min_level={"enum": ["basic", "standard", "enhanced", None]},
            ),
            result=ITEM,
            parameters=path_params("item_id"),
            errors=(400, 401, 403, 404),
        )
    },
    "/api/kiosk/shop/restrictions": {
        "get": _op(
            "Healthcare: one prisoner's items, those made unavailable to them marked",
            Permission.SHOP_HEALTH_RESTRICT,
            result=obj(
                ["prisoner_id", "items"], prisoner_id=ID, items={"type": "array", "items": ITEM}
            ),
            parameters=query_params("prison_number"),
            errors=(401, 403, 404),
        ),
        "post": _op(
            "Healthcare: a prisoner may not buy an item, or may again (restricted: false);"
            " no reason is asked or kept",
            Permission.SHOP_HEALTH_RESTRICT,
            body=obj(
                ["prisoner_id", "item_id"],
                prisoner_id=ID,
                item_id=ID,
                restricted={"type": "boolean"},
            ),
            ok=204,
            errors=(400, 401, 403, 404),
        ),
    },
}
