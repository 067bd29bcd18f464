"""Staff who opt in are emailed when a notice reaches their inbox.

Only to a verified address (core/access/email.py): opting in without one is
refused, and an address changed or removed later simply stops the mail (the
email job reads the address when it sends). The mail itself is built and sent by
the `notifications.email` job (web/jobs.py); it says only that there is a new
message, never what it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts, notice_email_optins, staff_emails
from core.errors import Code, ServiceError
from core.identity.types import Principal, Role
from core.mail import Mail
from core.permissions import Permission, require_permission


@dataclass(frozen=True)
class NoticeEmailSetting:
    email: str | None
    """The verified address the mail would go to, if there is one."""
    opted_in: bool


async def address_for(conn: AsyncConnection, account_id: str) -> str | None:
    """Where to email `account_id` about a new notice, or None: not opted in, no
    verified address, not staff, or the account is disabled."""
    row = (
        await conn.execute(
            select(staff_emails.c.email)
            .select_from(
                notice_email_optins.join(
                    staff_emails, staff_emails.c.account_id == notice_email_optins.c.account_id
                ).join(accounts, accounts.c.id == notice_email_optins.c.account_id)
            )
            .where(
                and_(
                    notice_email_optins.c.account_id == account_id,
                    accounts.c.active.is_(True),
                    accounts.c.role != Role.PRISONER.value,
                )
            )
        )
    ).first()
    return None if row is None else str(row.email)


class NoticeEmails:
    def __init__(self, db: Database, *, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def setting(self, actor: Principal) -> NoticeEmailSetting:
        require_permission(actor, Permission.SELF)
        _staff_only(actor)
        async with self._db.connect() as conn:
            return await self._read(conn, actor.account_id)

    async def choose(self, actor: Principal, opted_in: object) -> NoticeEmailSetting:
        """Opt in (True) or out (False) for oneself; again is no change."""
        require_permission(actor, Permission.SELF)
        _staff_only(actor)
        if not isinstance(opted_in, bool):
            raise ServiceError(Code.INVALID_REQUEST, "Say true or false for opted_in.")
        async with self._db.begin() as conn:
            current = await self._read(conn, actor.account_id)
            if opted_in and current.email is None:
                raise ServiceError(
                    Code.CONFLICT, "Add and confirm an email address before choosing email."
                )
            if opted_in and not current.opted_in:
                await conn.execute(
                    insert(notice_email_optins).values(
                        account_id=actor.account_id, opted_in_at=self._clock.now()
                    )
                )
            elif not opted_in and current.opted_in:
                await conn.execute(
                    delete(notice_email_optins).where(
                        notice_email_optins.c.account_id == actor.account_id
                    )
                )
        return NoticeEmailSetting(current.email, opted_in)

    async def _read(self, conn: AsyncConnection, account_id: str) -> NoticeEmailSetting:
        email = await conn.scalar(
            select(staff_emails.c.email).where(staff_emails.c.account_id == account_id)
        )
        opted = await conn.scalar(
            select(notice_email_optins.c.account_id).where(
                notice_email_optins.c.account_id == account_id
            )
        )
        return NoticeEmailSetting(email, opted is not None)


def _staff_only(actor: Principal) -> None:
    # Prisoners', and former prisoners' community accounts (whose email is their sign-in).
    if not actor.is_staff:
        raise ServiceError(Code.INVALID_REQUEST, "Only staff accounts have an email address.")


EMAIL_JOB = "notifications.email"
SUBJECT = "You have a new message in Throughcare"


def notice_mail(to: str, notification_id: str, link_base: str) -> Mail:
    """The email about one notice: that there is a message, and where to read it.

    Never the notice's kind, time or anything of it: a mailbox is outside the
    service. The Message-ID is the notice's, so the email job's retries (a server
    that timed out after taking the message) are one message to the receiver.
    """
    base = link_base.rstrip("/")
    host = urlsplit(base).hostname or "throughcare.invalid"
    return Mail(
        to=to,
        subject=SUBJECT,
        text=(
            "You have a new message in Throughcare.\n"
            f"Sign in to read it: {base}/\n\n"
            "Mae gennych neges newydd yn Throughcare.\n"
            f"Mewngofnodwch i'w darllen: {base}/\n\n"
            "You get this email because you asked for it on your Throughcare desk; "
            "you can turn it off there.\n"
        ),
        message_id=f"<notice.{notification_id}@{host}>",
    )
