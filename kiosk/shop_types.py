"""The shop's words: its settings, items, orders and the week they count against, and the
checks on what a prisoner sends (a basket, a quantity, an Idempotency-Key).

The service that uses them is `kiosk.shop`; what placing an order reads and writes is
`kiosk.shop_orders`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from core.errors import Code, ServiceError
from core.identity.types import Principal
from core.people.types import IncentiveLevel

MODULE = "shop"
SHOP = "shop"
MAX_LINES = 30
MAX_QUANTITY = 20
MAX_PRICE = 100_000
KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
DEFAULT_LIMITS = {
    IncentiveLevel.BASIC: 1_500,
    IncentiveLevel.STANDARD: 2_500,
    IncentiveLevel.ENHANCED: 4_000,
}
DEFAULT_CUTOFF = (2, 12 * 60)
"""Wednesday 12:00, for Friday's delivery."""
LEVEL_ORDER = [IncentiveLevel.BASIC, IncentiveLevel.STANDARD, IncentiveLevel.ENHANCED]


class OrderStatus(StrEnum):
    PLACED = "placed"
    PICKED = "picked"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    """Only when the prisoner left before delivery (kiosk/leaving.py): refunded in full."""


class Gate(Protocol):
    """scheduling's lockdown check (`SchedulingService.require_open`)."""

    async def require_open(self, actor: Principal, module: str) -> None: ...


@dataclass(frozen=True)
class Settings:
    limits: dict[IncentiveLevel, int]
    cutoff_weekday: int
    cutoff_minute: int


@dataclass(frozen=True)
class Item:
    id: str
    category: str
    name: str
    price_pence: int
    min_level: IncentiveLevel | None
    unavailable: str | None
    """For the prisoner asking: None, "level" (needs a higher level) or "restricted"."""


@dataclass(frozen=True)
class Line:
    id: str
    item_id: str
    name: str
    price_pence: int
    quantity: int
    out_of_stock: bool


@dataclass(frozen=True)
class Order:
    id: str
    prisoner_id: str
    receipt: str
    status: OrderStatus
    total_pence: int
    refunded_pence: int
    placed_at: datetime
    lines: list[Line]
    cell: str | None = None
    wing: str | None = None


@dataclass(frozen=True)
class Window:
    week_start: datetime
    cutoff: datetime


@dataclass(frozen=True)
class Catalogue:
    items: list[Item]
    level: IncentiveLevel
    limit_pence: int
    spent_pence: int
    spends_pence: int
    cutoff: datetime
    open: bool


def week_window(now: datetime, zone: str, settings: Settings) -> Window:
    """This week's start (Monday 00:00 local) and cut-off, as UTC instants."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    monday = local.date() - timedelta(days=local.weekday())
    start = datetime.combine(monday, time(0, 0), tzinfo=tz)
    cut_day = monday + timedelta(days=settings.cutoff_weekday)
    cut = datetime.combine(
        cut_day, time(settings.cutoff_minute // 60, settings.cutoff_minute % 60), tzinfo=tz
    )
    return Window(start.astimezone(UTC), cut.astimezone(UTC))


def quantity(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        raise ServiceError(
            Code.INVALID_REQUEST,
            f"A quantity is a whole number from 1 to {MAX_QUANTITY}.",
            extra={"reason": "bad_quantity"},
        )
    return value


def basket(value: object) -> dict[str, int]:
    """[{item_id, quantity}] -> item id -> quantity (the same item twice is added up)."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LINES:
        raise ServiceError(
            Code.INVALID_REQUEST,
            f"An order has 1 to {MAX_LINES} lines.",
            extra={"reason": "bad_basket"},
        )
    found: dict[str, int] = {}
    for line in value:
        if not isinstance(line, dict) or not isinstance(line.get("item_id"), str):
            raise ServiceError(Code.INVALID_REQUEST, "Each line names an item_id.")
        item_id = line["item_id"][:64]
        found[item_id] = found.get(item_id, 0) + quantity(line.get("quantity"))
        if found[item_id] > MAX_QUANTITY:
            quantity(found[item_id])
    return found


def idempotency_key(value: str | None) -> str:
    if value is None or not KEY.match(value):
        raise ServiceError(
            Code.INVALID_REQUEST,
            "Send an Idempotency-Key header of 8 to 64 letters, digits, - or _.",
            extra={"reason": "idempotency_key"},
        )
    return value


def item_of(row: Any, level: IncentiveLevel, restricted: set[str]) -> Item:
    min_level = IncentiveLevel(row.min_level) if row.min_level else None
    unavailable = None
    if row.id in restricted:
        unavailable = "restricted"
    elif min_level and LEVEL_ORDER.index(level) < LEVEL_ORDER.index(min_level):
        unavailable = "level"
    return Item(row.id, row.category, row.name, int(row.price_pence), min_level, unavailable)
