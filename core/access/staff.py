"""The admin's view of staff accounts: role, establishments served, departments, email.

A role is one of `core.permissions`' table; naming one that does not exist is
a clear refusal. Changing a role takes effect on the account's next request
(`IdentityService.authenticate` reads the role from the store, not the token).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from core.access.serving import replace_served, served_ids
from core.clock import Clock
from core.db.engine import Database
from core.db.schema import (
    accounts,
    department_members,
    departments,
    establishments,
    staff_emails,
    staff_establishments,
)
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import FieldCipher
from core.identity.types import MULTI_ESTABLISHMENT_ROLES, STAFF_ROLES, Principal, Role
from core.permissions import Permission, acts_in, allows, parse_role, require_permission

MAX_SERVED = 20


@dataclass(frozen=True)
class StaffMember:
    id: str
    username: str | None
    display_name: str
    role: Role
    establishment_id: str | None
    serves: tuple[str, ...]
    departments: tuple[str, ...]
    email: str | None


class StaffDirectory:
    def __init__(
        self, db: Database, *, clock: Clock, audit: AuditSink, cipher: FieldCipher
    ) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit
        self._cipher = cipher

    async def list(self, actor: Principal) -> list[StaffMember]:
        """Staff of the actor's establishment (home or served); an admin's: all staff."""
        require_permission(actor, Permission.STAFF_MANAGE)
        a = accounts.c
        query = select(a.id).where(a.role != Role.PRISONER.value)
        if not allows(actor, Permission.ANY_ESTABLISHMENT):
            served_here = select(staff_establishments.c.account_id).where(
                staff_establishments.c.establishment_id == actor.establishment_id
            )
            query = query.where(
                (a.establishment_id == actor.establishment_id) | a.id.in_(served_here)
            )
        async with self._db.connect() as conn:
            ids = [r.id for r in await conn.execute(query)]
        found = [await self.member(i) for i in ids]
        return sorted(found, key=lambda m: (m.display_name.lower(), m.id))

    async def member(self, account_id: str) -> StaffMember:
        async with self._db.connect() as conn:
            row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
            # Prisoners' and former prisoners' (community) accounts are not staff.
            if row is None or row.role not in STAFF_ROLES:
                raise ServiceError(Code.NOT_FOUND, "No such account.")
            serves = await served_ids(conn, account_id)
            depts = [
                r.id
                for r in await conn.execute(
                    select(departments.c.id)
                    .join(
                        department_members,
                        department_members.c.department_id == departments.c.id,
                    )
                    .where(department_members.c.account_id == account_id)
                    .order_by(departments.c.code)
                )
            ]
            email = await conn.scalar(
                select(staff_emails.c.email).where(staff_emails.c.account_id == account_id)
            )
        return StaffMember(
            id=row.id,
            username=row.username,
            display_name=self._cipher.decrypt(
                row.display_name_enc, row=row.id, column="display_name"
            ),
            role=Role(row.role),
            establishment_id=row.establishment_id,
            serves=tuple(serves),
            departments=tuple(depts),
            email=email,
        )

    async def find(self, actor: Principal, username: object) -> StaffMember:
        """A staff account by its sign-in name, in the actor's scope (the CLI names people so)."""
        require_permission(actor, Permission.STAFF_MANAGE)
        if not isinstance(username, str) or not 0 < len(username.strip()) <= 64:
            raise ServiceError(Code.NOT_FOUND, "No such account.")
        async with self._db.connect() as conn:
            account_id = await conn.scalar(
                select(accounts.c.id).where(accounts.c.username == username.strip().lower())
            )
        if account_id is None:
            raise ServiceError(Code.NOT_FOUND, "No such account.")
        return await self._visible(actor, account_id)

    async def _visible(self, actor: Principal, account_id: str) -> StaffMember:
        member = await self.member(account_id)
        if not allows(actor, Permission.ANY_ESTABLISHMENT) and (
            actor.establishment_id not in member.serves
        ):
            raise ServiceError(Code.NOT_FOUND, "No such account.")
        return member

    async def set_role(self, actor: Principal, account_id: str, role: object) -> StaffMember:
        require_permission(actor, Permission.STAFF_MANAGE)
        new_role = parse_role(role)
        if new_role not in STAFF_ROLES:
            raise ServiceError(Code.INVALID_REQUEST, "A staff account cannot become a prisoner's.")
        member = await self._visible(actor, account_id)
        if account_id == actor.account_id:
            raise ServiceError(Code.INVALID_REQUEST, "You cannot change your own role.")
        if new_role == Role.ADMIN and not allows(actor, Permission.ANY_ESTABLISHMENT):
            raise ServiceError(Code.FORBIDDEN)
        if new_role != Role.ADMIN and member.establishment_id is None:
            raise ServiceError(
                Code.INVALID_REQUEST, "Staff other than admins need an establishment."
            )
        if len(member.serves) > 1 and new_role not in MULTI_ESTABLISHMENT_ROLES:
            raise ServiceError(
                Code.INVALID_REQUEST,
                "Only clinicians and keyworkers serve several establishments; "
                "remove the others first.",
            )
        async with self._db.begin() as conn:
            await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(role=new_role.value)
            )
        await self._audit.append(
            AuditRecord(
                action=Action.ROLE_CHANGED,
                actor=actor.account_id,
                establishment=member.establishment_id,
                subject=account_id,
                details={"from": member.role.value, "to": new_role.value},
            )
        )
        return await self.member(account_id)

    async def set_served(
        self, actor: Principal, account_id: str, establishment_ids: object
    ) -> StaffMember:
        """The establishments a clinician or keyworker serves besides their home one."""
        require_permission(actor, Permission.STAFF_MANAGE)
        if (
            not isinstance(establishment_ids, list)
            or len(establishment_ids) > MAX_SERVED
            or not all(isinstance(e, str) and 0 < len(e) <= 64 for e in establishment_ids)
        ):
            raise ServiceError(
                Code.INVALID_REQUEST, "establishment_ids is a list of establishment ids."
            )
        member = await self._visible(actor, account_id)
        extra = sorted(set(establishment_ids) - {member.establishment_id})
        if extra and member.role not in MULTI_ESTABLISHMENT_ROLES:
            raise ServiceError(
                Code.INVALID_REQUEST, "Only clinicians and keyworkers serve several establishments."
            )
        if not all(acts_in(actor, e) for e in extra):
            raise ServiceError(Code.NOT_FOUND, "No such establishment.")
        async with self._db.begin() as conn:
            known = {
                r.id
                for r in await conn.execute(
                    select(establishments.c.id).where(establishments.c.id.in_(extra))
                )
            }
            if known != set(extra):
                raise ServiceError(Code.NOT_FOUND, "No such establishment.")
            await replace_served(conn, account_id, extra, self._clock.now())
        await self._audit.append(
            AuditRecord(
                action=Action.ESTABLISHMENTS_SERVED,
                actor=actor.account_id,
                establishment=member.establishment_id,
                subject=account_id,
                details={"establishments": [member.establishment_id, *extra]},
            )
        )
        return await self.member(account_id)
