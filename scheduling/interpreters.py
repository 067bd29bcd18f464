"""Interpreters: invited for one appointment and one language, by account or by email.

The invitation names the language from a fixed list (`scheduling.languages`), never free
text, and is linked to the patient through the appointment. An interpreter who has an
account is invited directly: a row in `appointment_attendees` with the language. One who
has none is sent a one-time code by email: the link carries it in its fragment
(`/interpreter/accept#code=...`), which browsers never send to a server, so it is in no
access log; the store keeps only its keyed hash (the cipher's blind index) and the
address only encrypted. It works until `INVITATION_DAYS` have passed or the appointment
has ended, whichever is sooner, and is spent once.

Accepting is the community claim's shape (core/identity/community.py), with its code
format, its TOTP check and its limiter on guesses (`core.identity.guesses`): the person
types the code, gets a TOTP key for their app (`start`), then sets their name, a
username and a password and types the app's code (`accept`). In one transaction the
code is spent, an interpreter's account is made in the appointment's establishment
(its email the address the code was sent to: opening the link proved it) and the
account is invited to the appointment for the language. An interpreter signed in
already may accept it for their own account instead (`accept_as`).

Refusals are clear and change nothing: a wrong code (400 `wrong_code`), used (409
`used`), expired (409 `expired`), a TOTP code that does not match (400 `wrong_totp`),
an address or username that is an account's already (409 `email_taken`,
`username_taken`), a signed-in account that is not an interpreter of the establishment
(403 `not_interpreter`). Each wrong code, spent or expired one and wrong TOTP counts
against where it came from.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyotp
from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.access.serving import serves
from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts, establishments, staff_emails
from core.errors import Code, ServiceError
from core.events import Action, AuditSink
from core.fields import FieldCipher, SubjectCipher
from core.identity import Principal, Role, validation
from core.identity.community import ISSUER, clean_code, new_code, totp_step
from core.identity.guesses import count_failure, refuse_if_guessing
from core.identity.passwords import SecretHasher
from core.mail import Mail, Mailer
from core.permissions import Permission, allows, require_permission
from scheduling.attendees import MAX_ATTENDEES
from scheduling.base import ServiceBase, require_visible
from scheduling.languages import language as valid_language
from scheduling.tables import appointment_attendees, appointments, interpreter_invitations
from scheduling.types import ACTIVE_STATUSES

INVITATION_DAYS = 7
ACCEPT_PATH = "/interpreter/accept"
INDEX_PURPOSE = "interpreter_invitation"
EMAIL_PURPOSE = "interpreter_email"

WRONG_CODE = "This code is not right. Check it against the email and try again."
USED = "This invitation has been used already. Sign in with your username instead."
EXPIRED = "This invitation has expired. Ask the health worker for a new one."
WRONG_TOTP = "The code from your app does not match. Type the 6 digits it shows now."
EMAIL_TAKEN = "This email address belongs to an account already: invite that account instead."
USERNAME_TAKEN = "This username is taken. Choose another."
NOT_INTERPRETER = "Only an interpreter of this establishment can accept this invitation."
START_FIRST = "Start again: type your invitation code to get a new key for your app."
ENDED = "This appointment is not open any more: nobody can be invited to it."
FULL = f"At most {MAX_ATTENDEES} people can be invited to one appointment."


@dataclass(frozen=True)
class Invited:
    """`kind` is `account` (an interpreter's account invited directly) or `email`."""

    kind: str
    language: str
    account_id: str | None = None
    invitation_id: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    expires_at: datetime
    language: str
    appointment_id: str
    starts_at: datetime
    ends_at: datetime


class Interpreters(ServiceBase):
    def __init__(
        self,
        db: Database,
        *,
        cipher: FieldCipher,
        subject_keys: SubjectCipher,
        clock: Clock,
        audit: AuditSink,
        mailer: Mailer,
        hasher: SecretHasher,
        link_base: str,
    ) -> None:
        super().__init__(db, cipher=cipher, subject_keys=subject_keys, clock=clock, audit=audit)
        self._mailer = mailer
        self._hasher = hasher
        self._link_base = link_base.rstrip("/")

    # ------------------------------------------------------------- inviting

    async def invite(
        self,
        actor: Principal,
        appointment_id: str,
        *,
        language: object,
        account_id: object = None,
        email: object = None,
    ) -> Invited:
        """Invite an interpreter for `language`: an account directly, or an address by email."""
        require_permission(actor, Permission.APPOINTMENTS_INVITE)
        code_of_language = valid_language(language)
        if (account_id is None) == (email is None):
            raise ServiceError(
                Code.INVALID_REQUEST, "Give either account_id or email.", extra={"reason": "who"}
            )
        async with self._db.connect() as conn:
            m = await self._appointment_row(conn, appointment_id)
            require_visible(actor, m["establishment_id"], "No such appointment.")
            if actor.account_id != m["clinician_id"] and not allows(
                actor, Permission.APPOINTMENTS_MANAGE_ANY
            ):
                raise ServiceError(Code.FORBIDDEN)
            if m["status"] not in ACTIVE_STATUSES:
                raise ServiceError(Code.CONFLICT, ENDED, extra={"reason": "ended"})
            address = None if email is None else validation.email(email)
            if address is not None:
                account_id = await conn.scalar(
                    select(staff_emails.c.account_id).where(staff_emails.c.email == address)
                )
                if account_id is not None and not await self._interpreter_here(
                    conn, account_id, m["establishment_id"]
                ):
                    raise ServiceError(Code.CONFLICT, EMAIL_TAKEN, extra={"reason": "email_taken"})
        if account_id is not None:
            if not isinstance(account_id, str) or len(account_id) > 64:
                raise ServiceError(Code.INVALID_REQUEST, "account_id is an account id.")
            await self._add(actor, m, account_id, code_of_language)
            return Invited("account", code_of_language, account_id=account_id)
        assert address is not None
        return await self._send(actor, m, address, code_of_language)

    async def _interpreter_here(
        self, conn: AsyncConnection, account_id: str, establishment_id: str
    ) -> bool:
        row = (
            await conn.execute(
                select(accounts.c.role, accounts.c.active).where(accounts.c.id == account_id)
            )
        ).first()
        return (
            row is not None
            and row.role == Role.INTERPRETER.value
            and bool(row.active)
            and await serves(conn, account_id, establishment_id)
        )

    async def _add(self, actor: Principal, m: Any, account_id: str, lang: str) -> None:
        async with self._db.begin() as conn:
            if not await self._interpreter_here(conn, account_id, m["establishment_id"]):
                raise ServiceError(
                    Code.INVALID_REQUEST,
                    "Invite an interpreter of the appointment's establishment.",
                    extra={"reason": "not_interpreter"},
                )
            await self._attend(conn, m["id"], account_id, lang, actor.account_id)
        await self._record(
            Action.INTERPRETER_INVITED,
            actor,
            establishment=m["establishment_id"],
            subject=m["prisoner_id"],
            appointment=m["id"],
            interpreter=account_id,
            language=lang,
        )

    async def _attend(
        self, conn: AsyncConnection, appointment_id: str, account_id: str, lang: str, by: str
    ) -> None:
        """The account attends the appointment for `lang` (its language changed if invited)."""
        a = appointment_attendees.c
        changed = await conn.execute(
            update(appointment_attendees)
            .where(and_(a.appointment_id == appointment_id, a.account_id == account_id))
            .values(language=lang)
        )
        if changed.rowcount == 1:
            return
        count = int(
            await conn.scalar(
                select(func.count())
                .select_from(appointment_attendees)
                .where(a.appointment_id == appointment_id)
            )
            or 0
        )
        if count >= MAX_ATTENDEES:
            raise ServiceError(Code.CONFLICT, FULL, extra={"reason": "full"})
        await conn.execute(
            insert(appointment_attendees).values(
                appointment_id=appointment_id,
                account_id=account_id,
                invited_by=by,
                created_at=self._clock.now(),
                language=lang,
            )
        )

    async def _send(self, actor: Principal, m: Any, address: str, lang: str) -> Invited:
        now = self._clock.now()
        expires = min(now + timedelta(days=INVITATION_DAYS), m["ends_at"])
        code = new_code()
        invitation_id = str(uuid.uuid4())
        async with self._db.connect() as conn:
            est = (
                await conn.execute(
                    select(establishments.c.name, establishments.c.timezone).where(
                        establishments.c.id == m["establishment_id"]
                    )
                )
            ).one()
        local = m["starts_at"].astimezone(ZoneInfo(est.timezone))
        # Send first: a refusal raises here and nothing is stored.
        await self._mailer.send(
            Mail(
                to=address,
                subject="An invitation to interpret at a Throughcare video consult",
                text=(
                    f"You are invited to interpret ({lang}) at a video consult at {est.name},\n"
                    f"on {local:%A %d %B %Y at %H:%M} ({est.timezone}).\n\n"
                    "Open this link to make your account and join (it works once, until "
                    f"{expires:%d %B %Y %H:%M} UTC):\n\n"
                    f"{self._link_base}{ACCEPT_PATH}#code={code}\n\n"
                    f"Or open {self._link_base}{ACCEPT_PATH} and type this code: {code}\n\n"
                    "If you were not expecting this, ignore this message: nothing changes.\n"
                ),
            )
        )
        async with self._db.begin() as conn:
            await conn.execute(
                insert(interpreter_invitations).values(
                    id=invitation_id,
                    appointment_id=m["id"],
                    establishment_id=m["establishment_id"],
                    language=lang,
                    email_index=self._cipher.blind_index(address, purpose=EMAIL_PURPOSE),
                    email_enc=self._cipher.encrypt(
                        address, row=invitation_id, column="invitation_email"
                    ),
                    code_index=self._code_index(clean_code(code) or ""),
                    invited_by=actor.account_id,
                    created_at=now,
                    expires_at=expires,
                )
            )
        await self._record(
            Action.INTERPRETER_INVITATION_ISSUED,
            actor,
            establishment=m["establishment_id"],
            subject=m["prisoner_id"],
            appointment=m["id"],
            invitation=invitation_id,
            language=lang,
            expires_at=expires.isoformat(),
        )
        return Invited("email", lang, invitation_id=invitation_id, expires_at=expires)

    def _code_index(self, raw: str) -> str:
        return self._cipher.blind_index(raw, purpose=INDEX_PURPOSE)

    # ------------------------------------------------------------ accepting

    async def start(self, code: object, *, source: str) -> Enrolment:
        """Check the code, and give the person a TOTP secret for their app."""
        inv = await self._usable(code, source)
        secret = pyotp.random_base32()
        async with self._db.begin() as conn:
            await conn.execute(
                update(interpreter_invitations)
                .where(
                    and_(
                        interpreter_invitations.c.id == inv["id"],
                        interpreter_invitations.c.accepted_at.is_(None),
                    )
                )
                .values(
                    totp_secret_enc=self._cipher.encrypt(
                        secret, row=inv["id"], column="invitation_totp_secret"
                    )
                )
            )
        uri = pyotp.TOTP(secret).provisioning_uri(name="interpreter", issuer_name=ISSUER)
        return Enrolment(
            secret,
            uri,
            inv["expires_at"],
            inv["language"],
            inv["appointment_id"],
            inv["starts_at"],
            inv["ends_at"],
        )

    async def accept(
        self,
        code: object,
        *,
        display_name: object,
        username: object,
        password: object,
        totp: object,
        source: str,
        locale: object = "en",
    ) -> Principal:
        """Spend the code: a new interpreter's account, invited to the appointment.

        `locale` is the language the person accepted in (en or cy): their pages stay in it.
        """
        if locale not in ("en", "cy"):
            raise ServiceError(Code.INVALID_REQUEST, "The language is en or cy.")
        name = validation.display_name(display_name)
        login = validation.username(username)
        secret_word = validation.password(password)
        typed = validation.totp_code(totp)
        inv = await self._usable(code, source)
        if inv["totp_secret_enc"] is None:
            raise ServiceError(Code.CONFLICT, START_FIRST, extra={"reason": "not_started"})
        secret = self._cipher.decrypt(
            inv["totp_secret_enc"], row=inv["id"], column="invitation_totp_secret"
        )
        now = self._clock.now()
        step = totp_step(secret, typed, now)
        if step is None:
            await self._failed(source, "wrong_totp", inv)
            raise ServiceError(Code.INVALID_REQUEST, WRONG_TOTP, extra={"reason": "wrong_totp"})
        address = self._cipher.decrypt(inv["email_enc"], row=inv["id"], column="invitation_email")
        password_hash = await self._hasher.hash(secret_word)
        account_id = str(uuid.uuid4())
        est = inv["establishment_id"]
        async with self._db.begin() as conn:
            if await conn.scalar(select(accounts.c.id).where(accounts.c.username == login)):
                raise ServiceError(
                    Code.CONFLICT, USERNAME_TAKEN, extra={"reason": "username_taken"}
                )
            if await conn.scalar(
                select(staff_emails.c.account_id).where(staff_emails.c.email == address)
            ):
                raise ServiceError(Code.CONFLICT, EMAIL_TAKEN, extra={"reason": "email_taken"})
            await self._spend(conn, inv, account_id, now)
            await conn.execute(
                insert(accounts).values(
                    id=account_id,
                    establishment_id=est,
                    role=Role.INTERPRETER.value,
                    username=login,
                    display_name_enc=self._cipher.encrypt(
                        name, row=account_id, column="display_name"
                    ),
                    password_hash=password_hash,
                    totp_secret_enc=self._cipher.encrypt(
                        secret, row=account_id, column="totp_secret"
                    ),
                    totp_last_step=step,
                    failed_attempts=0,
                    active=True,
                    locale=locale,
                    created_at=now,
                )
            )
            await conn.execute(
                insert(staff_emails).values(account_id=account_id, email=address, verified_at=now)
            )
            await self._attend(
                conn, inv["appointment_id"], account_id, inv["language"], inv["invited_by"]
            )
        await self._record(
            Action.ACCOUNT_CREATED,
            account_id,
            establishment=est,
            subject=account_id,
            role=Role.INTERPRETER.value,
        )
        await self._accepted(inv, account_id, created=True)
        return Principal(
            account_id=account_id, role=Role.INTERPRETER, establishment_id=est, session_id=""
        )

    async def accept_as(self, actor: Principal, code: object, *, source: str) -> str:
        """A signed-in interpreter spends the code for their own account; returns the
        appointment's id."""
        inv = await self._usable(code, source)
        now = self._clock.now()
        async with self._db.begin() as conn:
            if actor.role != Role.INTERPRETER or not await self._interpreter_here(
                conn, actor.account_id, inv["establishment_id"]
            ):
                raise ServiceError(
                    Code.FORBIDDEN, NOT_INTERPRETER, extra={"reason": "not_interpreter"}
                )
            await self._spend(conn, inv, actor.account_id, now)
            await self._attend(
                conn, inv["appointment_id"], actor.account_id, inv["language"], inv["invited_by"]
            )
        await self._accepted(inv, actor.account_id, created=False)
        return str(inv["appointment_id"])

    async def _spend(self, conn: AsyncConnection, inv: Any, account_id: str, now: datetime) -> None:
        spent = await conn.execute(
            update(interpreter_invitations)
            .where(
                and_(
                    interpreter_invitations.c.id == inv["id"],
                    interpreter_invitations.c.accepted_at.is_(None),
                )
            )
            .values(accepted_at=now, account_id=account_id, totp_secret_enc=None)
        )
        if spent.rowcount != 1:
            raise ServiceError(Code.CONFLICT, USED, extra={"reason": "used"})

    async def _accepted(self, inv: Any, account_id: str, *, created: bool) -> None:
        await self._record(
            Action.INTERPRETER_INVITATION_ACCEPTED,
            account_id,
            establishment=inv["establishment_id"],
            subject=inv["prisoner_id"],
            appointment=inv["appointment_id"],
            invitation=inv["id"],
            language=inv["language"],
            new_account=created,
        )

    async def _usable(self, code: object, source: str) -> Any:
        """The invitation a code names, if it can be used now; otherwise a counted refusal."""
        now = self._clock.now()
        async with self._db.connect() as conn:
            await refuse_if_guessing(conn, source, now)
            raw = clean_code(code)
            row = None
            if raw is not None:
                row = (
                    await conn.execute(
                        select(
                            interpreter_invitations,
                            appointments.c.prisoner_id,
                            appointments.c.starts_at,
                            appointments.c.ends_at,
                            appointments.c.status,
                        )
                        .join(
                            appointments,
                            appointments.c.id == interpreter_invitations.c.appointment_id,
                        )
                        .where(interpreter_invitations.c.code_index == self._code_index(raw))
                    )
                ).first()
        if row is None:
            await self._failed(source, "wrong_code", None)
            raise ServiceError(Code.INVALID_REQUEST, WRONG_CODE, extra={"reason": "wrong_code"})
        m = row._mapping
        if m["accepted_at"] is not None:
            await self._failed(source, "used", m)
            raise ServiceError(Code.CONFLICT, USED, extra={"reason": "used"})
        if m["expires_at"] <= now or m["status"] not in ACTIVE_STATUSES:
            await self._failed(source, "expired", m)
            raise ServiceError(Code.CONFLICT, EXPIRED, extra={"reason": "expired"})
        return m

    async def _failed(self, source: str, reason: str, inv: Any) -> None:
        async with self._db.begin() as conn:
            await count_failure(conn, source, self._clock.now())
        await self._record(
            Action.INTERPRETER_INVITATION_FAILED,
            "anonymous",
            establishment=None if inv is None else inv["establishment_id"],
            appointment=None if inv is None else inv["appointment_id"],
            reason=reason,
        )
