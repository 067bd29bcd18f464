"""Departments of an establishment, and the staff who belong to them.

Every establishment starts with the built-in ones (`BUILT_IN`, created with the
establishment and by migration 0012 for those that existed); it may add its
own. Staff belong to one or more; the queues later modules build (kiosk
applications, campus, visits) are per department.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.access.seed import BUILT_IN
from core.access.serving import serves
from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts, department_members, departments, establishments
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.identity import validation
from core.identity.types import Principal, Role
from core.permissions import Permission, acts_in, require_in, require_permission

CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
MAX_MEMBERS = 500


@dataclass(frozen=True)
class Department:
    id: str
    establishment_id: str
    code: str
    name: str
    built_in: bool
    members: tuple[str, ...]


def department_code(value: object) -> str:
    if not isinstance(value, str) or not CODE.fullmatch(value.strip().lower()):
        raise ServiceError(
            Code.INVALID_REQUEST,
            "A department code is 2 to 32 lower-case letters, digits or dashes.",
        )
    return value.strip().lower()


def in_scope(actor: Principal, establishment_id: str) -> None:
    """Another establishment's departments do not exist for this actor (404)."""
    require_in(actor, establishment_id)


class Departments:
    def __init__(self, db: Database, *, clock: Clock, audit: AuditSink) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    async def of_establishment(self, actor: Principal, establishment_id: str) -> list[Department]:
        require_permission(actor, Permission.DEPARTMENTS_READ)
        in_scope(actor, establishment_id)
        async with self._db.connect() as conn:
            return await self._list(conn, establishment_id)

    async def _list(self, conn: AsyncConnection, establishment_id: str) -> list[Department]:
        exists = await conn.scalar(
            select(establishments.c.id).where(establishments.c.id == establishment_id)
        )
        if exists is None:
            raise ServiceError(Code.NOT_FOUND, "No such establishment.")
        rows = list(
            await conn.execute(
                select(departments)
                .where(departments.c.establishment_id == establishment_id)
                .order_by(departments.c.name)
            )
        )
        members: dict[str, list[str]] = {}
        if rows:
            for m in await conn.execute(
                select(department_members.c.department_id, department_members.c.account_id)
                .where(department_members.c.department_id.in_([r.id for r in rows]))
                .order_by(department_members.c.account_id)
            ):
                members.setdefault(m.department_id, []).append(m.account_id)
        built_in = {code for code, _ in BUILT_IN}
        return [
            Department(
                r.id,
                r.establishment_id,
                r.code,
                r.name,
                r.code in built_in,
                tuple(members.get(r.id, [])),
            )
            for r in rows
        ]

    async def add(
        self, actor: Principal, establishment_id: str, code: object, name: object
    ) -> Department:
        require_permission(actor, Permission.DEPARTMENTS_MANAGE)
        in_scope(actor, establishment_id)
        the_code = department_code(code)
        the_name = validation.display_name(name)
        dept_id = str(uuid.uuid4())
        async with self._db.begin() as conn:
            exists = await conn.scalar(
                select(establishments.c.id).where(establishments.c.id == establishment_id)
            )
            if exists is None:
                raise ServiceError(Code.NOT_FOUND, "No such establishment.")
            taken = await conn.scalar(
                select(departments.c.id).where(
                    (departments.c.establishment_id == establishment_id)
                    & (departments.c.code == the_code)
                )
            )
            if taken is not None:
                raise ServiceError(
                    Code.CONFLICT, "This establishment has a department with this code."
                )
            await conn.execute(
                insert(departments).values(
                    id=dept_id,
                    establishment_id=establishment_id,
                    code=the_code,
                    name=the_name,
                    created_at=self._clock.now(),
                )
            )
        await self._audit.append(
            AuditRecord(
                action=Action.DEPARTMENT_ADDED,
                actor=actor.account_id,
                establishment=establishment_id,
                subject=dept_id,
                details={"code": the_code},
            )
        )
        return Department(dept_id, establishment_id, the_code, the_name, False, ())

    async def set_members(
        self, actor: Principal, department_id: str, account_ids: object
    ) -> Department:
        """Replace the department's members: staff of its establishment, never prisoners."""
        require_permission(actor, Permission.DEPARTMENTS_MANAGE)
        if (
            not isinstance(account_ids, list)
            or len(account_ids) > MAX_MEMBERS
            or not all(isinstance(a, str) and 0 < len(a) <= 64 for a in account_ids)
        ):
            raise ServiceError(Code.INVALID_REQUEST, "account_ids is a list of staff account ids.")
        wanted = sorted(set(account_ids))
        async with self._db.begin() as conn:
            row = (
                await conn.execute(select(departments).where(departments.c.id == department_id))
            ).first()
            if row is None or not acts_in(actor, row.establishment_id):
                raise ServiceError(Code.NOT_FOUND, "No such department.")
            if wanted:
                staff = {
                    r.id: r
                    for r in await conn.execute(
                        select(accounts.c.id, accounts.c.role).where(accounts.c.id.in_(wanted))
                    )
                }
                for account_id in wanted:
                    found = staff.get(account_id)
                    if found is None or found.role == Role.PRISONER.value:
                        raise ServiceError(Code.INVALID_REQUEST, "Members are staff accounts.")
                    if not await serves(conn, account_id, row.establishment_id):
                        raise ServiceError(
                            Code.INVALID_REQUEST,
                            "Members are staff who serve the department's establishment.",
                        )
            await conn.execute(
                delete(department_members).where(
                    department_members.c.department_id == department_id
                )
            )
            now = self._clock.now()
            for account_id in wanted:
                await conn.execute(
                    insert(department_members).values(
                        department_id=department_id, account_id=account_id, created_at=now
                    )
                )
            found_list = await self._list(conn, row.establishment_id)
        await self._audit.append(
            AuditRecord(
                action=Action.DEPARTMENT_MEMBERS_SET,
                actor=actor.account_id,
                establishment=row.establishment_id,
                subject=department_id,
                details={"members": len(wanted)},
            )
        )
        return next(d for d in found_list if d.id == department_id)

    async def of_account(self, conn: AsyncConnection, account_id: str) -> list[str]:
        """The codes of the departments an account belongs to."""
        return [
            r.code
            for r in await conn.execute(
                select(departments.c.code)
                .join(department_members, department_members.c.department_id == departments.c.id)
                .where(department_members.c.account_id == account_id)
                .order_by(departments.c.code)
            )
        ]
