"""Encryption of personal fields at rest, and blind indexes to find them.

A prisoner's name and prison number are personal data. They are stored
encrypted (AES-256-GCM, the row id and column as associated data so a value
cannot be moved to another row), and a prison number is found by its keyed
HMAC, never by its plain text.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=purpose).derive(key)


class FieldCipher:
    def __init__(self, root_key: bytes) -> None:
        if len(root_key) != 32:
            raise ValueError("field key must be 32 bytes")
        self._aead = AESGCM(_derive(root_key, b"throughcare field encryption v1"))
        self._index_key = _derive(root_key, b"throughcare blind index v1")

    def encrypt(self, plaintext: str, *, row: str, column: str) -> bytes:
        nonce = os.urandom(12)
        aad = f"{column}:{row}".encode()
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), aad)

    def decrypt(self, blob: bytes, *, row: str, column: str) -> str:
        if not blob or blob[:1] != _VERSION:
            raise ValueError("unknown field encryption version")
        nonce, body = blob[1:13], blob[13:]
        aad = f"{column}:{row}".encode()
        return self._aead.decrypt(nonce, body, aad).decode()

    def blind_index(self, value: str, *, purpose: str) -> str:
        normalised = value.strip().upper().encode()
        digest = hmac.new(self._index_key, purpose.encode() + b"\x00" + normalised, hashlib.sha256)
        return digest.hexdigest()
