"""A streaming AEAD for recordings: the STREAM construction over AES-256-GCM.

A stored recording is a header and then chunks, each sealed on its own:

    header = b"TCRS" | version (1) | chunk size (u32, big-endian) | nonce prefix (7)
    chunk i = AES-256-GCM(key, nonce_i, plaintext_i, aad) = ciphertext_i | tag (16)
    nonce_i = nonce prefix (7) | i (u32, big-endian) | 0x01 if the last chunk else 0x00
    aad     = header | object label (the recording's id and what the object is)

Every chunk but the last holds exactly `chunk size` bytes of plaintext; the
last holds 0 to `chunk size`. So where chunk i starts in the stored object is
arithmetic, and a range read decrypts and authenticates only the chunks that
cover it. What each attack meets:

- a changed byte anywhere: that chunk's tag fails (the header's: every tag fails);
- chunks reordered: chunk i opened at j has the wrong counter in its nonce;
- truncated at a chunk boundary: the chunk now last was sealed with the
  "more" flag, so it does not open as the last one;
- truncated inside a chunk, or extended: the last chunk's length or flag is wrong;
- spliced from another object: its nonce prefix and label differ.

The nonce prefix is random per object and the key is the object's own (a data
key per recording, see media/recordings.py), so a (key, nonce) pair never
repeats. Pure functions and small classes, no I/O: the store wraps them.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"TCRS"
VERSION = 1
PREFIX_LEN = 7
TAG_LEN = 16
HEADER_LEN = len(MAGIC) + 1 + 4 + PREFIX_LEN
DEFAULT_CHUNK = 64 * 1024
MAX_CHUNKS = 2**32
_HEADER = struct.Struct(">4sBI7s")


class StreamError(Exception):
    """The stored bytes are not what was sealed: changed, cut, reordered or spliced."""


@dataclass(frozen=True)
class Header:
    chunk_size: int
    prefix: bytes

    def pack(self) -> bytes:
        return _HEADER.pack(MAGIC, VERSION, self.chunk_size, self.prefix)

    @classmethod
    def parse(cls, data: bytes) -> Header:
        if len(data) < HEADER_LEN:
            raise StreamError("too short for a header")
        magic, version, chunk_size, prefix = _HEADER.unpack(data[:HEADER_LEN])
        if magic != MAGIC or version != VERSION or not 0 < chunk_size <= 2**24:
            raise StreamError("not a recording stream")
        return cls(chunk_size, prefix)


def nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if not 0 <= index < MAX_CHUNKS:
        raise StreamError("too many chunks")
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def _aad(header: bytes, label: str) -> bytes:
    encoded = label.encode()
    return header + struct.pack(">H", len(encoded)) + encoded


@dataclass(frozen=True)
class Layout:
    """Where each chunk lies in a stored object of a known size."""

    chunk_size: int
    stored_size: int

    @property
    def sealed_chunk(self) -> int:
        return self.chunk_size + TAG_LEN

    @property
    def chunks(self) -> int:
        body = self.stored_size - HEADER_LEN
        if body < TAG_LEN:
            raise StreamError("too short for its last chunk")
        return -(-body // self.sealed_chunk)

    @property
    def plain_size(self) -> int:
        body = self.stored_size - HEADER_LEN
        last = body - (self.chunks - 1) * self.sealed_chunk
        if last < TAG_LEN:
            raise StreamError("the last chunk is cut")
        return (self.chunks - 1) * self.chunk_size + last - TAG_LEN

    def span(self, index: int) -> tuple[int, int]:
        """The stored byte range [start, end) of chunk `index`."""
        start = HEADER_LEN + index * self.sealed_chunk
        return start, min(start + self.sealed_chunk, self.stored_size)

    def chunks_for(self, start: int, end: int) -> range:
        """The chunks holding plaintext bytes [start, end), end exclusive."""
        if end <= start:
            return range(0)
        return range(start // self.chunk_size, (end - 1) // self.chunk_size + 1)


class Sealer:
    """Seals a stream as it is written: feed bytes, take whole chunks out."""

    def __init__(
        self,
        key: bytes,
        label: str,
        *,
        chunk_size: int = DEFAULT_CHUNK,
        prefix: bytes | None = None,
    ) -> None:
        self._aead = AESGCM(key)
        self.header = Header(chunk_size, prefix or os.urandom(PREFIX_LEN)).pack()
        self._aad = _aad(self.header, label)
        self._prefix = self.header[-PREFIX_LEN:]
        self._chunk = chunk_size
        self._buffer = bytearray()
        self._index = 0
        self._done = False

    def _seal(self, data: bytes, last: bool) -> bytes:
        out = self._aead.encrypt(nonce(self._prefix, self._index, last), data, self._aad)
        self._index += 1
        return out

    def update(self, data: bytes) -> bytes:
        """Sealed chunks now complete. A full buffer is held back until more comes
        or `finish`, because only then is it known whether it is the last."""
        if self._done:
            raise StreamError("the stream is finished")
        self._buffer += data
        out = bytearray()
        while len(self._buffer) > self._chunk:
            out += self._seal(bytes(self._buffer[: self._chunk]), False)
            del self._buffer[: self._chunk]
        return bytes(out)

    def finish(self) -> bytes:
        self._done = True
        last = self._seal(bytes(self._buffer), True)
        self._buffer.clear()
        return last


class Opener:
    """Opens the chunks of one stored object, given its header and size."""

    def __init__(self, key: bytes, label: str, header: bytes, stored_size: int) -> None:
        parsed = Header.parse(header)
        self._aead = AESGCM(key)
        self._aad = _aad(header[:HEADER_LEN], label)
        self._prefix = parsed.prefix
        self.layout = Layout(parsed.chunk_size, stored_size)
        self._last = self.layout.chunks - 1

    def open_chunk(self, index: int, sealed: bytes) -> bytes:
        if not 0 <= index <= self._last:
            raise StreamError("no such chunk")
        try:
            return self._aead.decrypt(
                nonce(self._prefix, index, index == self._last), sealed, self._aad
            )
        except InvalidTag:
            raise StreamError(f"chunk {index} does not authenticate") from None

    def open_range(self, first: int, sealed: bytes, start: int, end: int) -> bytes:
        """Plaintext [start, end) from the sealed chunks beginning at chunk `first`."""
        size = self.layout.sealed_chunk
        plain = bytearray()
        for n, offset in enumerate(range(0, len(sealed), size)):
            plain += self.open_chunk(first + n, sealed[offset : offset + size])
        skip = start - first * self.layout.chunk_size
        return bytes(plain[skip : skip + (end - start)])


def seal_all(key: bytes, label: str, data: bytes, *, chunk_size: int = DEFAULT_CHUNK) -> bytes:
    sealer = Sealer(key, label, chunk_size=chunk_size)
    return sealer.header + sealer.update(data) + sealer.finish()


def open_all(key: bytes, label: str, stored: bytes) -> bytes:
    opener = Opener(key, label, stored[:HEADER_LEN], len(stored))
    return opener.open_range(0, stored[HEADER_LEN:], 0, opener.layout.plain_size)
