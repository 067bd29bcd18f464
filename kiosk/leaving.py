"""What the kiosk does when a prisoner leaves: its transfer step and its release step.

Both run inside the movement's one transaction (scheduling/release_steps.py), so a
prisoner is moved or released together with their money, or not at all.

Transfer. The ledger is the prisoner's, not the establishment's: the balances move as
they are (the holder row now names the new establishment; each past entry keeps the
establishment it was made at). Orders not yet delivered (placed or picked) are
cancelled and refunded in full to spends, one refund entry each, and the prisoner is
told in their inbox. They are not carried because the goods are the old
establishment's: packed by its shop from its catalogue at its prices, for delivery on
its wings. The new shop cannot deliver them, and an order carried along would keep the
prisoner's money for goods that will never arrive. The refund also frees the week's
limit, so they can order again at the new establishment.

Release. The same cancellation first (the shop will not deliver to someone who has
gone), then every account with money in it is paid out by a closing entry (`payout`)
of its whole balance, all under one payout receipt number, so both balances end at
nought. The step's summary (pence and counts, and the receipt number: never words)
is returned with the release, so the officer prints the receipt as part of the
prisoner's letter, in the prisoner's language.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.events import Action, AuditRecord, AuditSink
from core.identity import Principal
from kiosk.money import Money, Posting, balances
from kiosk.money_csv import EntryKind, MoneyAccount
from kiosk.shop_tables import shop_orders
from kiosk.shop_types import OrderStatus
from scheduling.notices import queue_notice
from scheduling.release_steps import ReleaseContext, TransferContext

STEP = "kiosk_money"
"""The name both steps register under; their summaries are keyed by it."""
NOTICE_KIND = "shop_orders_cancelled"
PENDING = (OrderStatus.PLACED.value, OrderStatus.PICKED.value)


def payout_receipt() -> str:
    """A payout's receipt number: P and seven characters nobody misreads."""
    return "P" + "".join(secrets.choice("ACDEFGHJKLMNPQRTUVWXY3479") for _ in range(7))


@dataclass(frozen=True)
class _Written:
    establishment_id: str
    entry_id: str
    posting: Posting


@dataclass(frozen=True)
class _Cancelled:
    order_id: str
    receipt: str
    refund_pence: int


class KioskLeaving:
    def __init__(self, *, money: Money, audit: AuditSink) -> None:
        self._money = money
        self._audit = audit

    async def transfer(self, ctx: TransferContext) -> None:
        """Cancel and refund what the old shop has not delivered; the balances move."""
        written: list[_Written] = []
        cancelled = await self._cancel_orders(
            ctx.conn, ctx.actor, ctx.prisoner_id, ctx.from_establishment_id, ctx.now, written
        )
        await self._money.lock(ctx.conn, ctx.prisoner_id, ctx.from_establishment_id)
        await self._money.move_holder(ctx.conn, ctx.prisoner_id, ctx.to_establishment_id)
        found = await balances(ctx.conn, ctx.prisoner_id)
        refunded = sum(c.refund_pence for c in cancelled)
        if cancelled:
            await queue_notice(
                ctx.conn,
                ctx.prisoner_id,
                NOTICE_KIND,
                now=ctx.now,
                orders=len(cancelled),
                refunded_pence=refunded,
            )
        ctx.summary[STEP] = {
            "private_pence": found[MoneyAccount.PRIVATE],
            "spends_pence": found[MoneyAccount.SPENDS],
            "orders_cancelled": len(cancelled),
            "refunded_pence": refunded,
        }
        ctx.after_commit.append(
            self._after(ctx.actor, ctx.prisoner_id, ctx.from_establishment_id, cancelled, written)
        )

    async def release(self, ctx: ReleaseContext) -> None:
        """Cancel and refund undelivered orders, then pay each account out to nought."""
        written: list[_Written] = []
        cancelled = await self._cancel_orders(
            ctx.conn, ctx.actor, ctx.prisoner_id, ctx.establishment_id, ctx.now, written
        )
        await self._money.lock(ctx.conn, ctx.prisoner_id, ctx.establishment_id)
        found = await balances(ctx.conn, ctx.prisoner_id)
        receipt = payout_receipt()
        postings = [
            Posting(account, EntryKind.PAYOUT, -found[account], receipt)
            for account in MoneyAccount
            if found[account] > 0
        ]
        if postings:
            ids = await self._money.write(
                ctx.conn, ctx.actor, ctx.prisoner_id, ctx.establishment_id, postings
            )
            written += [
                _Written(ctx.establishment_id, i, p) for i, p in zip(ids, postings, strict=True)
            ]
        ctx.summary[STEP] = {
            "receipt": receipt if postings else None,
            "private_pence": found[MoneyAccount.PRIVATE],
            "spends_pence": found[MoneyAccount.SPENDS],
            "orders_cancelled": len(cancelled),
            "refunded_pence": sum(c.refund_pence for c in cancelled),
        }
        ctx.after_commit.append(
            self._after(ctx.actor, ctx.prisoner_id, ctx.establishment_id, cancelled, written)
        )

    async def _cancel_orders(
        self,
        conn: AsyncConnection,
        actor: Principal,
        prisoner_id: str,
        establishment_id: str,
        now: datetime,
        written: list[_Written],
    ) -> list[_Cancelled]:
        await self._money.lock(conn, prisoner_id, establishment_id)
        rows = list(
            await conn.execute(
                select(
                    shop_orders.c.id,
                    shop_orders.c.receipt,
                    shop_orders.c.total_pence,
                    shop_orders.c.refunded_pence,
                )
                .where(
                    shop_orders.c.prisoner_id == prisoner_id,
                    shop_orders.c.establishment_id == establishment_id,
                    shop_orders.c.status.in_(PENDING),
                )
                .order_by(shop_orders.c.placed_at, shop_orders.c.receipt)
            )
        )
        found = []
        for r in rows:
            refund = int(r.total_pence) - int(r.refunded_pence)
            await conn.execute(
                update(shop_orders)
                .where(shop_orders.c.id == r.id, shop_orders.c.status.in_(PENDING))
                .values(status=OrderStatus.CANCELLED.value, refunded_pence=int(r.total_pence))
            )
            if refund > 0:
                posting = Posting(
                    MoneyAccount.SPENDS, EntryKind.REFUND, refund, r.receipt, order_id=r.id
                )
                (entry,) = await self._money.write(
                    conn, actor, prisoner_id, establishment_id, [posting]
                )
                written.append(_Written(establishment_id, entry, posting))
            found.append(_Cancelled(r.id, r.receipt, refund))
        return found

    def _after(
        self,
        actor: Principal,
        prisoner_id: str,
        establishment_id: str,
        cancelled: list[_Cancelled],
        written: list[_Written],
    ) -> Any:
        """The audit events, written once the movement has committed."""

        async def record() -> None:
            for c in cancelled:
                await self._audit.append(
                    AuditRecord(
                        Action.ORDER_CANCELLED,
                        actor.account_id,
                        establishment=establishment_id,
                        subject=prisoner_id,
                        details={
                            "order": c.order_id,
                            "receipt": c.receipt,
                            "refunded_pence": c.refund_pence,
                        },
                    )
                )
            for w in written:
                await self._money.audit_entry(
                    actor, w.establishment_id, prisoner_id, w.entry_id, w.posting
                )

        return record
