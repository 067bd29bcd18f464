"""Email to staff over SMTP (aiosmtplib): the one way the service sends mail.

Mail never carries health content: it carries the link that verifies a staff
address, and "You have a new message in Throughcare" with a link to the desk
(web/jobs.py, `notifications.email`). A send that the server refuses, or that cannot reach
the server, raises `ServiceError(Code.EMAIL_NOT_SENT)` with a sentence the
person can act on; what the server said goes to `debug_context` (logged, never
sent). Callers send *before* they change anything, so a refusal changes nothing.
"""

from __future__ import annotations

import email.policy
import logging
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from core.config import Secret, Settings
from core.errors import Code, ServiceError

log = logging.getLogger(__name__)

TIMEOUT_S = 15.0
UNFOLDED = email.policy.SMTP.clone(max_line_length=998)


class MailRefused(ServiceError):
    """The server answered and would not take the message (its name is what a
    failed job shows an admin: a refusing address is not a server that is down)."""


class MailUnreachable(ServiceError):
    """The server could not be reached or did not answer in time."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    message_id: str | None = None
    """`<...@...>`, the same on every retry of one message, so the receiver can
    recognise a second delivery of it as the first."""


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None:
        """Deliver to the SMTP server or raise `ServiceError(Code.EMAIL_NOT_SENT)`."""
        ...


@dataclass(frozen=True)
class SmtpMailer:
    host: str | None
    port: int
    tls: str  # "starttls", "tls" or "none"
    user: str | None
    password: Secret | None
    sender: str
    # Tests trust their own loopback certificate; production uses the system's.
    tls_context: ssl.SSLContext | None = None
    timeout_s: float = TIMEOUT_S

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            tls=settings.smtp_tls,
            user=settings.smtp_user,
            password=settings.smtp_password,
            sender=settings.smtp_from,
        )

    async def send(self, mail: Mail) -> None:
        if self.host is None:
            raise ServiceError(
                Code.EMAIL_NOT_SENT,
                "Email is not set up on this service (THROUGHCARE_SMTP_HOST).",
            )
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        if mail.message_id is not None:
            message["Message-ID"] = mail.message_id
        message.set_content(mail.text)
        try:
            await aiosmtplib.send(
                # Flattened here, with headers unfolded up to SMTP's own limit: a
                # folded Message-ID is legal, but receivers compare it as written.
                message.as_bytes(policy=UNFOLDED),
                sender=self.sender,
                recipients=[mail.to],
                hostname=self.host,
                port=self.port,
                username=self.user,
                password=None if self.password is None else self.password.reveal(),
                use_tls=self.tls == "tls",
                start_tls=self.tls == "starttls",
                tls_context=self.tls_context,
                timeout=self.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise MailRefused(
                Code.EMAIL_NOT_SENT,
                "The mail server refused the message; the address was not changed.",
                debug_context={"smtp_codes": [r.code for r in exc.recipients]},
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise MailRefused(
                Code.EMAIL_NOT_SENT,
                "The mail server refused the message; the address was not changed.",
                debug_context={"smtp_code": exc.code, "smtp_message": exc.message},
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailUnreachable(
                Code.EMAIL_NOT_SENT,
                "The mail server could not be reached; the address was not changed.",
                debug_context={"error": type(exc).__name__},
            ) from None
        log.info("mail sent", extra={"smtp_host": self.host})
