"""Applications: a prisoner's written request to a department, its reply, and its
escalation to a complaint and then an appeal.

Each stage is its own row with its own receipt, target and reply
(`kiosk.application_tables`). Who sees a stage:
- the prisoner who sent it, always (reading one's own works during a lockdown);
- staff who are members of its department, unless it is confidential;
- a confidential complaint (and its appeal) only the governor, never the wing.
Anyone else is told it does not exist (404), as another establishment's are.

The words are personal data: sealed under the prisoner's own key, never logged,
and refused if they look like HTML (the pages show them as text anyway).
Sending and escalating pass `require_open` first (a lockdown answers 423 before the
request is looked at, whatever it holds); a staff
member's reading of a prisoner's applications, and every reply, is an audit event.
A reply reaches the prisoner's inbox as a notice holding only the receipt.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import accounts, department_members, departments
from core.errors import Code, ServiceError
from core.events import Action
from core.fields import SealedField
from core.identity import Principal, Role
from core.permissions import Permission, acts_in, allows, require_permission
from kiosk.application_tables import kiosk_application_targets, kiosk_applications
from kiosk.sealing import SealingService
from scheduling.notices import queue_notice

# The name a lockdown closes (scheduling.suspension).
MODULE = "applications"
STAGES = ("application", "complaint", "appeal")
NEXT_STAGE = {"application": "complaint", "complaint": "appeal"}
DEFAULT_TARGET_DAYS = {"application": 7, "complaint": 5, "appeal": 10}
MAX_TARGET_DAYS = 90
MAX_TEXT = 2000
MAX_KEY = 64
# Something a browser would read as markup: a tag, a comment or a doctype.
HTML = re.compile(r"<\s*[/!?]?\s*[a-zA-Z]|<!--")
KEY = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
RECEIPT_ALPHABET = "ACDEFHJKLMNPRTUVWXY3479"
NOTICE_KIND = "application_answered"

TEXT_COLUMN = "kiosk_applications.text"
REPLY_COLUMN = "kiosk_applications.reply"


@dataclass(frozen=True)
class DepartmentChoice:
    id: str
    code: str
    name: str


@dataclass(frozen=True)
class Application:
    id: str
    receipt: str
    establishment_id: str
    prisoner_id: str
    department_id: str
    department_code: str
    department_name: str
    stage: str
    parent_id: str | None
    confidential: bool
    status: str
    text: str | None
    reply: str | None
    created_at: datetime
    target_at: datetime
    answered_at: datetime | None
    # Hours from sending to the reply (or until now, while open).
    taken_hours: float
    overdue: bool
    # The next stage's id, once escalated.
    escalated_to: str | None
    prison_number: str | None = None
    prisoner_name: str | None = None


def application_text(value: object, name: str = "text") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ServiceError(Code.INVALID_REQUEST, f"Write your {name}.")
    words = value.strip()
    if len(words) > MAX_TEXT:
        raise ServiceError(
            Code.INVALID_REQUEST,
            f"The {name} is at most {MAX_TEXT} characters.",
            extra={"max": MAX_TEXT},
        )
    if HTML.search(words):
        raise ServiceError(Code.INVALID_REQUEST, f"Write the {name} as plain words, without HTML.")
    return words


def idempotency_key(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not KEY.match(value):
        raise ServiceError(
            Code.INVALID_REQUEST, "An Idempotency-Key is 8 to 64 letters, digits or . _ : -"
        )
    return value


def _receipt() -> str:
    return "A" + "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(7))


def _target_days(value: object, stage: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TARGET_DAYS:
        raise ServiceError(
            Code.INVALID_REQUEST, f"The {stage} target is 1 to {MAX_TARGET_DAYS} whole days."
        )
    return value


class Applications(SealingService):
    # ------------------------------------------------------------ prisoner

    async def departments(self, actor: Principal) -> list[DepartmentChoice]:
        """The departments the prisoner may write to: their establishment's."""
        require_permission(actor, Permission.APPLICATIONS_SEND)
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(departments.c.id, departments.c.code, departments.c.name)
                .where(departments.c.establishment_id == actor.establishment_id)
                .order_by(departments.c.name)
            )
            return [DepartmentChoice(r.id, r.code, r.name) for r in rows]

    async def send(
        self, actor: Principal, *, department_id: object, text: object, key: object = None
    ) -> tuple[Application, bool]:
        """A new application and whether it was new (False: the same key was sent before)."""
        require_permission(actor, Permission.APPLICATIONS_SEND)
        await self._gate(actor, MODULE)
        words = application_text(text)
        the_key = idempotency_key(key)
        if not isinstance(department_id, str) or not 0 < len(department_id) <= 64:
            raise ServiceError(Code.INVALID_REQUEST, "Choose a department.")
        if the_key is not None:
            earlier = await self._by_key(actor, the_key)
            if earlier is not None:
                return earlier, False
        app_id = str(uuid.uuid4())
        now = self._clock.now()
        try:
            async with self._db.begin() as conn:
                dept = (
                    await conn.execute(
                        select(departments.c.id, departments.c.establishment_id).where(
                            departments.c.id == department_id
                        )
                    )
                ).first()
                if dept is None or dept.establishment_id != actor.establishment_id:
                    raise ServiceError(Code.NOT_FOUND, "No such department.")
                days = await self._target(conn, department_id, "application")
                await conn.execute(
                    insert(kiosk_applications).values(
                        id=app_id,
                        receipt=_receipt(),
                        establishment_id=actor.establishment_id,
                        prisoner_id=actor.account_id,
                        department_id=department_id,
                        stage="application",
                        parent_id=None,
                        confidential=False,
                        status="open",
                        text_enc=await self._subject_keys.seal(
                            conn, actor.account_id, column=TEXT_COLUMN, row=app_id, text=words
                        ),
                        created_at=now,
                        target_at=now + timedelta(days=days),
                        idempotency_key=the_key,
                    )
                )
        except IntegrityError:
            # Two taps with one key at once: the other one's insert won.
            earlier = await self._by_key(actor, the_key) if the_key else None
            if earlier is None:
                raise
            return earlier, False
        await self._record(
            Action.APPLICATION_SENT, actor, actor.establishment_id, app_id, stage="application"
        )
        return (await self._one(actor, app_id, log=False)), True

    async def escalate(
        self,
        actor: Principal,
        application_id: object,
        *,
        text: object,
        confidential: object = False,
        key: object = None,
    ) -> tuple[Application, bool]:
        """The next stage of an answered one: an application becomes a complaint, a
        complaint an appeal (an appeal of a confidential complaint stays confidential)."""
        require_permission(actor, Permission.APPLICATIONS_SEND)
        await self._gate(actor, MODULE)
        words = application_text(text)
        the_key = idempotency_key(key)
        if not isinstance(confidential, bool):
            raise ServiceError(Code.INVALID_REQUEST, "confidential is true or false.")
        if the_key is not None:
            earlier = await self._by_key(actor, the_key)
            if earlier is not None:
                return earlier, False
        new_id = str(uuid.uuid4())
        now = self._clock.now()
        try:
            async with self._db.begin() as conn:
                parent = (
                    await conn.execute(
                        select(kiosk_applications).where(kiosk_applications.c.id == application_id)
                    )
                ).first()
                if parent is None or parent.prisoner_id != actor.account_id:
                    raise ServiceError(Code.NOT_FOUND, "No such application.")
                stage = NEXT_STAGE.get(parent.stage)
                if stage is None:
                    raise ServiceError(Code.CONFLICT, "An appeal is the last stage.")
                if parent.status != "answered":
                    raise ServiceError(
                        Code.CONFLICT, "Wait for the reply before taking it further."
                    )
                secret = parent.confidential if stage == "appeal" else confidential
                days = await self._target(conn, parent.department_id, stage)
                await conn.execute(
                    insert(kiosk_applications).values(
                        id=new_id,
                        receipt=_receipt(),
                        establishment_id=parent.establishment_id,
                        prisoner_id=actor.account_id,
                        department_id=parent.department_id,
                        stage=stage,
                        parent_id=parent.id,
                        confidential=secret,
                        status="open",
                        text_enc=await self._subject_keys.seal(
                            conn, actor.account_id, column=TEXT_COLUMN, row=new_id, text=words
                        ),
                        created_at=now,
                        target_at=now + timedelta(days=days),
                        idempotency_key=the_key,
                    )
                )
        except IntegrityError:
            earlier = await self._by_key(actor, the_key) if the_key else None
            if earlier is None:
                raise ServiceError(Code.CONFLICT, "This was already taken further.") from None
            return earlier, False
        await self._record(
            Action.APPLICATION_ESCALATED,
            actor,
            parent.establishment_id,
            new_id,
            stage=stage,
            parent=parent.id,
            confidential=secret,
        )
        return (await self._one(actor, new_id, log=False)), True

    async def mine(self, actor: Principal) -> list[Application]:
        require_permission(actor, Permission.APPLICATIONS_SEND)
        query = (
            self._query()
            .where(kiosk_applications.c.prisoner_id == actor.account_id)
            .order_by(kiosk_applications.c.created_at.desc(), kiosk_applications.c.id)
        )
        async with self._db.connect() as conn:
            return await self._present(conn, [r._mapping for r in await conn.execute(query)])

    # --------------------------------------------------------------- staff

    async def queue(
        self, actor: Principal, department_id: object, *, include_answered: bool = False
    ) -> list[Application]:
        """A department's applications for its members; `confidential` is the governor's
        queue of confidential complaints and appeals. Reading it is logged per prisoner."""
        require_permission(actor, Permission.APPLICATIONS_ANSWER)
        if department_id == "confidential":
            require_permission(actor, Permission.APPLICATIONS_CONFIDENTIAL)
            where: Any = and_(
                kiosk_applications.c.establishment_id == actor.establishment_id,
                kiosk_applications.c.confidential.is_(True),
            )
        else:
            async with self._db.connect() as conn:
                if not await self._member(conn, actor, department_id):
                    raise ServiceError(Code.NOT_FOUND, "No such department.")
            where = and_(
                kiosk_applications.c.department_id == department_id,
                kiosk_applications.c.confidential.is_(False),
            )
        if not include_answered:
            where = and_(where, kiosk_applications.c.status == "open")
        query = (
            self._query()
            .where(where)
            .order_by(kiosk_applications.c.target_at, kiosk_applications.c.id)
            .limit(200)
        )
        async with self._db.connect() as conn:
            found = await self._present(
                conn, [r._mapping for r in await conn.execute(query)], staff=True
            )
        await self._log_reading(actor, found)
        return found

    async def my_queues(self, actor: Principal) -> list[DepartmentChoice]:
        """The queues this member of staff has: their departments (and the governor's)."""
        require_permission(actor, Permission.APPLICATIONS_ANSWER)
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(departments.c.id, departments.c.code, departments.c.name)
                .join(
                    department_members,
                    department_members.c.department_id == departments.c.id,
                )
                .where(
                    (department_members.c.account_id == actor.account_id)
                    & (departments.c.establishment_id == actor.establishment_id)
                )
                .order_by(departments.c.name)
            )
            found = [DepartmentChoice(r.id, r.code, r.name) for r in rows]
        if allows(actor, Permission.APPLICATIONS_CONFIDENTIAL):
            found.insert(0, DepartmentChoice("confidential", "confidential", "Confidential"))
        return found

    async def answer(
        self, actor: Principal, application_id: object, *, reply: object
    ) -> Application:
        require_permission(actor, Permission.APPLICATIONS_ANSWER)
        words = application_text(reply, "reply")
        now = self._clock.now()
        async with self._db.begin() as conn:
            row = (
                await conn.execute(
                    select(kiosk_applications).where(kiosk_applications.c.id == application_id)
                )
            ).first()
            if row is None or not await self._may_answer(conn, actor, row._mapping):
                raise ServiceError(Code.NOT_FOUND, "No such application.")
            done = await conn.execute(
                update(kiosk_applications)
                .where(
                    (kiosk_applications.c.id == row.id) & (kiosk_applications.c.status == "open")
                )
                .values(
                    status="answered",
                    answered_at=now,
                    answered_by=actor.account_id,
                    reply_enc=await self._subject_keys.seal(
                        conn, row.prisoner_id, column=REPLY_COLUMN, row=row.id, text=words
                    ),
                )
            )
            if done.rowcount != 1:
                raise ServiceError(Code.CONFLICT, "This has already been answered.")
            await self._notify(conn, row.prisoner_id, row.receipt)
        await self._record(
            Action.APPLICATION_ANSWERED,
            actor,
            row.establishment_id,
            row.id,
            prisoner=row.prisoner_id,
            stage=row.stage,
            on_time=now <= row.target_at,
        )
        return await self._one(actor, row.id, log=False)

    async def set_targets(
        self, actor: Principal, department_id: object, targets: Mapping[str, object]
    ) -> dict[str, int]:
        require_permission(actor, Permission.APPLICATION_TARGETS_MANAGE)
        days = {stage: _target_days(targets.get(stage), stage) for stage in STAGES}
        async with self._db.begin() as conn:
            dept = (
                await conn.execute(select(departments).where(departments.c.id == department_id))
            ).first()
            if dept is None or not acts_in(actor, dept.establishment_id):
                raise ServiceError(Code.NOT_FOUND, "No such department.")
            values = {
                "application_days": days["application"],
                "complaint_days": days["complaint"],
                "appeal_days": days["appeal"],
                "updated_at": self._clock.now(),
            }
            done = await conn.execute(
                update(kiosk_application_targets)
                .where(kiosk_application_targets.c.department_id == dept.id)
                .values(**values)
            )
            if done.rowcount == 0:
                await conn.execute(
                    insert(kiosk_application_targets).values(department_id=dept.id, **values)
                )
        await self._record(
            Action.APPLICATION_TARGETS_SET, actor, dept.establishment_id, dept.id, **days
        )
        return days

    async def targets(self, actor: Principal, department_id: object) -> dict[str, int]:
        require_permission(actor, Permission.DEPARTMENTS_READ)
        async with self._db.connect() as conn:
            dept = (
                await conn.execute(select(departments).where(departments.c.id == department_id))
            ).first()
            if dept is None or not acts_in(actor, dept.establishment_id):
                raise ServiceError(Code.NOT_FOUND, "No such department.")
            return {stage: await self._target(conn, dept.id, stage) for stage in STAGES}

    # ------------------------------------------------------------- reading

    async def get(self, actor: Principal, application_id: object) -> Application:
        """One application, to its prisoner or to staff who may answer it (logged)."""
        if actor.role == Role.PRISONER:
            require_permission(actor, Permission.APPLICATIONS_SEND)
        else:
            require_permission(actor, Permission.APPLICATIONS_ANSWER)
        return await self._one(actor, application_id, log=True)

    async def _one(self, actor: Principal, application_id: object, *, log: bool) -> Application:
        async with self._db.connect() as conn:
            row = (
                await conn.execute(self._query().where(kiosk_applications.c.id == application_id))
            ).first()
            if row is None:
                raise ServiceError(Code.NOT_FOUND, "No such application.")
            m = row._mapping
            own = actor.role == Role.PRISONER and m["prisoner_id"] == actor.account_id
            if not own and not (
                actor.role != Role.PRISONER and await self._may_answer(conn, actor, m)
            ):
                raise ServiceError(Code.NOT_FOUND, "No such application.")
            (found,) = await self._present(conn, [m], staff=not own)
        if log and not own:
            await self._log_reading(actor, [found])
        return found

    async def _may_answer(
        self, conn: AsyncConnection, actor: Principal, m: Mapping[Any, Any]
    ) -> bool:
        if not allows(actor, Permission.APPLICATIONS_ANSWER):
            return False
        if actor.establishment_id != m["establishment_id"]:
            return False
        if m["confidential"]:
            return allows(actor, Permission.APPLICATIONS_CONFIDENTIAL)
        return await self._member(conn, actor, m["department_id"])

    async def _member(self, conn: AsyncConnection, actor: Principal, department_id: object) -> bool:
        found = await conn.scalar(
            select(departments.c.id)
            .join(department_members, department_members.c.department_id == departments.c.id)
            .where(
                (departments.c.id == department_id)
                & (departments.c.establishment_id == actor.establishment_id)
                & (department_members.c.account_id == actor.account_id)
            )
        )
        return found is not None

    async def _by_key(self, actor: Principal, key: str) -> Application | None:
        async with self._db.connect() as conn:
            found = await conn.scalar(
                select(kiosk_applications.c.id).where(
                    (kiosk_applications.c.prisoner_id == actor.account_id)
                    & (kiosk_applications.c.idempotency_key == key)
                )
            )
        return None if found is None else await self._one(actor, found, log=False)

    async def _target(self, conn: AsyncConnection, department_id: str, stage: str) -> int:
        row = (
            await conn.execute(
                select(kiosk_application_targets).where(
                    kiosk_application_targets.c.department_id == department_id
                )
            )
        ).first()
        if row is None:
            return DEFAULT_TARGET_DAYS[stage]
        return int(getattr(row, f"{stage}_days"))

    def _query(self) -> Any:
        child = kiosk_applications.alias("child")
        return (
            select(
                kiosk_applications,
                departments.c.code.label("department_code"),
                departments.c.name.label("department_name"),
                child.c.id.label("escalated_to"),
                accounts.c.display_name_enc,
                accounts.c.prison_number_enc,
            )
            .join(departments, departments.c.id == kiosk_applications.c.department_id)
            .join(accounts, accounts.c.id == kiosk_applications.c.prisoner_id)
            .outerjoin(child, child.c.parent_id == kiosk_applications.c.id)
        )

    async def _present(
        self, conn: AsyncConnection, rows: Sequence[Mapping[Any, Any]], *, staff: bool = False
    ) -> list[Application]:
        fields = []
        for m in rows:
            fields.append(SealedField(m["text_enc"], m["prisoner_id"], TEXT_COLUMN, m["id"]))
            if m["reply_enc"] is not None:
                fields.append(SealedField(m["reply_enc"], m["prisoner_id"], REPLY_COLUMN, m["id"]))
        opened = iter(await self._subject_keys.open_many(conn, fields))
        now = self._clock.now()
        found = []
        for m in rows:
            body = next(opened)
            reply = next(opened) if m["reply_enc"] is not None else None
            end = m["answered_at"] or now
            found.append(
                Application(
                    id=m["id"],
                    receipt=m["receipt"],
                    establishment_id=m["establishment_id"],
                    prisoner_id=m["prisoner_id"],
                    department_id=m["department_id"],
                    department_code=m["department_code"],
                    department_name=m["department_name"],
                    stage=m["stage"],
                    parent_id=m["parent_id"],
                    confidential=m["confidential"],
                    status=m["status"],
                    text=body if isinstance(body, str) else None,
                    reply=reply if isinstance(reply, str) else None,
                    created_at=m["created_at"],
                    target_at=m["target_at"],
                    answered_at=m["answered_at"],
                    taken_hours=round((end - m["created_at"]).total_seconds() / 3600, 1),
                    overdue=end > m["target_at"],
                    escalated_to=m["escalated_to"],
                    prison_number=self._open(
                        m["prison_number_enc"], m["prisoner_id"], "prison_number"
                    )
                    if staff
                    else None,
                    prisoner_name=self._open(
                        m["display_name_enc"], m["prisoner_id"], "display_name"
                    )
                    if staff
                    else None,
                )
            )
        return found

    def _open(self, blob: bytes | None, row: str, column: str) -> str | None:
        return None if blob is None else self._cipher.decrypt(blob, row=row, column=column)

    # -------------------------------------------------------------- effects

    async def _notify(self, conn: AsyncConnection, recipient: str, receipt: str) -> None:
        """A notice in the prisoner's inbox: the receipt only; the page words it and the
        reply is read on the Applications screen."""
        await queue_notice(conn, recipient, NOTICE_KIND, now=self._clock.now(), receipt=receipt)

    async def _log_reading(self, actor: Principal, shown: Sequence[Application]) -> None:
        by_prisoner: dict[tuple[str, str], list[str]] = {}
        for a in shown:
            if a.prisoner_id != actor.account_id:
                by_prisoner.setdefault((a.establishment_id, a.prisoner_id), []).append(a.id)
        for (establishment, prisoner), ids in sorted(by_prisoner.items()):
            await self._record(
                Action.APPLICATIONS_READ, actor, establishment, prisoner, applications=ids
            )
