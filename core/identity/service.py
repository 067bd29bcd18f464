"""Sign-in, lockout, devices, sessions and tokens: the identity rules.

Every refusal is a `ServiceError` with a fixed message. A refusal changes
nothing except, deliberately, the failed-attempt counter of a wrong PIN or
password, and the revocation of a session whose refresh token was replayed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.access.serving import served_ids, serves
from core.clock import Clock
from core.db.engine import Database
from core.db.schema import (
    accounts,
    community_emails,
    devices,
    establishments,
    refresh_tokens,
    sessions,
)
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import FieldCipher, SubjectCipher
from core.identity import validation
from core.identity.accounts import Accounts, Establishment, establishment_from_row
from core.identity.community import EMAIL_PURPOSE, CommunityAccounts, totp_step
from core.identity.devices import DeviceRegistry
from core.identity.passwords import SecretHasher
from core.identity.tokens import AccessToken, TokenSigner, hash_token, new_refresh_token
from core.identity.types import (
    STAFF_ROLES,
    SYSTEM_ACTOR,
    EndReason,
    NoEndings,
    Principal,
    Role,
    SessionEndings,
    SessionsEnded,
)
from core.permissions import Permission, allows

MAX_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)


@dataclass(frozen=True)
class SignInResult:
    principal: Principal
    access: AccessToken
    refresh_token: str
    refresh_expires_at: datetime


_SESSION_CHECK = select(
    sessions.c.revoked_at,
    sessions.c.device_id,
    sessions.c.establishment_id.label("chosen"),
    accounts.c.active,
    accounts.c.role,
    accounts.c.establishment_id,
    devices.c.revoked_at.label("dev_revoked"),
).select_from(
    sessions.join(accounts, accounts.c.id == sessions.c.account_id).outerjoin(
        devices, devices.c.id == sessions.c.device_id
    )
)
"""What `authenticate` reads of a token's session, its account and its device."""


class IdentityService(Accounts, CommunityAccounts):
    def __init__(
        self,
        db: Database,
        *,
        cipher: FieldCipher,
        signer: TokenSigner,
        hasher: SecretHasher,
        clock: Clock,
        audit: AuditSink,
        refresh_lifetime_s: int = 12 * 3600,
        enrolment_lifetime_s: int = 24 * 3600,
        endings: SessionEndings | None = None,
        subject_keys: SubjectCipher | None = None,
    ) -> None:
        self._db = db
        self._endings: SessionEndings = endings or NoEndings()
        # A prisoner's date of birth is sealed under their own key (core.people).
        self._subject_keys = subject_keys
        self._cipher = cipher
        self._signer = signer
        self._hasher = hasher
        self._clock = clock
        self._audit = audit
        self._refresh_lifetime = timedelta(seconds=refresh_lifetime_s)
        self.devices = DeviceRegistry(
            db,
            clock=clock,
            audit=audit,
            enrolment_lifetime_s=enrolment_lifetime_s,
            endings=self._endings,
        )

    @property
    def signer(self) -> TokenSigner:
        return self._signer

    @property
    def hasher(self) -> SecretHasher:
        """The password hasher, for accounts made elsewhere (an interpreter's invitation)."""
        return self._hasher

    async def session_for(self, principal: Principal) -> SignInResult:
        """Sign in an account another service has just proven and made (an interpreter who
        accepted an invitation with its one-time code and their app's TOTP code)."""
        return await self._start_session(principal)

    # -------------------------------------------------------------- sign-in

    async def sign_in_staff(self, username: object, password: object, totp: object) -> SignInResult:
        name = validation.username(username)
        if not isinstance(password, str) or len(password) > validation.MAX_SECRET:
            raise ServiceError(Code.INVALID_REQUEST, "A password is 12 to 256 characters.")
        code = validation.totp_code(totp)
        async with self._db.connect() as conn:
            row = (await conn.execute(select(accounts).where(accounts.c.username == name))).first()
        m = row._mapping if row is not None else None
        if m is None or m["role"] not in STAFF_ROLES or not m["active"]:
            await self._hasher.verify(None, password)
            await self._audit.append(
                AuditRecord(
                    action=Action.SIGN_IN_FAILED, actor="anonymous", details={"username": name}
                )
            )
            raise ServiceError(Code.INVALID_CREDENTIALS)
        return await self._password_and_code(m, password, code)

    async def sign_in_community(
        self, email: object, password: object, totp: object
    ) -> SignInResult:
        """A former prisoner's community account: email, password and TOTP, under the
        same lockout, replay and audit rules as staff (core/identity/community.py)."""
        if not isinstance(email, str) or len(email) > 254:
            raise ServiceError(
                Code.INVALID_REQUEST, "An email address looks like name@example.org."
            )
        if not isinstance(password, str) or len(password) > validation.MAX_SECRET:
            raise ServiceError(Code.INVALID_REQUEST, "A password is 12 to 256 characters.")
        code = validation.totp_code(totp)
        try:
            address = validation.email(email)
        except ServiceError:
            address = None
        row = None
        if address is not None:
            index = self._cipher.blind_index(address, purpose=EMAIL_PURPOSE)
            async with self._db.connect() as conn:
                row = (
                    await conn.execute(
                        select(accounts)
                        .join(community_emails, community_emails.c.account_id == accounts.c.id)
                        .where(community_emails.c.email_index == index)
                    )
                ).first()
        m = row._mapping if row is not None else None
        if m is None or m["role"] != Role.COMMUNITY.value or not m["active"]:
            await self._hasher.verify(None, password)
            await self._audit.append(
                AuditRecord(
                    action=Action.SIGN_IN_FAILED,
                    actor="anonymous",
                    details={"reason": "unknown_community_account"},
                )
            )
            raise ServiceError(Code.INVALID_CREDENTIALS)
        return await self._password_and_code(m, password, code)

    async def complete_claim(
        self, code: object, email: object, password: object, totp: object, *, source: str
    ) -> SignInResult:
        """Claim a community account with a release's code, and sign in with it."""
        return await self._start_session(
            await self.claim(code, email, password, totp, source=source)
        )

    async def _password_and_code(self, m: Any, password: str, code: str) -> SignInResult:
        """The second half of a password sign-in: lockout, password, TOTP (each step
        used once), then the session."""
        self._refuse_if_locked(m)
        password_ok = await self._hasher.verify(m["password_hash"], password)
        step = self._totp_step(m, code) if password_ok else None
        if not password_ok or step is None:
            await self._record_failure(m, reason="password_or_code")
        async with self._db.begin() as conn:
            claimed = await conn.execute(
                update(accounts)
                .where(
                    and_(
                        accounts.c.id == m["id"],
                        (accounts.c.totp_last_step.is_(None)) | (accounts.c.totp_last_step < step),
                    )
                )
                .values(failed_attempts=0, locked_until=None, totp_last_step=step)
            )
        if claimed.rowcount != 1:
            # The same code twice: a replay, or two sign-ins racing.
            await self._record_failure(m, reason="code_reused")
        principal = Principal(
            account_id=m["id"],
            role=Role(m["role"]),
            establishment_id=m["establishment_id"],
            session_id="",
        )
        return await self._start_session(principal)

    async def sign_in_prisoner(
        self, device_credential: object, prison_number: object, pin: object
    ) -> SignInResult:
        device = await self.devices.authenticate_device(device_credential)
        number = validation.prison_number(prison_number)
        if not isinstance(pin, str) or len(pin) > 16:
            raise ServiceError(Code.INVALID_REQUEST, "A PIN is 4 to 8 digits.")
        index = self._cipher.blind_index(number, purpose="prison_number")
        async with self._db.connect() as conn:
            row = (
                await conn.execute(select(accounts).where(accounts.c.prison_number_index == index))
            ).first()
        m = row._mapping if row is not None else None
        if m is None or not m["active"] or m["role"] != Role.PRISONER.value:
            await self._hasher.verify(None, pin)
            await self._audit.append(
                AuditRecord(
                    action=Action.SIGN_IN_FAILED,
                    actor=device.id,
                    establishment=device.establishment_id,
                    details={"reason": "unknown_prisoner"},
                )
            )
            raise ServiceError(Code.INVALID_CREDENTIALS)
        if m["establishment_id"] != device.establishment_id:
            await self._audit.append(
                AuditRecord(
                    action=Action.SIGN_IN_FAILED,
                    actor=device.id,
                    establishment=device.establishment_id,
                    subject=m["id"],
                    details={"reason": "device_of_another_establishment"},
                )
            )
            raise ServiceError(Code.DEVICE_NOT_ALLOWED)
        self._refuse_if_locked(m)
        if not await self._hasher.verify(m["pin_hash"], pin):
            await self._record_failure(m, reason="wrong_pin", device_id=device.id)
        async with self._db.begin() as conn:
            await conn.execute(
                update(accounts)
                .where(accounts.c.id == m["id"])
                .values(failed_attempts=0, locked_until=None)
            )
        principal = Principal(
            account_id=m["id"],
            role=Role.PRISONER,
            establishment_id=m["establishment_id"],
            session_id="",
            device_id=device.id,
        )
        return await self._start_session(principal)

    def _refuse_if_locked(self, m: Any) -> None:
        locked_until = m["locked_until"]
        if locked_until is not None and locked_until > self._clock.now():
            raise ServiceError(Code.LOCKED_OUT, extra={"locked_until": locked_until.isoformat()})

    def _totp_step(self, m: Any, code: str) -> int | None:
        """The time step the code belongs to, allowing one step of clock drift."""
        secret = self._cipher.decrypt(m["totp_secret_enc"], row=m["id"], column="totp_secret")
        return totp_step(secret, code, self._clock.now())

    async def _record_failure(self, m: Any, *, reason: str, device_id: str | None = None) -> None:
        """Count a wrong secret, lock at the fifth, and raise the right refusal."""
        now = self._clock.now()
        async with self._db.begin() as conn:
            await conn.execute(
                update(accounts)
                .where(accounts.c.id == m["id"])
                .values(failed_attempts=accounts.c.failed_attempts + 1)
            )
            attempts = int(
                await conn.scalar(
                    select(accounts.c.failed_attempts).where(accounts.c.id == m["id"])
                )
                or 0
            )
            locked = attempts >= MAX_ATTEMPTS
            if locked:
                await conn.execute(
                    update(accounts)
                    .where(accounts.c.id == m["id"])
                    .values(locked_until=now + LOCKOUT, failed_attempts=0)
                )
        actor = device_id or "anonymous"
        await self._audit.append(
            AuditRecord(
                action=Action.SIGN_IN_FAILED,
                actor=actor,
                establishment=m["establishment_id"],
                subject=m["id"],
                details={"reason": reason, "attempt": attempts},
            )
        )
        if locked:
            await self._audit.append(
                AuditRecord(
                    action=Action.LOCKOUT,
                    actor=actor,
                    establishment=m["establishment_id"],
                    subject=m["id"],
                    details={"minutes": int(LOCKOUT.total_seconds() // 60)},
                )
            )
            raise ServiceError(Code.LOCKED_OUT, extra={"locked_until": (now + LOCKOUT).isoformat()})
        raise ServiceError(
            Code.INVALID_CREDENTIALS, extra={"attempts_left": MAX_ATTEMPTS - attempts}
        )

    # ------------------------------------------------------------- sessions

    async def _start_session(self, principal: Principal) -> SignInResult:
        session_id = str(uuid.uuid4())
        now = self._clock.now()
        refresh, refresh_hash = new_refresh_token()
        async with self._db.begin() as conn:
            await conn.execute(
                insert(sessions).values(
                    id=session_id,
                    account_id=principal.account_id,
                    device_id=principal.device_id,
                    created_at=now,
                )
            )
            await conn.execute(
                insert(refresh_tokens).values(
                    token_hash=refresh_hash,
                    session_id=session_id,
                    issued_at=now,
                    expires_at=now + self._refresh_lifetime,
                )
            )
        principal = Principal(
            account_id=principal.account_id,
            role=principal.role,
            establishment_id=principal.establishment_id,
            session_id=session_id,
            device_id=principal.device_id,
        )
        await self._audit.append(
            AuditRecord(
                action=Action.SIGN_IN,
                actor=principal.account_id,
                establishment=principal.establishment_id,
                subject=principal.account_id,
                details={"role": principal.role.value, "device": principal.device_id},
            )
        )
        access = self._signer.issue(principal)
        return SignInResult(
            principal=principal,
            access=access,
            refresh_token=refresh,
            refresh_expires_at=now + self._refresh_lifetime,
        )

    async def refresh(self, token: object) -> SignInResult:
        """Rotate: the old refresh token is spent; a replay ends the whole family."""
        if not isinstance(token, str) or not token.startswith("tcr_") or len(token) > 100:
            raise ServiceError(Code.REFRESH_TOKEN_INVALID)
        token_hash = hash_token(token)
        now = self._clock.now()
        reused_session: tuple[str, str, str | None] | None = None
        async with self._db.begin() as conn:
            row = (
                await conn.execute(
                    select(
                        refresh_tokens.c.session_id,
                        refresh_tokens.c.used_at,
                        refresh_tokens.c.expires_at,
                        sessions.c.revoked_at,
                        sessions.c.account_id,
                        sessions.c.device_id,
                        sessions.c.establishment_id.label("chosen"),
                        accounts.c.role,
                        accounts.c.establishment_id,
                        accounts.c.active,
                    )
                    .select_from(
                        refresh_tokens.join(
                            sessions, sessions.c.id == refresh_tokens.c.session_id
                        ).join(accounts, accounts.c.id == sessions.c.account_id)
                    )
                    .where(refresh_tokens.c.token_hash == token_hash)
                )
            ).first()
            if row is None:
                raise ServiceError(Code.REFRESH_TOKEN_INVALID)
            m = row._mapping
            if m["revoked_at"] is not None or not m["active"]:
                raise ServiceError(Code.SESSION_REVOKED)
            spent = m["used_at"] is not None
            if not spent:
                claimed = await conn.execute(
                    update(refresh_tokens)
                    .where(
                        and_(
                            refresh_tokens.c.token_hash == token_hash,
                            refresh_tokens.c.used_at.is_(None),
                        )
                    )
                    .values(used_at=now)
                )
                spent = claimed.rowcount != 1
            if spent:
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.id == m["session_id"])
                    .values(revoked_at=now, revoked_reason="refresh_reused")
                )
                reused_session = (m["session_id"], m["account_id"], m["establishment_id"])
            elif m["expires_at"] <= now:
                raise ServiceError(Code.REFRESH_TOKEN_INVALID)
            else:
                acting = await self._acting_in(conn, m["account_id"], row)
                new_token, new_hash = new_refresh_token()
                await conn.execute(
                    insert(refresh_tokens).values(
                        token_hash=new_hash,
                        session_id=m["session_id"],
                        issued_at=now,
                        expires_at=now + self._refresh_lifetime,
                    )
                )
        if reused_session is not None:
            session_id, account_id, est = reused_session
            await self._audit.append(
                AuditRecord(
                    action=Action.REFRESH_REUSED,
                    actor=account_id,
                    establishment=est,
                    subject=account_id,
                    details={"session": session_id},
                )
            )
            await self._endings.sessions_ended(
                SessionsEnded(
                    EndReason.SESSION_REVOKED, account_id=account_id, session_id=session_id
                )
            )
            raise ServiceError(Code.REFRESH_TOKEN_REUSED)
        principal = Principal(
            account_id=m["account_id"],
            role=Role(m["role"]),
            establishment_id=acting,
            session_id=m["session_id"],
            device_id=m["device_id"],
        )
        return SignInResult(
            principal=principal,
            access=self._signer.issue(principal),
            refresh_token=new_token,
            refresh_expires_at=now + self._refresh_lifetime,
        )

    async def sign_out(self, principal: Principal) -> None:
        async with self._db.begin() as conn:
            await conn.execute(
                update(sessions)
                .where(and_(sessions.c.id == principal.session_id, sessions.c.revoked_at.is_(None)))
                .values(revoked_at=self._clock.now(), revoked_reason="sign_out")
            )
        await self._audit.append(
            AuditRecord(
                action=Action.SIGN_OUT,
                actor=principal.account_id,
                establishment=principal.establishment_id,
                subject=principal.account_id,
            )
        )
        await self._endings.sessions_ended(
            SessionsEnded(
                EndReason.SIGNED_OUT,
                account_id=principal.account_id,
                session_id=principal.session_id,
            )
        )

    async def disable_account(self, actor: Principal, account_id: str) -> None:
        """An admin disables an account: every session ends, and it cannot sign in.

        Safe to repeat. An admin cannot disable their own account (there would be
        nobody left to undo a slip).
        """
        if not allows(actor, Permission.ACCOUNTS_DISABLE):
            raise ServiceError(Code.FORBIDDEN)
        if account_id == actor.account_id:
            raise ServiceError(Code.INVALID_REQUEST, "You cannot disable your own account.")
        now = self._clock.now()
        async with self._db.begin() as conn:
            row = (
                await conn.execute(
                    select(accounts.c.establishment_id).where(accounts.c.id == account_id)
                )
            ).first()
            if row is None:
                raise ServiceError(Code.NOT_FOUND)
            await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(active=False)
            )
            await conn.execute(
                update(sessions)
                .where(and_(sessions.c.account_id == account_id, sessions.c.revoked_at.is_(None)))
                .values(revoked_at=now, revoked_reason="account_disabled")
            )
        await self._audit.append(
            AuditRecord(
                action=Action.ACCOUNT_DISABLED,
                actor=actor.account_id,
                establishment=row.establishment_id,
                subject=account_id,
            )
        )
        await self._endings.sessions_ended(
            SessionsEnded(EndReason.ACCOUNT_DISABLED, account_id=account_id)
        )

    async def authenticate(self, token: object) -> Principal:
        """A verified token whose session is still open and account still active."""
        if not isinstance(token, str):
            raise ServiceError(Code.INVALID_TOKEN)
        principal = self._signer.verify(token)
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    _SESSION_CHECK.where(
                        and_(
                            sessions.c.id == principal.session_id,
                            sessions.c.account_id == principal.account_id,
                        )
                    )
                )
            ).first()
            return await self._checked(conn, principal, row)

    async def authenticate_many(self, tokens: Sequence[object]) -> list[Principal | ServiceError]:
        """`authenticate` for several tokens in one store round trip (a storm of hellos).

        Each answer is what `authenticate` gives for that token: its principal, or
        the ServiceError it would raise. A fault of the store itself is raised.
        """
        answers: list[Principal | ServiceError] = [ServiceError(Code.INVALID_TOKEN) for _ in tokens]
        verified: list[tuple[int, Principal]] = []
        for i, token in enumerate(tokens):
            if not isinstance(token, str):
                continue
            try:
                verified.append((i, self._signer.verify(token)))
            except ServiceError as exc:
                answers[i] = exc
        if not verified:
            return answers
        async with self._db.connect() as conn:
            wanted = list({principal.session_id for _, principal in verified})
            rows = (
                await conn.execute(
                    _SESSION_CHECK.add_columns(sessions.c.id, sessions.c.account_id).where(
                        sessions.c.id.in_(wanted)
                    )
                )
            ).all()
            by_session = {row.id: row for row in rows}
            for i, principal in verified:
                row = by_session.get(principal.session_id)
                if row is not None and row.account_id != principal.account_id:
                    row = None
                try:
                    answers[i] = await self._checked(conn, principal, row)
                except ServiceError as exc:
                    answers[i] = exc
        return answers

    async def _checked(self, conn: AsyncConnection, principal: Principal, row: Any) -> Principal:
        """The principal as the store has it now, given its session's row (None: no such)."""
        if row is None:
            raise ServiceError(Code.INVALID_TOKEN)
        if row.revoked_at is not None or not row.active or row.dev_revoked is not None:
            raise ServiceError(Code.SESSION_REVOKED)
        if (
            row.role != principal.role.value
            or principal.establishment_id not in (row.establishment_id, row.chosen)
            or row.device_id != principal.device_id
        ):
            # Signed by us, but it says something the session and account do not
            # (a role changed since, or a token forged with a leaked key): the
            # store is the authority, the token only names it. The establishment
            # may be the home one or the one the session chose.
            raise ServiceError(Code.INVALID_TOKEN, debug_context={"reason": "claims disagree"})
        acting = await self._acting_in(conn, principal.account_id, row)
        # The store, not the token, says what the person is and where they act:
        # a role change or a withdrawn establishment counts from the next request.
        return replace(principal, role=Role(row.role), establishment_id=acting)

    @staticmethod
    async def _acting_in(conn: AsyncConnection, account_id: str, row: Any) -> str | None:
        """The session's chosen establishment while the account still serves it, else home."""
        chosen = row.chosen
        if chosen is None or chosen == row.establishment_id:
            return cast(str | None, row.establishment_id)
        if await serves(conn, account_id, chosen):
            return cast(str, chosen)
        return cast(str | None, row.establishment_id)

    async def served(self, principal: Principal) -> list[Establishment]:
        """The establishments this person serves, their home one first."""
        async with self._db.connect() as conn:
            ids = await served_ids(conn, principal.account_id)
            rows = {
                r.id: establishment_from_row(r._mapping)
                for r in await conn.execute(
                    select(establishments).where(establishments.c.id.in_(ids))
                )
            }
        return [rows[i] for i in ids if i in rows]

    async def choose_establishment(
        self, principal: Principal, establishment_id: object
    ) -> SignInResult:
        """Act in another establishment one serves; a fresh access token says so.

        One the person does not serve answers exactly as a missing one (404).
        """
        if not isinstance(establishment_id, str) or not 0 < len(establishment_id) <= 64:
            raise ServiceError(Code.INVALID_REQUEST, "establishment_id is required.")
        if not principal.is_staff:
            raise ServiceError(Code.FORBIDDEN)
        async with self._db.begin() as conn:
            if not await serves(conn, principal.account_id, establishment_id):
                raise ServiceError(Code.NOT_FOUND, "No such establishment.")
            await conn.execute(
                update(sessions)
                .where(sessions.c.id == principal.session_id)
                .values(establishment_id=establishment_id)
            )
        chosen = replace(principal, establishment_id=establishment_id)
        await self._audit.append(
            AuditRecord(
                action=Action.ESTABLISHMENT_CHOSEN,
                actor=principal.account_id,
                establishment=establishment_id,
                subject=principal.account_id,
            )
        )
        return SignInResult(
            principal=chosen,
            access=self._signer.issue(chosen),
            refresh_token="",
            refresh_expires_at=self._clock.now(),
        )


__all__ = ["SYSTEM_ACTOR", "IdentityService", "SignInResult"]
