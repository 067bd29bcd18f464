"""Accounts and establishments: creating them, and reading them back for others.

The part of the identity service that keeps who exists (`IdentityService` inherits it);
sign-in, sessions and tokens are in `core.identity.service`.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyotp
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.access.seed import add_built_in
from core.clock import Clock
from core.db.engine import Database
from core.db.schema import (
    accounts,
    establishments,
    staff_establishments,
)
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import FieldCipher, SubjectCipher
from core.identity import validation
from core.identity.devices import require_establishment
from core.identity.passwords import SecretHasher
from core.identity.types import (
    STAFF_ROLES,
    SYSTEM_ACTOR,
    Principal,
    Role,
    parse_role,
)
from core.people.moves import destination_cell, relocate
from core.people.records import date_of_birth as _date_of_birth
from core.people.records import store_date_of_birth
from core.people.types import MoveKind
from core.places.cells import Cell


@dataclass(frozen=True)
class AccountView:
    id: str
    role: Role
    establishment_id: str | None
    display_name: str
    username: str | None
    prison_number: str | None
    sex: str | None
    locale: str


@dataclass(frozen=True)
class Establishment:
    id: str
    code: str
    name: str
    timezone: str
    relay_only: bool
    identity_check: bool = False
    """An officer checks the prisoner's identity at the start of each consult."""


class Accounts:
    """Creating establishments, staff and prisoners; looking accounts up."""

    _db: Database
    _cipher: FieldCipher
    _clock: Clock
    _audit: AuditSink
    _hasher: SecretHasher
    _subject_keys: SubjectCipher | None

    # ---------------------------------------------------------------- setup

    async def create_establishment(
        self,
        code: str,
        name: str,
        timezone: str = "Europe/London",
        *,
        relay_only: bool = True,
        identity_check: bool = False,
    ) -> str:
        code = validation.establishment_code(code)
        name = validation.display_name(name)
        est_id = str(uuid.uuid4())
        async with self._db.begin() as conn:
            existing = await conn.scalar(
                select(establishments.c.id).where(establishments.c.code == code)
            )
            if existing is not None:
                raise ServiceError(Code.CONFLICT, "An establishment with this code exists.")
            await conn.execute(
                insert(establishments).values(
                    id=est_id,
                    code=code,
                    name=name,
                    timezone=timezone,
                    relay_only=relay_only,
                    identity_check=identity_check,
                    created_at=self._clock.now(),
                )
            )
            await add_built_in(conn, est_id, self._clock.now())
        return est_id

    async def establishment_by_code(self, code: str) -> Establishment | None:
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(establishments).where(establishments.c.code == code.strip().upper())
                )
            ).first()
        return None if row is None else establishment_from_row(row._mapping)

    async def establishment(self, est_id: str) -> Establishment | None:
        async with self._db.connect() as conn:
            row = (
                await conn.execute(select(establishments).where(establishments.c.id == est_id))
            ).first()
        return None if row is None else establishment_from_row(row._mapping)

    async def create_staff(
        self,
        *,
        role: Role | str,
        establishment_id: str | None,
        username: str,
        display_name: str,
        password: str,
        sex: str | None = None,
        totp_secret: str | None = None,
        actor: str = SYSTEM_ACTOR,
    ) -> tuple[str, str]:
        """Returns (account id, TOTP secret for the authenticator app)."""
        role = parse_role(role)
        if role not in STAFF_ROLES:
            raise ServiceError(
                Code.INVALID_REQUEST,
                "Staff roles are " + ", ".join(sorted(r.value for r in STAFF_ROLES)) + ".",
            )
        if role != Role.ADMIN and establishment_id is None:
            raise ServiceError(
                Code.INVALID_REQUEST, "Staff other than admins need an establishment."
            )
        username = validation.username(username)
        display_name = validation.display_name(display_name)
        password = validation.password(password)
        sex = validation.sex(sex)
        totp_secret = totp_secret or pyotp.random_base32()
        account_id = str(uuid.uuid4())
        password_hash = await self._hasher.hash(password)
        async with self._db.begin() as conn:
            await require_establishment(conn, establishment_id)
            taken = await conn.scalar(select(accounts.c.id).where(accounts.c.username == username))
            if taken is not None:
                raise ServiceError(Code.CONFLICT, "This username is taken.")
            await conn.execute(
                insert(accounts).values(
                    id=account_id,
                    establishment_id=establishment_id,
                    role=role.value,
                    username=username,
                    display_name_enc=self._cipher.encrypt(
                        display_name, row=account_id, column="display_name"
                    ),
                    sex=sex,
                    password_hash=password_hash,
                    totp_secret_enc=self._cipher.encrypt(
                        totp_secret, row=account_id, column="totp_secret"
                    ),
                    failed_attempts=0,
                    active=True,
                    locale="en",
                    created_at=self._clock.now(),
                )
            )
        await self._audit.append(
            AuditRecord(
                action=Action.ACCOUNT_CREATED,
                actor=actor,
                establishment=establishment_id,
                subject=account_id,
                details={"role": role.value},
            )
        )
        return account_id, totp_secret

    async def create_prisoner(
        self,
        *,
        establishment_id: str,
        prison_number: object,
        display_name: object,
        pin: object,
        sex: object = None,
        date_of_birth: object = None,
        cell: object = None,
        actor: str = SYSTEM_ACTOR,
    ) -> str:
        """A prisoner's account; `date_of_birth` (YYYY-MM-DD) is sealed under their own key.

        `cell` (a name or id of one of the establishment's cells) places them in
        it in the same transaction, so a cell of another establishment, or a
        prison number taken meanwhile (a form sent twice), leaves no account.
        """
        number = validation.prison_number(prison_number)
        display_name = validation.display_name(display_name)
        pin = validation.pin(pin)
        sex = validation.sex(sex)
        born = None
        if date_of_birth is not None:
            born = _date_of_birth(date_of_birth, self._clock.now().date())
            if self._subject_keys is None:
                raise ServiceError(Code.UNAVAILABLE, debug_context={"missing": "subject_keys"})
        account_id = str(uuid.uuid4())
        index = self._cipher.blind_index(number, purpose="prison_number")
        pin_hash = await self._hasher.hash(pin)
        taken_error = ServiceError(
            Code.CONFLICT,
            "This prison number already has an account.",
            extra={"reason": "prison_number_taken"},
        )
        try:
            async with self._db.begin() as conn:
                placed = await self._insert_prisoner(
                    conn,
                    account_id,
                    establishment_id,
                    index,
                    number,
                    display_name,
                    sex,
                    pin_hash,
                    born,
                    cell,
                    actor,
                    taken_error,
                )
        except IntegrityError:
            # The same number sent twice at once: the store's unique index decides.
            raise taken_error from None
        details: dict[str, Any] = {"role": Role.PRISONER.value, "date_of_birth": born is not None}
        if placed is not None:
            details.update(cell=placed.name, wing=placed.wing)
        await self._audit.append(
            AuditRecord(
                action=Action.ACCOUNT_CREATED,
                actor=actor,
                establishment=establishment_id,
                subject=account_id,
                details=details,
            )
        )
        return account_id

    async def _insert_prisoner(
        self,
        conn: AsyncConnection,
        account_id: str,
        establishment_id: str,
        index: str,
        number: str,
        display_name: str,
        sex: str | None,
        pin_hash: str,
        born: date | None,
        cell: object,
        actor: str,
        taken_error: ServiceError,
    ) -> Cell | None:
        await require_establishment(conn, establishment_id)
        taken = await conn.scalar(
            select(accounts.c.id).where(accounts.c.prison_number_index == index)
        )
        if taken is not None:
            raise taken_error
        to = None if cell is None else await destination_cell(conn, establishment_id, cell)
        await conn.execute(
            insert(accounts).values(
                id=account_id,
                establishment_id=establishment_id,
                role=Role.PRISONER.value,
                prison_number_index=index,
                prison_number_enc=self._cipher.encrypt(
                    number, row=account_id, column="prison_number"
                ),
                display_name_enc=self._cipher.encrypt(
                    display_name, row=account_id, column="display_name"
                ),
                sex=sex,
                pin_hash=pin_hash,
                failed_attempts=0,
                active=True,
                locale="en",
                created_at=self._clock.now(),
            )
        )
        if born is not None and self._subject_keys is not None:
            await store_date_of_birth(conn, self._subject_keys, account_id, born, self._clock.now())
        if to is not None:
            await relocate(
                conn,
                prisoner_id=account_id,
                kind=MoveKind.MOVE,
                from_establishment=None,
                to_establishment=establishment_id,
                to_cell=to,
                now=self._clock.now(),
                actor=actor,
            )
        return to

    async def account(self, account_id: str) -> AccountView | None:
        async with self._db.connect() as conn:
            row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
        return None if row is None else self._view_of(row._mapping)

    async def find_prisoner(self, prison_number: str) -> str | None:
        number = validation.prison_number(prison_number)
        index = self._cipher.blind_index(number, purpose="prison_number")
        async with self._db.connect() as conn:
            found: str | None = await conn.scalar(
                select(accounts.c.id).where(accounts.c.prison_number_index == index)
            )
        return found

    async def set_locale(self, principal: Principal, locale: str) -> None:
        if locale not in ("en", "cy"):
            raise ServiceError(Code.INVALID_REQUEST, "The language is en or cy.")
        async with self._db.begin() as conn:
            await conn.execute(
                update(accounts).where(accounts.c.id == principal.account_id).values(locale=locale)
            )

    # ------------------------------------------------------------ the audit log's people

    def _view_of(self, m: Any) -> AccountView:
        """An account's row as others see it: its name and prison number decrypted."""
        number = None
        if m["prison_number_enc"] is not None:
            number = self._cipher.decrypt(
                m["prison_number_enc"], row=m["id"], column="prison_number"
            )
        return AccountView(
            id=m["id"],
            role=Role(m["role"]),
            establishment_id=m["establishment_id"],
            display_name=self._cipher.decrypt(
                m["display_name_enc"], row=m["id"], column="display_name"
            ),
            username=m["username"],
            prison_number=number,
            sex=m["sex"],
            locale=m["locale"],
        )

    async def people(self, ids: set[str]) -> dict[str, AccountView]:
        """Accounts by id, names and prison numbers decrypted: for a reader allowed them
        (the audit log's review resolves the people of one page of events)."""
        wanted = sorted(i for i in ids if isinstance(i, str) and len(i) <= 36)
        if not wanted:
            return {}
        async with self._db.connect() as conn:
            rows = [
                r._mapping
                for r in await conn.execute(select(accounts).where(accounts.c.id.in_(wanted)))
            ]
        views = await asyncio.to_thread(lambda: [self._view_of(m) for m in rows])
        return {v.id: v for v in views}

    async def find_people(self, establishment_id: str, text: str) -> set[str]:
        """Accounts of an establishment (its prisoners and the staff who serve it) whose
        name or username contains the text, ignoring case. Names are stored encrypted, so
        each is decrypted and compared here, off the event loop."""
        needle = text.casefold()
        served = select(staff_establishments.c.account_id).where(
            staff_establishments.c.establishment_id == establishment_id
        )
        async with self._db.connect() as conn:
            rows = [
                r._mapping
                for r in await conn.execute(
                    select(accounts).where(
                        (accounts.c.establishment_id == establishment_id)
                        | accounts.c.id.in_(served)
                    )
                )
            ]

        def match() -> set[str]:
            found = set()
            for m in rows:
                name = self._cipher.decrypt(
                    m["display_name_enc"], row=m["id"], column="display_name"
                )
                if needle in name.casefold() or needle in (m["username"] or "").casefold():
                    found.add(m["id"])
            return found

        return await asyncio.to_thread(match)


def establishment_from_row(m: Any) -> Establishment:
    return Establishment(
        id=m["id"],
        code=m["code"],
        name=m["name"],
        timezone=m["timezone"],
        relay_only=m["relay_only"],
        identity_check=bool(m.get("identity_check", False)),
    )
