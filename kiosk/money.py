"""Each prisoner's money: private cash and spends, as an append-only ledger of pence.

Every credit (wages, money sent in, refunds) and debit (orders, transfers) is a row of
`money_entries` that is never edited: a mistake is put right by a reversing entry that
names the one it reverses, and each entry can be reversed once. A balance is the sum of
the entries, never a stored figure that could drift from them.

Postings for one prisoner are serialised by locking their `money_holders` row
(`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` serialises every
writer), so two debits at once cannot both pass the balance check, and each entry gets
the next number in that prisoner's ledger.

Who may do what: a prisoner reads their own (`money.own`), also during a lockdown, as
reading one's own records always works. Finance staff (`money.manage`, held by the
department-staff role, and membership of the establishment's `finance` department)
post credits from a CSV file, transfer between accounts and reverse entries, and read a
prisoner's money; each such reading is an audit event (`money_viewed`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts, department_members, departments
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.identity import IdentityService
from core.identity.types import Principal, Role
from core.permissions import Permission, acts_in, require_permission
from kiosk.money_csv import (
    MAX_REFERENCE,
    EntryKind,
    LineProblem,
    MoneyAccount,
    Problem,
    digest,
    read_credits,
    safe_text,
)
from kiosk.money_tables import money_batches, money_entries, money_holders

FINANCE = "finance"
NO_PRISONER = "No such prisoner."


@dataclass(frozen=True)
class Entry:
    id: str
    n: int
    account: MoneyAccount
    kind: EntryKind
    amount_pence: int
    reference: str
    created_at: datetime
    reverses_id: str | None
    reversed: bool


@dataclass(frozen=True)
class Statement:
    prisoner_id: str
    balances: dict[MoneyAccount, int]
    entries: list[Entry]


@dataclass(frozen=True)
class Posting:
    """One entry to write: positive is a credit, negative a debit."""

    account: MoneyAccount
    kind: EntryKind
    amount_pence: int
    reference: str = ""
    reverses_id: str | None = None
    batch_id: str | None = None
    order_id: str | None = None


@dataclass(frozen=True)
class PreviewLine:
    line: int
    prison_number: str
    prisoner_id: str
    account: MoneyAccount
    kind: EntryKind
    amount_pence: int
    reference: str


@dataclass(frozen=True)
class Preview:
    digest: str
    lines: list[PreviewLine]
    problems: list[LineProblem]
    total_pence: int
    posted_at: datetime | None
    """When this same file was posted before, if it was: posting it again is refused."""


@dataclass(frozen=True)
class Batch:
    id: str
    lines: int
    total_pence: int
    posted_at: datetime


def money_account(value: object) -> MoneyAccount:
    if isinstance(value, str) and value in [a.value for a in MoneyAccount]:
        return MoneyAccount(value)
    raise ServiceError(Code.INVALID_REQUEST, "The account is private or spends.")


def whole_pence(value: object) -> int:
    """A positive whole number of pence from JSON: never a float, a string or a bool."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value > 10**9:
        raise ServiceError(Code.INVALID_REQUEST, "The amount is a positive whole number of pence.")
    return value


def reference_text(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not safe_text(value.strip(), MAX_REFERENCE):
        raise ServiceError(
            Code.INVALID_REQUEST, "The reference is plain text of up to 80 characters."
        )
    return value.strip()


class Money:
    def __init__(
        self, db: Database, *, identity: IdentityService, clock: Clock, audit: AuditSink
    ) -> None:
        self._db = db
        self._identity = identity
        self._clock = clock
        self._audit = audit

    # ------------------------------------------------------------------ reading

    async def statement(self, actor: Principal, prisoner_id: str, limit: int = 100) -> Statement:
        """A prisoner's balances and latest entries: their own, or finance staff's (logged)."""
        async with self._db.connect() as conn:
            establishment = await self._prisoner_establishment(conn, prisoner_id)
            if actor.role == Role.PRISONER:
                require_permission(actor, Permission.MONEY_OWN)
                if actor.account_id != prisoner_id:
                    raise ServiceError(Code.NOT_FOUND, NO_PRISONER)
                staff = False
            else:
                await self._require_finance(conn, actor, establishment)
                staff = True
            balances = await _balances(conn, prisoner_id)
            entries = await _entries(conn, prisoner_id, limit)
        if staff:
            await self._audit.append(
                AuditRecord(
                    Action.MONEY_VIEWED,
                    actor.account_id,
                    establishment=establishment,
                    subject=prisoner_id,
                )
            )
        return Statement(prisoner_id, balances, entries)

    async def find(self, actor: Principal, prison_number: str) -> Statement:
        """Finance staff look a prisoner up by number: the same as `statement`, logged."""
        require_permission(actor, Permission.MONEY_MANAGE)
        prisoner_id = await self._identity.find_prisoner(prison_number)
        if prisoner_id is None:
            raise ServiceError(Code.NOT_FOUND, NO_PRISONER)
        return await self.statement(actor, prisoner_id)

    # ------------------------------------------------------------------ credits from a file

    async def preview_credits(self, actor: Principal, establishment_id: str, text: str) -> Preview:
        """What posting this file would do, with every line's problem; changes nothing."""
        async with self._db.connect() as conn:
            await self._require_finance(conn, actor, establishment_id)
        return await self._preview(establishment_id, text)

    async def post_credits(self, actor: Principal, establishment_id: str, text: str) -> Batch:
        """Post every line of the file, or none: refused whole if any line has a problem,
        and refused if the same file was posted before (its SHA-256, per establishment)."""
        async with self._db.connect() as conn:
            await self._require_finance(conn, actor, establishment_id)
        preview = await self._preview(establishment_id, text)
        if preview.problems:
            raise ServiceError(
                Code.INVALID_REQUEST,
                "Nothing was posted: some lines have problems.",
                extra={"problems": [_problem_json(p) for p in preview.problems]},
            )
        if preview.posted_at is not None:
            raise _already_posted(preview.posted_at)
        now = self._clock.now()
        batch = Batch(str(uuid.uuid4()), len(preview.lines), preview.total_pence, now)
        written: list[tuple[str, str, Posting]] = []
        try:
            async with self._db.begin() as conn:
                await conn.execute(
                    insert(money_batches).values(
                        id=batch.id,
                        establishment_id=establishment_id,
                        digest=preview.digest,
                        lines=batch.lines,
                        total_pence=batch.total_pence,
                        posted_by=actor.account_id,
                        posted_at=now,
                    )
                )
                for line in preview.lines:
                    posting = Posting(
                        line.account,
                        line.kind,
                        line.amount_pence,
                        line.reference,
                        batch_id=batch.id,
                    )
                    ids = await self._write(
                        conn, actor, line.prisoner_id, establishment_id, [posting]
                    )
                    written.append((ids[0], line.prisoner_id, posting))
        except IntegrityError:
            raise _already_posted(None) from None
        await asyncio.gather(
            *(
                self._audit_entry(actor, establishment_id, prisoner_id, entry_id, posting)
                for entry_id, prisoner_id, posting in written
            )
        )
        await self._audit.append(
            AuditRecord(
                Action.MONEY_BATCH_POSTED,
                actor.account_id,
                establishment=establishment_id,
                subject=batch.id,
                details={"lines": batch.lines, "total_pence": batch.total_pence},
            )
        )
        return batch

    # ------------------------------------------------------------------ corrections

    async def transfer(
        self,
        actor: Principal,
        prisoner_id: str,
        *,
        source: MoneyAccount,
        target: MoneyAccount,
        amount_pence: int,
        reference: str = "",
    ) -> list[str]:
        """Move money between a prisoner's two accounts: a debit and a credit that sum to 0."""
        if source == target:
            raise ServiceError(Code.INVALID_REQUEST, "Transfer between two different accounts.")
        postings = [
            Posting(source, EntryKind.TRANSFER, -amount_pence, reference),
            Posting(target, EntryKind.TRANSFER, amount_pence, reference),
        ]
        return await self._staff_post(actor, prisoner_id, postings)

    async def reverse(self, actor: Principal, prisoner_id: str, entry_id: str) -> str:
        """Put a mistaken entry right with a new entry of the opposite amount."""
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(money_entries).where(
                        money_entries.c.id == entry_id, money_entries.c.prisoner_id == prisoner_id
                    )
                )
            ).first()
        if row is None:
            await self._check_staff(actor, prisoner_id)
            raise ServiceError(Code.NOT_FOUND, "No such entry.")
        if row.kind == EntryKind.REVERSAL:
            await self._check_staff(actor, prisoner_id)
            raise ServiceError(Code.CONFLICT, "A reversal cannot itself be reversed.")
        posting = Posting(
            MoneyAccount(row.account),
            EntryKind.REVERSAL,
            -row.amount_pence,
            row.reference,
            reverses_id=row.id,
        )
        return (await self._staff_post(actor, prisoner_id, [posting]))[0]

    async def post(
        self, actor: Principal, prisoner_id: str, postings: Iterable[Posting]
    ) -> list[str]:
        """Write entries for the system's own reasons (an order's debit, its refund): the
        caller has decided they are due; the balance check still holds."""
        postings = list(postings)
        async with self._db.begin() as conn:
            establishment = await self._prisoner_establishment(conn, prisoner_id)
            ids = await self._write(conn, actor, prisoner_id, establishment, postings)
        for entry_id, posting in zip(ids, postings, strict=True):
            await self._audit_entry(actor, establishment, prisoner_id, entry_id, posting)
        return ids

    async def write(
        self,
        conn: AsyncConnection,
        actor: Principal,
        prisoner_id: str,
        establishment_id: str,
        postings: list[Posting],
        *,
        locked: bool = False,
    ) -> list[str]:
        """`post` inside the caller's transaction (the shop's refund commits with the order's
        change); `locked` when the caller took `lock` in this transaction already. The
        caller writes the audit events with `audit_entry` after commit."""
        return await self._write(
            conn, actor, prisoner_id, establishment_id, postings, locked=locked
        )

    async def lock(self, conn: AsyncConnection, prisoner_id: str, establishment_id: str) -> None:
        """Hold the prisoner's ledger for the caller's transaction: what the shop does before
        it reads a week's spending, so two orders at once are checked one after the other."""
        await self._lock(conn, prisoner_id, establishment_id, self._clock.now())

    async def move_holder(
        self, conn: AsyncConnection, prisoner_id: str, establishment_id: str
    ) -> None:
        """The prisoner's ledger now belongs to this establishment (a transfer, in the
        caller's transaction); past entries keep the establishment they were made at."""
        await conn.execute(
            update(money_holders)
            .where(money_holders.c.prisoner_id == prisoner_id)
            .values(establishment_id=establishment_id)
        )

    async def audit_entry(
        self, actor: Principal, establishment_id: str, prisoner_id: str, entry_id: str, p: Posting
    ) -> None:
        await self._audit_entry(actor, establishment_id, prisoner_id, entry_id, p)

    # ------------------------------------------------------------------ internals

    async def _staff_post(
        self, actor: Principal, prisoner_id: str, postings: list[Posting]
    ) -> list[str]:
        try:
            async with self._db.begin() as conn:
                establishment = await self._check_staff_in(conn, actor, prisoner_id)
                ids = await self._write(conn, actor, prisoner_id, establishment, postings)
        except IntegrityError:
            raise ServiceError(Code.CONFLICT, "This entry was already reversed.") from None
        for entry_id, posting in zip(ids, postings, strict=True):
            await self._audit_entry(actor, establishment, prisoner_id, entry_id, posting)
        return ids

    async def _check_staff(self, actor: Principal, prisoner_id: str) -> None:
        async with self._db.connect() as conn:
            await self._check_staff_in(conn, actor, prisoner_id)

    async def _check_staff_in(
        self, conn: AsyncConnection, actor: Principal, prisoner_id: str
    ) -> str:
        require_permission(actor, Permission.MONEY_MANAGE)
        establishment = await self._prisoner_establishment(conn, prisoner_id)
        await self._require_finance(conn, actor, establishment)
        return establishment

    async def _write(
        self,
        conn: AsyncConnection,
        actor: Principal,
        prisoner_id: str,
        establishment_id: str,
        postings: list[Posting],
        *,
        locked: bool = False,
    ) -> list[str]:
        """Lock (unless the caller holds the lock), read the balances and the last entry's
        number in one statement, and write the entries in one more."""
        now = self._clock.now()
        if not locked:
            await self._lock(conn, prisoner_id, establishment_id, now)
        state = (await conn.execute(select(*ledger_columns(prisoner_id)))).one()
        found = {account: int(state._mapping[account.value]) for account in MoneyAccount}
        refuse_if_short(found, postings)
        rows = [
            entry_values(actor, prisoner_id, establishment_id, p, int(state.last_n) + offset, now)
            for offset, p in enumerate(postings, start=1)
        ]
        if rows:
            await conn.execute(insert(money_entries).values(rows))
        return [str(r["id"]) for r in rows]

    async def _lock(
        self, conn: AsyncConnection, prisoner_id: str, establishment_id: str, now: datetime
    ) -> None:
        """The prisoner's holder row locked for this transaction: one statement once the
        holder exists (every prisoner with a ledger), created first if new."""
        query = select(money_holders.c.prisoner_id).where(
            money_holders.c.prisoner_id == prisoner_id
        )
        if not self._db.is_sqlite:
            query = query.with_for_update()
        if (await conn.execute(query)).first() is not None:
            return
        values = {"prisoner_id": prisoner_id, "establishment_id": establishment_id}
        if self._db.is_sqlite:
            stmt: Any = sqlite_insert(money_holders).values(**values, created_at=now)
        else:
            stmt = pg_insert(money_holders).values(**values, created_at=now)
        await conn.execute(stmt.on_conflict_do_nothing(index_elements=["prisoner_id"]))
        await conn.execute(query)

    async def _audit_entry(
        self,
        actor: Principal,
        establishment_id: str,
        prisoner_id: str,
        entry_id: str,
        p: Posting,
    ) -> None:
        await self._audit.append(
            AuditRecord(
                Action.LEDGER_ENTRY,
                actor.account_id,
                establishment=establishment_id,
                subject=prisoner_id,
                details={
                    "entry": entry_id,
                    "account": p.account.value,
                    "kind": p.kind.value,
                    "amount_pence": p.amount_pence,
                    **({"reverses": p.reverses_id} if p.reverses_id else {}),
                    **({"batch": p.batch_id} if p.batch_id else {}),
                    **({"order": p.order_id} if p.order_id else {}),
                },
            )
        )

    async def _prisoner_establishment(self, conn: AsyncConnection, prisoner_id: str) -> str:
        row = (
            await conn.execute(
                select(accounts.c.establishment_id, accounts.c.role).where(
                    accounts.c.id == prisoner_id
                )
            )
        ).first()
        if row is None or row.role != Role.PRISONER.value or row.establishment_id is None:
            raise ServiceError(Code.NOT_FOUND, NO_PRISONER)
        return str(row.establishment_id)

    async def _require_finance(
        self, conn: AsyncConnection, actor: Principal, establishment_id: str
    ) -> None:
        """Finance staff of this establishment: the permission, acting here, and a member
        of its finance department. Another establishment's prisoner is 'no such prisoner'."""
        require_permission(actor, Permission.MONEY_MANAGE)
        if not acts_in(actor, establishment_id):
            raise ServiceError(Code.NOT_FOUND, NO_PRISONER)
        member = await in_department(conn, actor.account_id, establishment_id, FINANCE)
        if not member:
            raise ServiceError(
                Code.FORBIDDEN,
                "Only the finance department's staff may do this.",
                extra={"reason": "not_finance"},
            )

    async def _preview(self, establishment_id: str, text: str) -> Preview:
        found = digest(text)
        lines, problems = read_credits(text)
        # Looked up before opening our own connection: on SQLite every transaction holds
        # the write lock, so a second connection opened inside one would wait on it.
        ids = [await self._identity.find_prisoner(line.prison_number) for line in lines]
        checked: list[PreviewLine] = []
        async with self._db.connect() as conn:
            for line, prisoner_id in zip(lines, ids, strict=True):
                if prisoner_id is None or not await self._is_prisoner_of(
                    conn, establishment_id, prisoner_id
                ):
                    problems.append(LineProblem(line.line, Problem.UNKNOWN_PRISONER))
                    continue
                checked.append(
                    PreviewLine(
                        line.line,
                        line.prison_number,
                        prisoner_id,
                        line.account,
                        line.kind,
                        line.amount_pence,
                        line.reference,
                    )
                )
            posted_at = await conn.scalar(
                select(money_batches.c.posted_at).where(
                    money_batches.c.establishment_id == establishment_id,
                    money_batches.c.digest == found,
                )
            )
        problems.sort(key=lambda p: p.line)
        return Preview(
            digest=found,
            lines=checked,
            problems=problems,
            total_pence=sum(line.amount_pence for line in checked),
            posted_at=posted_at,
        )

    async def _is_prisoner_of(
        self, conn: AsyncConnection, establishment_id: str, prisoner_id: str
    ) -> bool:
        try:
            return await self._prisoner_establishment(conn, prisoner_id) == establishment_id
        except ServiceError:
            return False


async def in_department(
    conn: AsyncConnection, account_id: str, establishment_id: str, code: str
) -> bool:
    """Whether the account belongs to this establishment's department of that code."""
    found = await conn.scalar(
        select(func.count())
        .select_from(department_members)
        .join(departments, departments.c.id == department_members.c.department_id)
        .where(
            department_members.c.account_id == account_id,
            departments.c.establishment_id == establishment_id,
            departments.c.code == code,
        )
    )
    return bool(found)


def _already_posted(when: datetime | None) -> ServiceError:
    return ServiceError(
        Code.CONFLICT,
        "This file was posted before; nothing was posted again.",
        extra={"reason": "already_posted", **({"posted_at": when.isoformat()} if when else {})},
    )


def _problem_json(p: LineProblem) -> dict[str, Any]:
    return {"line": p.line, "problem": p.problem.value}


async def _balances(conn: AsyncConnection, prisoner_id: str) -> dict[MoneyAccount, int]:
    found = {account: 0 for account in MoneyAccount}
    rows = await conn.execute(
        select(money_entries.c.account, func.sum(money_entries.c.amount_pence))
        .where(money_entries.c.prisoner_id == prisoner_id)
        .group_by(money_entries.c.account)
    )
    for account, total in rows:
        found[MoneyAccount(account)] = int(total)
    return found


async def _entries(conn: AsyncConnection, prisoner_id: str, limit: int) -> list[Entry]:
    reversal = money_entries.alias("reversal")
    rows = await conn.execute(
        select(money_entries, reversal.c.id.label("reversed_by"))
        .outerjoin(reversal, reversal.c.reverses_id == money_entries.c.id)
        .where(money_entries.c.prisoner_id == prisoner_id)
        .order_by(money_entries.c.n.desc())
        .limit(limit)
    )
    return [
        Entry(
            id=r.id,
            n=r.n,
            account=MoneyAccount(r.account),
            kind=EntryKind(r.kind),
            amount_pence=int(r.amount_pence),
            reference=r.reference,
            created_at=r.created_at,
            reverses_id=r.reverses_id,
            reversed=r.reversed_by is not None,
        )
        for r in rows
    ]


def ledger_columns(prisoner_id: str) -> list[Any]:
    """Scalar subqueries for one prisoner's ledger, to read inside a statement that reads
    other things too: each account's balance (labelled by the account's name) and `last_n`,
    the number of their latest entry (0 when none)."""
    mine = money_entries.c.prisoner_id == prisoner_id
    columns: list[Any] = [
        select(func.coalesce(func.sum(money_entries.c.amount_pence), 0))
        .where(mine, money_entries.c.account == account.value)
        .scalar_subquery()
        .label(account.value)
        for account in MoneyAccount
    ]
    columns.append(
        select(func.coalesce(func.max(money_entries.c.n), 0))
        .where(mine)
        .scalar_subquery()
        .label("last_n")
    )
    return columns


def refuse_if_short(found: dict[MoneyAccount, int], postings: Iterable[Posting]) -> None:
    """Refuse postings that would take any account below zero (`found` is left alone)."""
    after = dict(found)
    for p in postings:
        after[p.account] = after.get(p.account, 0) + p.amount_pence
    if any(value < 0 for value in after.values()):
        raise ServiceError(
            Code.CONFLICT,
            "There is not enough money in the account for this.",
            extra={"reason": "not_enough_money"},
        )


def entry_values(
    actor: Principal,
    prisoner_id: str,
    establishment_id: str,
    p: Posting,
    n: int,
    now: datetime,
) -> dict[str, Any]:
    """One `money_entries` row, the n-th of the prisoner's ledger: for a caller that holds
    the prisoner's lock and has read `ledger_columns` in the same transaction."""
    return {
        "id": str(uuid.uuid4()),
        "n": n,
        "establishment_id": establishment_id,
        "prisoner_id": prisoner_id,
        "account": p.account.value,
        "kind": p.kind.value,
        "amount_pence": p.amount_pence,
        "reference": p.reference,
        "batch_id": p.batch_id,
        "reverses_id": p.reverses_id,
        "order_id": p.order_id,
        "actor_id": actor.account_id,
        "created_at": now,
    }


problem_json = _problem_json
balances = _balances
