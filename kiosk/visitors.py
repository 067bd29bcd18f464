"""A prisoner's approved visitors: the prisoner asks to add one, visits staff approve or
refuse (with a reason), and only an approved visitor can be booked onto a visit.

Who a visitor is (name, relationship, email, phone) is personal data: sealed under the
prisoner's own key (`kiosk.visit_tables`), never logged or put in a URL, refused if it
looks like HTML. A visitor belongs to the prisoner, not the establishment, so approved
visitors move with them on transfer; the staff who decide are those of the prisoner's
establishment now. Asking is closed during a lockdown (`require_open`); reading is not.
Staff reading a prisoner's visitors is an audit event, as is each request and decision.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import accounts
from core.errors import Code, ServiceError
from core.events import Action
from core.fields import SealedField
from core.identity import Principal, Role
from core.permissions import Permission, acts_in, require_permission
from kiosk.money import in_department
from kiosk.sealing import SealingService
from kiosk.visit_tables import visit_visitors
from scheduling.notices import queue_notice

MODULE = "visits"
DEPARTMENT = "visits"
MAX_VISITORS = 20
MAX_KEY = 64
KEY = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
HTML = re.compile(r"<\s*[/!?]?\s*[a-zA-Z]|<!--|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
EMAIL = re.compile(r"^[^@\s<>]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
PHONE = re.compile(r"^\+?[0-9 ()-]{6,24}$")
LIMITS = {"name": 80, "relationship": 40, "email": 254, "phone": 24, "reason": 500}
APPROVED_NOTICE = "visitor_approved"
REFUSED_NOTICE = "visitor_refused"


def column(name: str) -> str:
    return f"visit_visitors.{name}"


@dataclass(frozen=True)
class Visitor:
    id: str
    prisoner_id: str
    status: str
    name: str | None
    relationship: str | None
    email: str | None
    phone: str | None
    reason: str | None
    requested_at: datetime
    decided_at: datetime | None
    prison_number: str | None = None
    prisoner_name: str | None = None


def words(value: object, field: str, *, required: bool = True) -> str | None:
    """Plain words of at most the field's length, or a clear refusal naming the field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ServiceError(Code.INVALID_REQUEST, f"Write the {field}.", extra={"field": field})
        return None
    if not isinstance(value, str):
        raise ServiceError(Code.INVALID_REQUEST, f"The {field} is text.", extra={"field": field})
    text = value.strip()
    if len(text) > LIMITS[field]:
        raise ServiceError(
            Code.INVALID_REQUEST,
            f"The {field} is at most {LIMITS[field]} characters.",
            extra={"field": field, "max": LIMITS[field]},
        )
    if HTML.search(text):
        raise ServiceError(
            Code.INVALID_REQUEST,
            f"Write the {field} as plain words, without HTML.",
            extra={"field": field},
        )
    if field == "email" and not EMAIL.match(text):
        raise ServiceError(
            Code.INVALID_REQUEST, "This is not an email address.", extra={"field": field}
        )
    if field == "phone" and not PHONE.match(text):
        raise ServiceError(
            Code.INVALID_REQUEST, "A phone number is digits and spaces.", extra={"field": field}
        )
    return text


def idempotency_key(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not KEY.match(value):
        raise ServiceError(
            Code.INVALID_REQUEST, "An Idempotency-Key is 8 to 64 letters, digits or . _ : -"
        )
    return value


async def require_visits_staff(
    conn: AsyncConnection, actor: Principal, establishment_id: str | None
) -> str:
    """Visits staff of this establishment: its officers, or its visits department's staff.
    Another establishment answers as a missing one (404)."""
    require_permission(actor, Permission.VISITS_MANAGE)
    if establishment_id is None or not acts_in(actor, establishment_id):
        raise ServiceError(Code.NOT_FOUND, "No such establishment.")
    if actor.role == Role.DEPARTMENT_STAFF and not await in_department(
        conn, actor.account_id, establishment_id, DEPARTMENT
    ):
        raise ServiceError(
            Code.FORBIDDEN,
            "Only the visits department's staff may do this.",
            extra={"reason": "not_visits"},
        )
    return establishment_id


def own(actor: Principal) -> tuple[str, str]:
    require_permission(actor, Permission.VISITS_BOOK)
    if actor.role != Role.PRISONER or actor.establishment_id is None:
        raise ServiceError(Code.FORBIDDEN, "Only a prisoner books their own visits.")
    return actor.account_id, actor.establishment_id


class Visitors(SealingService):
    # ------------------------------------------------------------ prisoner

    async def request(
        self,
        actor: Principal,
        *,
        name: object,
        relationship: object,
        email: object = None,
        phone: object = None,
        key: object = None,
    ) -> tuple[Visitor, bool]:
        """Ask for a visitor to be approved; the same key again answers the first (False)."""
        prisoner_id, establishment_id = own(actor)
        await self._gate(actor, MODULE)  # closed in a lockdown, before the body is looked at
        details = {
            "name": words(name, "name"),
            "relationship": words(relationship, "relationship"),
            "email": words(email, "email", required=False),
            "phone": words(phone, "phone", required=False),
        }
        the_key = idempotency_key(key)
        if the_key is not None:
            earlier = await self._by_key(prisoner_id, the_key)
            if earlier is not None:
                return earlier, False
        visitor_id = str(uuid.uuid4())
        try:
            async with self._db.begin() as conn:
                count = await conn.scalar(
                    select(func.count())
                    .select_from(visit_visitors)
                    .where(
                        (visit_visitors.c.prisoner_id == prisoner_id)
                        & (visit_visitors.c.status != "refused")
                    )
                )
                if int(count or 0) >= MAX_VISITORS:
                    raise ServiceError(
                        Code.CONFLICT,
                        f"You can have at most {MAX_VISITORS} visitors.",
                        extra={"reason": "too_many_visitors", "max": MAX_VISITORS},
                    )
                sealed: dict[str, bytes | None] = {}
                for field, text in details.items():
                    sealed[f"{field}_enc"] = (
                        None
                        if text is None
                        else await self._subject_keys.seal(
                            conn, prisoner_id, column=column(field), row=visitor_id, text=text
                        )
                    )
                await conn.execute(
                    insert(visit_visitors).values(
                        id=visitor_id,
                        prisoner_id=prisoner_id,
                        status="requested",
                        requested_at=self._clock.now(),
                        idempotency_key=the_key,
                        **sealed,
                    )
                )
        except IntegrityError:
            earlier = await self._by_key(prisoner_id, the_key) if the_key else None
            if earlier is None:
                raise
            return earlier, False
        await self._record(
            Action.VISITOR_REQUESTED, actor, establishment_id, prisoner_id, visitor=visitor_id
        )
        return (await self._read(visit_visitors.c.id == visitor_id))[0], True

    async def mine(self, actor: Principal) -> list[Visitor]:
        prisoner_id, _ = own(actor)
        return await self._read(visit_visitors.c.prisoner_id == prisoner_id)

    # --------------------------------------------------------------- staff

    async def requests(self, actor: Principal, establishment_id: str) -> list[Visitor]:
        """Visitors waiting for a decision, of the prisoners at this establishment now
        (reading is logged per prisoner)."""
        async with self._db.connect() as conn:
            await require_visits_staff(conn, actor, establishment_id)
        found = await self._read(
            (visit_visitors.c.status == "requested")
            & (accounts.c.establishment_id == establishment_id),
            staff=True,
        )
        await self._log_reading(actor, establishment_id, found)
        return found

    async def of_prisoner(self, actor: Principal, prisoner_id: object) -> list[Visitor]:
        async with self._db.connect() as conn:
            establishment_id = await self._prisoner_here(conn, actor, prisoner_id)
        found = await self._read(visit_visitors.c.prisoner_id == prisoner_id, staff=True)
        await self._log_reading(actor, establishment_id, found, prisoner=str(prisoner_id))
        return found

    async def decide(
        self, actor: Principal, visitor_id: object, *, approve: object, reason: object = None
    ) -> Visitor:
        """Approve, or refuse with a reason the prisoner reads; once only."""
        require_permission(actor, Permission.VISITS_MANAGE)
        if not isinstance(approve, bool):
            raise ServiceError(Code.INVALID_REQUEST, "approve is true or false.")
        why = None if approve else words(reason, "reason")
        async with self._db.begin() as conn:
            row = (
                await conn.execute(
                    select(
                        visit_visitors.c.id, visit_visitors.c.prisoner_id, visit_visitors.c.status
                    ).where(visit_visitors.c.id == visitor_id)
                )
            ).first()
            if row is None:
                raise ServiceError(Code.NOT_FOUND, "No such visitor.")
            establishment_id = await self._prisoner_here(conn, actor, row.prisoner_id, visitor=True)
            values: dict[str, Any] = {
                "status": "approved" if approve else "refused",
                "decided_at": self._clock.now(),
                "decided_by": actor.account_id,
            }
            if why is not None:
                values["reason_enc"] = await self._subject_keys.seal(
                    conn, row.prisoner_id, column=column("reason"), row=row.id, text=why
                )
            done = await conn.execute(
                update(visit_visitors)
                .where((visit_visitors.c.id == row.id) & (visit_visitors.c.status == "requested"))
                .values(**values)
            )
            if done.rowcount != 1:
                raise ServiceError(
                    Code.CONFLICT,
                    "This visitor was already decided.",
                    extra={"reason": "already_decided"},
                )
            # The words (and the reason) are read on the Visits screen, not in the inbox.
            await queue_notice(
                conn,
                row.prisoner_id,
                APPROVED_NOTICE if approve else REFUSED_NOTICE,
                now=self._clock.now(),
            )
        await self._record(
            Action.VISITOR_DECIDED,
            actor,
            establishment_id,
            row.prisoner_id,
            visitor=row.id,
            approved=approve,
        )
        return (await self._read(visit_visitors.c.id == row.id, staff=True))[0]

    # ------------------------------------------------------------- internals

    async def _prisoner_here(
        self,
        conn: AsyncConnection,
        actor: Principal,
        prisoner_id: object,
        *,
        visitor: bool = False,
    ) -> str:
        missing = "No such visitor." if visitor else "No such prisoner."
        require_permission(actor, Permission.VISITS_MANAGE)
        row = (
            await conn.execute(
                select(accounts.c.establishment_id, accounts.c.role).where(
                    accounts.c.id == prisoner_id
                )
            )
        ).first()
        if (
            row is None
            or row.role != Role.PRISONER.value
            or not acts_in(actor, row.establishment_id)
        ):
            raise ServiceError(Code.NOT_FOUND, missing)
        return await require_visits_staff(conn, actor, row.establishment_id)

    async def _by_key(self, prisoner_id: str, key: str) -> Visitor | None:
        found = await self._read(
            (visit_visitors.c.prisoner_id == prisoner_id)
            & (visit_visitors.c.idempotency_key == key)
        )
        return found[0] if found else None

    async def _read(self, where: Any, *, staff: bool = False) -> list[Visitor]:
        query = (
            select(
                visit_visitors,
                accounts.c.display_name_enc,
                accounts.c.prison_number_enc,
            )
            .join(accounts, accounts.c.id == visit_visitors.c.prisoner_id)
            .where(where)
            .order_by(visit_visitors.c.requested_at, visit_visitors.c.id)
            .limit(500)
        )
        async with self._db.connect() as conn:
            rows = [r._mapping for r in await conn.execute(query)]
            return await self.present(conn, rows, staff=staff)

    async def present(
        self, conn: AsyncConnection, rows: Sequence[Mapping[Any, Any]], *, staff: bool = False
    ) -> list[Visitor]:
        """Rows of `visit_visitors` (with the prisoner's sealed name and number when
        `staff`) opened into visitors, in one round of key look-ups."""
        names = ("name", "relationship", "email", "phone", "reason")
        fields = [
            SealedField(m[f"{n}_enc"], m["prisoner_id"], column(n), m["id"])
            for m in rows
            for n in names
            if m[f"{n}_enc"] is not None
        ]
        opened = iter(await self._subject_keys.open_many(conn, fields))
        found = []
        for m in rows:
            text: dict[str, str | None] = {}
            for n in names:
                value = next(opened) if m[f"{n}_enc"] is not None else None
                text[n] = value if isinstance(value, str) else None
            found.append(
                Visitor(
                    id=m["id"],
                    prisoner_id=m["prisoner_id"],
                    status=m["status"],
                    requested_at=m["requested_at"],
                    decided_at=m["decided_at"],
                    prison_number=self.open_account(m, "prison_number") if staff else None,
                    prisoner_name=self.open_account(m, "display_name") if staff else None,
                    **text,
                )
            )
        return found

    async def open_email(
        self, conn: AsyncConnection, blob: bytes, prisoner_id: str, visitor_id: str
    ) -> str | None:
        """A visitor's email address, opened when a letter is sent (never kept open)."""
        (opened,) = await self._subject_keys.open_many(
            conn, [SealedField(blob, prisoner_id, column("email"), visitor_id)]
        )
        return opened if isinstance(opened, str) else None

    def open_account(self, m: Mapping[Any, Any], name: str) -> str | None:
        """The prisoner's own `prison_number` or `display_name` from an accounts row."""
        blob = m.get(f"{name}_enc")
        if blob is None:
            return None
        return self._cipher.decrypt(blob, row=m["prisoner_id"], column=name)

    async def _log_reading(
        self,
        actor: Principal,
        establishment_id: str,
        shown: Sequence[Visitor],
        *,
        prisoner: str | None = None,
    ) -> None:
        by_prisoner: dict[str, list[str]] = {p: [] for p in [prisoner] if p}
        for v in shown:
            by_prisoner.setdefault(v.prisoner_id, []).append(v.id)
        for who, ids in sorted(by_prisoner.items()):
            await self._record(Action.VISITORS_READ, actor, establishment_id, who, visitors=ids)
