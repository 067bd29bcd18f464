"""A real SMTP server on loopback (aiosmtpd), on the test's own event loop.

It keeps what it accepts; `refuse` makes it answer every recipient with a
permanent failure, as a server does for a mailbox it will not take; `hold`
makes it keep a sender waiting at the recipient until the event is set (a
sender that dies meanwhile has sent nothing).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


@dataclass
class Inbox:
    port: int = 0
    messages: list[Message] = field(default_factory=list)
    refuse: bool = False
    logins: list[tuple[str, str]] = field(default_factory=list)
    hold: asyncio.Event | None = None
    held: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a sender reaches a held recipient."""

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.hold is not None:
            self.held.set()
            await self.hold.wait()
        if self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        self.messages.append(message_from_bytes(envelope.original_content))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            self.logins.append((user, password))
            return AuthResult(success=(user, password) == ("mailer", "smtp-secret-pw"))
        return AuthResult(success=False)

    def link_in(self, index: int = -1) -> str:
        body = self.messages[index].get_payload(decode=True)
        assert isinstance(body, bytes)
        for line in body.decode().splitlines():
            if "/verify-email#token=" in line:
                return line.strip()
        raise AssertionError("no verification link in the message")


@asynccontextmanager
async def smtp_server() -> AsyncIterator[Inbox]:
    inbox = Inbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            inbox,
            hostname="localhost",
            authenticator=inbox.authenticate,
            auth_require_tls=False,
        ),
        "127.0.0.1",
        0,
    )
    inbox.port = server.sockets[0].getsockname()[1]
    try:
        yield inbox
    finally:
        server.close()
        await server.wait_closed()
