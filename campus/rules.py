"""Who may see what in the campus: the rules both services ask.

- A course is in an establishment's catalogue if it is that establishment's or shared
  (`establishment_id` null); another establishment's course is 'no such course' (404).
- Education staff hold the permission and belong to the education department of the
  establishment they act in (`EDUCATION`).
- A learner's record is theirs wherever they are; staff see it only while the learner is
  a prisoner of the establishment the staff member acts in, so after a transfer the new
  establishment's staff see it and the old one's no longer do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import accounts, department_members, departments
from core.errors import Code, ServiceError
from core.identity import Principal, Role
from core.identity.types import SYSTEM_ACTOR
from core.permissions import Permission, acts_in, require_permission

# The name a lockdown closes (scheduling.suspension).
MODULE = "campus"
EDUCATION = "education"
NO_COURSE = "No such course."
NO_LEARNER = "No such learner."

Gate = Callable[[Principal, str], Awaitable[None]]


def visible_to(establishment_id: str | None) -> Any:
    from campus.tables import campus_courses

    return (campus_courses.c.establishment_id == establishment_id) | (
        campus_courses.c.establishment_id.is_(None)
    )


async def in_education(conn: AsyncConnection, actor: Principal) -> bool:
    found = await conn.scalar(
        select(func.count())
        .select_from(department_members)
        .join(departments, departments.c.id == department_members.c.department_id)
        .where(
            department_members.c.account_id == actor.account_id,
            departments.c.establishment_id == actor.establishment_id,
            departments.c.code == EDUCATION,
        )
    )
    return bool(found)


def is_system(actor: Principal) -> bool:
    """The service itself (the demo, an operator's seed): the one author of shared courses."""
    return actor.account_id == SYSTEM_ACTOR


async def require_education(
    conn: AsyncConnection, actor: Principal, permission: Permission = Permission.CAMPUS_TEACH
) -> None:
    if is_system(actor):
        return
    require_permission(actor, permission)
    if actor.establishment_id is None or not await in_education(conn, actor):
        raise ServiceError(
            Code.FORBIDDEN,
            "Only the education department's staff may do this.",
            extra={"reason": "not_education"},
        )


async def learner_here(conn: AsyncConnection, actor: Principal, learner_id: object) -> str:
    """A prisoner now held where the staff member acts, or 'no such learner' (404)."""
    if not isinstance(learner_id, str) or not 0 < len(learner_id) <= 64:
        raise ServiceError(Code.NOT_FOUND, NO_LEARNER)
    row = (
        await conn.execute(
            select(accounts.c.establishment_id, accounts.c.role).where(accounts.c.id == learner_id)
        )
    ).first()
    if (
        row is None
        or row.role != Role.PRISONER.value
        or row.establishment_id is None
        or not acts_in(actor, row.establishment_id)
        or row.establishment_id != actor.establishment_id
    ):
        raise ServiceError(Code.NOT_FOUND, NO_LEARNER)
    return learner_id
