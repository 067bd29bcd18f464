"""Email to staff over SMTP (aiosmtplib): the one way the service sends mail.

Mail never carries health content; today it carries only the link that
verifies a staff address. A send that the server refuses, or that cannot reach
the server, raises `ServiceError(Code.EMAIL_NOT_SENT)` with a sentence the
person can act on; what the server said goes to `debug_context` (logged, never
sent). Callers send *before* they change anything, so a refusal changes nothing.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


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
        message.set_content(mail.text)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.user,
                password=None if self.password is None else self.password.reveal(),
                use_tls=self.tls == "tls",
                start_tls=self.tls == "starttls",
                tls_context=self.tls_context,
                timeout=TIMEOUT_S,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise ServiceError(
                Code.EMAIL_NOT_SENT,
                "The mail server refused the message; the address was not changed.",
                debug_context={"smtp_codes": [r.code for r in exc.recipients]},
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise ServiceError(
                Code.EMAIL_NOT_SENT,
                "The mail server refused the message; the address was not changed.",
                debug_context={"smtp_code": exc.code, "smtp_message": exc.message},
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise ServiceError(
                Code.EMAIL_NOT_SENT,
                "The mail server could not be reached; the address was not changed.",
                debug_context={"error": type(exc).__name__},
            ) from None
        log.info("mail sent", extra={"smtp_host": self.host})
