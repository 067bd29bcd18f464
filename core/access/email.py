"""Verified staff email: an address counts only once a link sent to it is opened.

`start` sends the link first and records it only if the mail server accepted
the message, so a server that refuses leaves everything as it was (the
account's verified address, if any, stays). The link carries a random token;
the store keeps only its hash, and `verify` spends it once, inside its
lifetime (`THROUGHCARE_EMAIL_LINK_SECONDS`). The token travels in the link's
fragment (`/verify-email#token=...`), which browsers never send to a server, so
it is in no access log; the page posts it to `POST /api/email/verify`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, insert, select, update

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts, email_verifications, staff_emails
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.identity import validation
from core.identity.types import STAFF_ROLES, Principal
from core.mail import Mail, Mailer
from core.permissions import Permission, acts_in, require_permission

TOKEN_PREFIX = "tce_"  # noqa: S105 (a prefix, not a secret)


@dataclass(frozen=True)
class StaffEmail:
    account_id: str
    email: str
    verified_at: datetime


@dataclass(frozen=True)
class PendingEmail:
    email: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class EmailVerifier:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        audit: AuditSink,
        mailer: Mailer,
        link_base: str,
        lifetime_s: int,
    ) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit
        self._mailer = mailer
        self._link_base = link_base.rstrip("/")
        self._lifetime = timedelta(seconds=lifetime_s)

    async def start(self, actor: Principal, account_id: str, address: object) -> None:
        """Send a verification link to `address` for a staff account.

        Staff set their own; those with `STAFF_MANAGE` set anyone's in their scope.
        """
        if account_id != actor.account_id:
            require_permission(actor, Permission.STAFF_MANAGE)
        else:
            require_permission(actor, Permission.SELF)
        email = validation.email(address)
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(accounts.c.role, accounts.c.establishment_id).where(
                        accounts.c.id == account_id
                    )
                )
            ).first()
        visible = row is not None and (
            account_id == actor.account_id or acts_in(actor, row.establishment_id)
        )
        if row is None or not visible:
            raise ServiceError(Code.NOT_FOUND, "No such account.")
        if row.role not in STAFF_ROLES:
            raise ServiceError(Code.INVALID_REQUEST, "Only staff accounts have an email address.")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        link = f"{self._link_base}/verify-email#token={token}"
        # Send first: a refusal raises here and nothing below runs.
        await self._mailer.send(
            Mail(
                to=email,
                subject="Confirm your email address for Throughcare",
                text=(
                    "Someone asked to use this address for a Throughcare staff account.\n"
                    "Open this link to confirm it (it works once):\n\n"
                    f"{link}\n\n"
                    "If this was not you, ignore this message: nothing changes.\n"
                ),
            )
        )
        now = self._clock.now()
        async with self._db.begin() as conn:
            # Older pending links for the account end: only the newest address counts.
            await conn.execute(
                delete(email_verifications).where(
                    and_(
                        email_verifications.c.account_id == account_id,
                        email_verifications.c.used_at.is_(None),
                    )
                )
            )
            await conn.execute(
                insert(email_verifications).values(
                    token_hash=_hash(token),
                    account_id=account_id,
                    email=email,
                    created_at=now,
                    expires_at=now + self._lifetime,
                )
            )
        await self._audit.append(
            AuditRecord(
                action=Action.EMAIL_VERIFICATION_SENT,
                actor=actor.account_id,
                establishment=row.establishment_id,
                subject=account_id,
            )
        )

    async def verify(self, token: object) -> StaffEmail:
        """Spend a link: the address becomes the account's verified one."""
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            raise ServiceError(Code.EMAIL_LINK_INVALID)
        token_hash = _hash(token)
        now = self._clock.now()
        async with self._db.begin() as conn:
            row = (
                await conn.execute(
                    select(email_verifications).where(
                        email_verifications.c.token_hash == token_hash
                    )
                )
            ).first()
            if row is None or row.used_at is not None or row.expires_at <= now:
                raise ServiceError(Code.EMAIL_LINK_INVALID)
            claimed = await conn.execute(
                update(email_verifications)
                .where(
                    and_(
                        email_verifications.c.token_hash == token_hash,
                        email_verifications.c.used_at.is_(None),
                    )
                )
                .values(used_at=now)
            )
            if claimed.rowcount != 1:
                raise ServiceError(Code.EMAIL_LINK_INVALID)
            await conn.execute(
                delete(staff_emails).where(staff_emails.c.account_id == row.account_id)
            )
            await conn.execute(
                insert(staff_emails).values(
                    account_id=row.account_id, email=row.email, verified_at=now
                )
            )
            est = await conn.scalar(
                select(accounts.c.establishment_id).where(accounts.c.id == row.account_id)
            )
        await self._audit.append(
            AuditRecord(
                action=Action.EMAIL_VERIFIED,
                actor=row.account_id,
                establishment=est,
                subject=row.account_id,
            )
        )
        return StaffEmail(row.account_id, row.email, now)

    async def pending(self, account_id: str) -> PendingEmail | None:
        """The address a link was last sent to and not yet opened, while the link still works."""
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(email_verifications.c.email, email_verifications.c.expires_at)
                    .where(
                        and_(
                            email_verifications.c.account_id == account_id,
                            email_verifications.c.used_at.is_(None),
                            email_verifications.c.expires_at > self._clock.now(),
                        )
                    )
                    .order_by(email_verifications.c.created_at.desc())
                    .limit(1)
                )
            ).first()
        return None if row is None else PendingEmail(row.email, row.expires_at)

    async def verified(self, account_id: str) -> StaffEmail | None:
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    select(staff_emails).where(staff_emails.c.account_id == account_id)
                )
            ).first()
        return None if row is None else StaffEmail(row.account_id, row.email, row.verified_at)
