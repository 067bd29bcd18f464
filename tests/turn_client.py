"""A minimal TURN client (RFC 8656 over UDP, long-term credentials) to probe coturn.

aioice's TURN client allocates IPv4 relays only and cannot ask for an IPv6 one
(REQUESTED-ADDRESS-FAMILY, RFC 8656 section 18.8), and coturn checks a peer's
address family before its deny list: an IPv6 peer on an IPv4 allocation gets
443, whatever the address. So the tests that ask "would coturn relay to this
address?" speak the few messages they need themselves: Allocate,
CreatePermission and Refresh, each checked for MESSAGE-INTEGRITY and, where the
server adds one, FINGERPRINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from types import TracebackType

COOKIE = 0x2112A442
FINGERPRINT_XOR = 0x5354554E
UDP = 17
TCP = 6


class Method(IntEnum):
    ALLOCATE = 0x003
    REFRESH = 0x004
    CREATE_PERMISSION = 0x008


class Class(IntEnum):
    REQUEST = 0x000
    SUCCESS = 0x100
    ERROR = 0x110


class Attr(IntEnum):
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    LIFETIME = 0x000D
    XOR_PEER_ADDRESS = 0x0012
    REALM = 0x0014
    NONCE = 0x0015
    XOR_RELAYED_ADDRESS = 0x0016
    REQUESTED_ADDRESS_FAMILY = 0x0017
    REQUESTED_TRANSPORT = 0x0019
    FINGERPRINT = 0x8028


class TurnRefused(Exception):
    """The server answered with an error response."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


def _attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + bytes(-len(value) % 4)


def _header(message_type: int, length: int, transaction_id: bytes) -> bytes:
    return struct.pack("!HHI12s", message_type, length, COOKIE, transaction_id)


def encode(
    message_type: int,
    transaction_id: bytes,
    attributes: Sequence[tuple[int, bytes]],
    *,
    key: bytes | None = None,
    fingerprint: bool = True,
) -> bytes:
    body = b"".join(_attribute(kind, value) for kind, value in attributes)
    if key is not None:
        signed = _header(message_type, len(body) + 24, transaction_id) + body
        body += _attribute(Attr.MESSAGE_INTEGRITY, hmac.new(key, signed, "sha1").digest())
    if fingerprint:
        crc = zlib.crc32(_header(message_type, len(body) + 8, transaction_id) + body)
        body += _attribute(Attr.FINGERPRINT, struct.pack("!I", crc ^ FINGERPRINT_XOR))
    return _header(message_type, len(body), transaction_id) + body


def xor_address(ip: str, port: int, transaction_id: bytes) -> bytes:
    address = ipaddress.ip_address(ip)
    pad = struct.pack("!I", COOKIE) + transaction_id
    raw = bytes(a ^ b for a, b in zip(address.packed, pad, strict=False))
    family = 0x01 if address.version == 4 else 0x02
    return struct.pack("!BBH", 0, family, port ^ (COOKIE >> 16)) + raw


def parse_xor_address(value: bytes, transaction_id: bytes) -> tuple[str, int]:
    family, port = struct.unpack("!xBH", value[:4])
    size = 4 if family == 0x01 else 16
    pad = struct.pack("!I", COOKIE) + transaction_id
    raw = bytes(a ^ b for a, b in zip(value[4 : 4 + size], pad, strict=False))
    return str(ipaddress.ip_address(raw)), port ^ (COOKIE >> 16)


@dataclass(frozen=True)
class Message:
    message_type: int
    transaction_id: bytes
    attributes: dict[int, bytes]
    integrity_at: int | None
    fingerprint_valid: bool | None

    @property
    def method(self) -> int:
        return self.message_type & ~0x110

    @property
    def message_class(self) -> int:
        return self.message_type & 0x110

    def error(self) -> TurnRefused:
        value = self.attributes.get(Attr.ERROR_CODE, b"\x00\x00\x00\x00")
        return TurnRefused((value[2] & 7) * 100 + value[3], value[4:].decode("utf-8", "replace"))


def decode(data: bytes) -> Message:
    message_type, length, cookie, transaction_id = struct.unpack("!HHI12s", data[:20])
    if cookie != COOKIE or len(data) != 20 + length:
        raise ValueError("not a STUN message")
    attributes: dict[int, bytes] = {}
    integrity_at: int | None = None
    fingerprint_valid: bool | None = None
    offset = 20
    while offset + 4 <= len(data):
        kind, size = struct.unpack("!HH", data[offset : offset + 4])
        value = data[offset + 4 : offset + 4 + size]
        if kind == Attr.MESSAGE_INTEGRITY:
            integrity_at = offset
        if kind == Attr.FINGERPRINT:
            crc = zlib.crc32(
                _header(message_type, offset - 20 + 8, transaction_id) + data[20:offset]
            )
            fingerprint_valid = struct.unpack("!I", value)[0] == crc ^ FINGERPRINT_XOR
        attributes.setdefault(kind, value)
        offset += 4 + size + (-size % 4)
    return Message(message_type, transaction_id, attributes, integrity_at, fingerprint_valid)


def integrity_valid(data: bytes, message: Message, key: bytes) -> bool:
    at = message.integrity_at
    if at is None:
        return False
    signed = _header(message.message_type, at - 20 + 24, message.transaction_id) + data[20:at]
    expected = hmac.new(key, signed, "sha1").digest()
    return hmac.compare_digest(expected, data[at + 4 : at + 24])


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[bytes, asyncio.Future[bytes]] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        waiter = self.waiting.get(data[8:20]) if len(data) >= 20 else None
        if waiter is not None and not waiter.done():
            waiter.set_result(data)


class TurnClient:
    """One allocation on a TURN server, from its own socket (one 5-tuple).

    UDP by default; `tcp=True` talks to the server over TCP, which is how a
    client asks for a TCP relay (RFC 6062).
    """

    def __init__(
        self, server: tuple[str, int], username: str, password: str, *, tcp: bool = False
    ) -> None:
        self.server = server
        self.username = username
        self.password = password
        self.tcp = tcp
        self.realm: bytes | None = None
        self.nonce: bytes | None = None
        self.fingerprint = True
        self.relayed: tuple[str, int] | None = None
        self.last_response: Message | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol = _Datagrams()
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def __aenter__(self) -> TurnClient:
        if self.tcp:
            self._stream = await asyncio.open_connection(*self.server)
        else:
            loop = asyncio.get_running_loop()
            self._transport, _ = await loop.create_datagram_endpoint(
                lambda: self._protocol, remote_addr=self.server
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.relayed is not None:
                with contextlib.suppress(TurnRefused, TimeoutError):
                    await self.request(Method.REFRESH, [(Attr.LIFETIME, struct.pack("!I", 0))])
        finally:
            if self._transport is not None:
                self._transport.close()
            if self._stream is not None:
                self._stream[1].close()
                await self._stream[1].wait_closed()

    @property
    def key(self) -> bytes:
        assert self.realm is not None
        credential = f"{self.username}:{self.realm.decode()}:{self.password}"
        return hashlib.md5(credential.encode(), usedforsecurity=False).digest()

    async def allocate(self, family: int = 4, transport: int = UDP) -> tuple[str, int]:
        attributes: list[tuple[int, bytes]] = [
            (Attr.REQUESTED_TRANSPORT, bytes([transport, 0, 0, 0]))
        ]
        if family == 6:
            attributes.append((Attr.REQUESTED_ADDRESS_FAMILY, b"\x02\x00\x00\x00"))
        response = await self.request(Method.ALLOCATE, attributes)
        relayed = parse_xor_address(
            response.attributes[Attr.XOR_RELAYED_ADDRESS], response.transaction_id
        )
        self.relayed = relayed
        return relayed

    async def create_permission(self, peer: str) -> None:
        transaction_id = os.urandom(12)
        await self.request(
            Method.CREATE_PERMISSION,
            [(Attr.XOR_PEER_ADDRESS, xor_address(peer, 9, transaction_id))],
            transaction_id=transaction_id,
        )

    async def permission_outcome(self, peer: str) -> int:
        """200 when the permission is granted, else the server's error code."""
        try:
            await self.create_permission(peer)
        except TurnRefused as refused:
            return refused.code
        return 200

    async def request(
        self,
        method: Method,
        attributes: Sequence[tuple[int, bytes]],
        *,
        transaction_id: bytes | None = None,
    ) -> Message:
        """Sends a request, answering a 401 or 438 challenge once with fresh credentials."""
        for _attempt in range(3):
            tid = transaction_id or os.urandom(12)
            transaction_id = None
            signed = list(attributes)
            key: bytes | None = None
            if self.nonce is not None and self.realm is not None:
                signed += [
                    (Attr.USERNAME, self.username.encode()),
                    (Attr.REALM, self.realm),
                    (Attr.NONCE, self.nonce),
                ]
                key = self.key
            data = await self._exchange(
                encode(method | Class.REQUEST, tid, signed, key=key, fingerprint=self.fingerprint)
            )
            response = decode(data)
            self.last_response = response
            if response.fingerprint_valid is False:
                raise ValueError("a response failed its FINGERPRINT check")
            if response.message_class == Class.ERROR:
                error = response.error()
                if error.code in (401, 438) and Attr.NONCE in response.attributes:
                    self.nonce = response.attributes[Attr.NONCE]
                    self.realm = response.attributes.get(Attr.REALM, self.realm)
                    continue
                raise error
            if key is not None and not integrity_valid(data, response, key):
                raise ValueError("a response failed its MESSAGE-INTEGRITY check")
            return response
        raise TurnRefused(401, "credentials refused")

    async def _exchange(self, request: bytes) -> bytes:
        if self._stream is not None:
            return await asyncio.wait_for(self._exchange_tcp(request), 5)
        return await self._exchange_udp(request)

    async def _exchange_tcp(self, request: bytes) -> bytes:
        """TCP: messages back to back, each framed by its own header's length."""
        assert self._stream is not None
        reader, writer = self._stream
        writer.write(request)
        await writer.drain()
        while True:
            header = await reader.readexactly(20)
            data = header + await reader.readexactly(struct.unpack("!H", header[2:4])[0])
            if data[8:20] == request[8:20]:
                return data

    async def _exchange_udp(self, request: bytes) -> bytes:
        """UDP: resend until answered (RFC 8489 section 6.2.1, shortened for loopback)."""
        assert self._transport is not None
        waiter = asyncio.get_running_loop().create_future()
        transaction_id = request[8:20]
        self._protocol.waiting[transaction_id] = waiter
        try:
            for _ in range(6):
                self._transport.sendto(request)
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(waiter), 0.5)
            raise TimeoutError("no answer from the TURN server")
        finally:
            del self._protocol.waiting[transaction_id]
            waiter.cancel()
