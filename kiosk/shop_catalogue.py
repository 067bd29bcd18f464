"""The catalogue as staff keep it: shop staff list the establishment's items and change an
item's price or the incentive level it needs; healthcare see one prisoner's items and
make one unavailable to them, or available again, without saying why (no reason is
asked, stored or shown: the prisoner reads only "not available to you").

Adding an item and the weekly limits live in `kiosk.shop` beside the orders they govern.
A change of price applies to orders placed after it: an order line keeps the price it
was bought at.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.identity import IdentityService
from core.identity.types import Principal
from core.people.types import IncentiveLevel
from core.permissions import Permission, acts_in, require_permission
from kiosk.money import in_department
from kiosk.shop import Shop
from kiosk.shop_orders import level_of, prisoner_establishment
from kiosk.shop_tables import shop_items, shop_restrictions
from kiosk.shop_types import MAX_PRICE, SHOP, Item, item_of

NO_PRISONER = "No such prisoner."


@dataclass(frozen=True)
class HealthView:
    prisoner_id: str
    items: list[Item]
    """Every item; `unavailable` is "restricted" where healthcare made it so."""


def price(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PRICE:
        raise ServiceError(
            Code.INVALID_REQUEST,
            "A price is a whole number of pence from 1 to 100000.",
            extra={"reason": "bad_price"},
        )
    return value


def level(value: object) -> IncentiveLevel | None:
    if value is None:
        return None
    if value not in [lv.value for lv in IncentiveLevel]:
        raise ServiceError(Code.INVALID_REQUEST, "The level is basic, standard or enhanced.")
    return IncentiveLevel(str(value))


class ShopCatalogue:
    def __init__(
        self,
        db: Database,
        *,
        shop: Shop,
        identity: IdentityService,
        clock: Clock,
        audit: AuditSink,
    ) -> None:
        self._db = db
        self._shop = shop
        self._identity = identity
        self._clock = clock
        self._audit = audit

    async def items(self, actor: Principal, establishment_id: str) -> list[Item]:
        """Shop staff: every item of the establishment, by category and name."""
        async with self._db.connect() as conn:
            await self._require_shop(conn, actor, establishment_id)
            rows = await conn.execute(
                select(shop_items)
                .where(shop_items.c.establishment_id == establishment_id)
                .order_by(shop_items.c.category, shop_items.c.name)
            )
            return [item_of(r, IncentiveLevel.ENHANCED, set()) for r in rows]

    async def change(
        self, actor: Principal, item_id: str, *, price_pence: object, min_level: object
    ) -> Item:
        """Shop staff: a new price and the level the item needs (None: any level)."""
        require_permission(actor, Permission.SHOP_MANAGE)
        pence, needs = price(price_pence), level(min_level)
        async with self._db.begin() as conn:
            row = (await conn.execute(select(shop_items).where(shop_items.c.id == item_id))).first()
            if row is None or not acts_in(actor, row.establishment_id):
                raise ServiceError(Code.NOT_FOUND, "No such item.")
            await self._require_shop(conn, actor, row.establishment_id)
            await conn.execute(
                update(shop_items)
                .where(shop_items.c.id == item_id)
                .values(price_pence=pence, min_level=needs.value if needs else None)
            )
            changed = (
                await conn.execute(select(shop_items).where(shop_items.c.id == item_id))
            ).one()
        await self._audit.append(
            AuditRecord(
                Action.SHOP_ITEM_CHANGED,
                actor.account_id,
                establishment=row.establishment_id,
                subject=item_id,
                details={
                    "price_pence": pence,
                    "was_pence": int(row.price_pence),
                    "min_level": needs.value if needs else None,
                },
            )
        )
        return item_of(changed, IncentiveLevel.ENHANCED, set())

    async def for_healthcare(self, actor: Principal, prison_number: str) -> HealthView:
        """Healthcare: one prisoner's items, those they made unavailable marked."""
        require_permission(actor, Permission.SHOP_HEALTH_RESTRICT)
        prisoner_id = await self._identity.find_prisoner(prison_number.strip()[:16])
        if prisoner_id is None:
            raise ServiceError(Code.NOT_FOUND, NO_PRISONER)
        async with self._db.connect() as conn:
            establishment = await prisoner_establishment(conn, prisoner_id)
            if not acts_in(actor, establishment):
                raise ServiceError(Code.NOT_FOUND, NO_PRISONER)
            restricted = set(
                await conn.scalars(
                    select(shop_restrictions.c.item_id).where(
                        shop_restrictions.c.prisoner_id == prisoner_id
                    )
                )
            )
            their_level = await level_of(conn, prisoner_id)
            rows = await conn.execute(
                select(shop_items)
                .where(shop_items.c.establishment_id == establishment)
                .order_by(shop_items.c.category, shop_items.c.name)
            )
            items = [item_of(r, their_level, restricted) for r in rows]
        return HealthView(prisoner_id, items)

    async def restrict(
        self, actor: Principal, prisoner_id: str, item_id: str, restricted: object
    ) -> None:
        """Healthcare: make an item unavailable to a prisoner (`kiosk.shop`), or available
        again. No reason either way."""
        if not isinstance(restricted, bool):
            raise ServiceError(Code.INVALID_REQUEST, "restricted is true or false.")
        if restricted:
            await self._shop.restrict(actor, prisoner_id, item_id)
            return
        require_permission(actor, Permission.SHOP_HEALTH_RESTRICT)
        async with self._db.begin() as conn:
            establishment = await prisoner_establishment(conn, prisoner_id)
            if not acts_in(actor, establishment):
                raise ServiceError(Code.NOT_FOUND, NO_PRISONER)
            item = await conn.scalar(
                select(shop_items.c.id).where(
                    shop_items.c.id == item_id, shop_items.c.establishment_id == establishment
                )
            )
            if item is None:
                raise ServiceError(Code.NOT_FOUND, "No such item.")
            await conn.execute(
                delete(shop_restrictions).where(
                    shop_restrictions.c.prisoner_id == prisoner_id,
                    shop_restrictions.c.item_id == item_id,
                )
            )
        await self._audit.append(
            AuditRecord(
                Action.SHOP_UNRESTRICTED,
                actor.account_id,
                establishment=establishment,
                subject=prisoner_id,
                details={"item": item_id},
            )
        )

    async def _require_shop(
        self, conn: AsyncConnection, actor: Principal, establishment_id: str
    ) -> None:
        require_permission(actor, Permission.SHOP_MANAGE)
        if not acts_in(actor, establishment_id):
            raise ServiceError(Code.NOT_FOUND, "No such establishment.")
        if not await in_department(conn, actor.account_id, establishment_id, SHOP):
            raise ServiceError(
                Code.FORBIDDEN,
                "Only the shop department's staff may do this.",
                extra={"reason": "not_shop"},
            )
