"""coturn's admin CLI, for cutting a held member's relay allocations.

A TURN REST credential cannot be withdrawn before its expiry, but the sessions
it opened can be cancelled: coturn's telnet CLI lists sessions with their
usernames (`psp <text>`: every session whose username contains the text) and
cancels one by id (`cs <id>`). Every credential `media.turn` issues for one
participant of one appointment ends in `:<appointment>:<participant>`, on any
node and whatever its expiry, so that suffix finds them all without this node
having to remember what it handed out; the listing is filtered again here on
the exact ids, since a substring could also match a longer id.

The CLI is reached on loopback only (the shipped `deploy/turnserver.conf`
listens for it on 127.0.0.1); its password comes from settings and is never
logged. What coturn prints back (session ids, usernames, addresses) is parsed
and never logged either.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from core.config import Secret, Settings
from signalling.relay_cut import RelayUnavailable

PROMPT = b"> "
ASK_PASSWORD = b"Enter password:"
SESSION = re.compile(rb"\bid=(\d+), user <([^>\r\n]*)>:")
IAC = 255
READ_LIMIT = 1 << 20
"""The most a reply may hold: coturn prints at most `cli-max-output-sessions` sessions."""


@dataclass(frozen=True)
class RelaySession:
    id: str
    username: str


def _strip_telnet(data: bytes) -> bytes:
    """Drop telnet commands (IAC ...), which coturn's libtelnet may send, from `data`."""
    if IAC not in data:
        return data
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == IAC and i + 1 < len(data):
            cmd = data[i + 1]
            if cmd == IAC:
                out.append(IAC)
                i += 2
            elif cmd in (251, 252, 253, 254):  # WILL WONT DO DONT, with an option byte
                i += 3
            else:
                i += 2
            continue
        out.append(data[i])
        i += 1
    return bytes(out)


def owned_by(username: str, appointment: str, participant: str) -> bool:
    """Whether a TURN REST username was issued to `participant` for `appointment`."""
    parts = username.split(":")
    return len(parts) == 3 and parts[1] == appointment and parts[2] == participant


class TurnAdmin:
    """One CLI conversation per call: sign in, list, cancel, quit.

    A connection per hold keeps no socket open between holds (they are rare),
    so there is nothing to keep alive or to restore after coturn restarts.
    """

    def __init__(self, port: int, password: Secret, *, host: str = "127.0.0.1") -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("coturn's CLI is reached on loopback only")
        self._host = host
        self._port = port
        self._password = password

    @classmethod
    def from_settings(cls, settings: Settings) -> TurnAdmin | None:
        """`THROUGHCARE_TURN_CLI_PORT` and `THROUGHCARE_TURN_CLI_PASSWORD`; None when unset."""
        if settings.turn_cli_port is None or settings.turn_cli_password is None:
            return None
        return cls(settings.turn_cli_port, settings.turn_cli_password)

    def __repr__(self) -> str:
        return f"TurnAdmin({self._host}:{self._port})"

    async def sessions(self, text: str = "") -> list[RelaySession]:
        """Every session whose username contains `text` (all of them when empty)."""
        async with _Cli.open(self._host, self._port, self._password) as cli:
            return await cli.sessions(text)

    async def revoke(self, appointment: str, participant: str) -> int:
        if ":" in appointment or ":" in participant or not appointment or not participant:
            raise ValueError("ids in a TURN username cannot contain ':'")
        async with _Cli.open(self._host, self._port, self._password) as cli:
            found = await cli.sessions(f":{appointment}:{participant}")
            mine = [s for s in found if owned_by(s.username, appointment, participant)]
            for session in mine:
                await cli.command(f"cs {session.id}")
            return len(mine)


class _Cli:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, host: str, port: int, password: Secret) -> AsyncIterator[_Cli]:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            raise RelayUnavailable("unreachable") from exc
        cli = cls(reader, writer)
        try:
            await cli.login(password)
            yield cli
        finally:
            await cli.close()

    async def _until_prompt(self) -> bytes:
        """What coturn prints up to its prompt; refused if it asks for the password again."""
        buf = b""
        while not buf.endswith(PROMPT):
            chunk = await self._reader.read(65536)
            if not chunk:
                raise RelayUnavailable("closed")
            buf += _strip_telnet(chunk)
            if ASK_PASSWORD in buf:
                raise RelayUnavailable("refused")
            if len(buf) > READ_LIMIT:
                raise RelayUnavailable("too long")
        return buf

    async def login(self, password: Secret) -> None:
        buf = b""
        while ASK_PASSWORD not in buf and not buf.endswith(PROMPT):
            chunk = await self._reader.read(4096)
            if not chunk:
                raise RelayUnavailable("closed")
            buf += _strip_telnet(chunk)
        if ASK_PASSWORD in buf:
            self._writer.write(password.reveal().encode() + b"\r\n")
            await self._until_prompt()

    async def command(self, line: str) -> bytes:
        self._writer.write(line.encode("ascii") + b"\r\n")
        return await self._until_prompt()

    async def sessions(self, text: str) -> list[RelaySession]:
        reply = await self.command(f"psp {text}" if text else "ps")
        return [
            RelaySession(m.group(1).decode(), m.group(2).decode("utf-8", "replace"))
            for m in SESSION.finditer(reply)
        ]

    async def close(self) -> None:
        with contextlib.suppress(OSError):
            self._writer.write(b"quit\r\n")
            await self._writer.drain()
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
