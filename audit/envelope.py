"""Envelope encryption: per-scope AES-256-GCM data keys wrapped by a versioned KEK.

The key-encryption key (KEK) is a 32-byte file `audit-kek-vN.key` in the keys
folder, owner-only; the highest N is current. Data keys (DEKs) are random, one
per subject (or per establishment, or one for the system, for events with no
subject), and are stored only wrapped: AES-256-GCM under the KEK with the
key's id and scope as associated data, so a wrapped key cannot be moved to
another scope. Rotating the KEK re-wraps DEKs and touches no event or field;
shredding a subject deletes its wrapped DEK, then rotates the KEK and destroys
every older KEK file, so that no copy of the database, live or backed up, can
unwrap the subject's key again (audit/shredding.py).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.keys import KeyFileError, ensure_dir, read_secret_file, write_secret_file

KEK_LENGTH = 32
_KEK_FILE = re.compile(r"^audit-kek-v(\d+)\.key$")
_NONCE = 12


class KeyUnavailable(Exception):
    """A data key is shredded, or wrapped under a KEK this node does not have."""


def kek_path(keys_dir: Path, version: int) -> Path:
    return keys_dir / f"audit-kek-v{version}.key"


def _wrap_aad(key_id: str, scope: str) -> bytes:
    return b"throughcare-audit/dek/v1\x00" + key_id.encode() + b"\x00" + scope.encode()


@dataclass
class KeyRing:
    """The KEKs on disk. Blocking file I/O: build it from a thread."""

    keys_dir: Path
    keks: dict[str, bytes] = field(default_factory=dict, repr=False)
    current: str = ""

    def __repr__(self) -> str:
        return f"KeyRing(current={self.current!r}, versions={sorted(self.keks)!r})"

    @classmethod
    def load(cls, keys_dir: Path, *, create: bool = True) -> KeyRing:
        ensure_dir(keys_dir)
        ring = cls(keys_dir)
        ring.reload()
        if not ring.keks:
            if not create:
                raise KeyFileError(f"{kek_path(keys_dir, 1)}: missing")
            write_secret_file(kek_path(keys_dir, 1), os.urandom(KEK_LENGTH))
            ring.reload()
        return ring

    def reload(self) -> None:
        found: dict[int, bytes] = {}
        for path in sorted(self.keys_dir.iterdir()):
            match = _KEK_FILE.match(path.name)
            if match:
                found[int(match.group(1))] = read_secret_file(path, length=KEK_LENGTH)
        self.keks = {f"v{n}": key for n, key in found.items()}
        self.current = f"v{max(found)}" if found else ""

    def create_next(self) -> str:
        """Write a new KEK one version above the highest; it becomes current."""
        self.reload()
        version = max((int(k[1:]) for k in self.keks), default=0) + 1
        write_secret_file(kek_path(self.keys_dir, version), os.urandom(KEK_LENGTH))
        fsync_dir(self.keys_dir)
        self.reload()
        return self.current

    def destroy_older(self, keep: set[str]) -> list[str]:
        """Destroy every KEK file older than the current one, except those in `keep`.

        Each file is overwritten with random bytes and synced before it is
        unlinked, and the folder is synced after. (On a copy-on-write or
        wear-levelled disk the old blocks may survive the overwrite; the keys
        folder belongs on storage that is never snapshotted: docs/audit.md.)
        """
        current = self.current
        destroyed = []
        for kek_id in sorted(self.keks, key=lambda k: int(k[1:])):
            if kek_id == current or kek_id in keep:
                continue
            path = kek_path(self.keys_dir, int(kek_id[1:]))
            if path.exists():
                destroy_file(path)
            destroyed.append(kek_id)
        if destroyed:
            fsync_dir(self.keys_dir)
        self.reload()
        return destroyed

    def wrap(self, dek: bytes, key_id: str, scope: str) -> tuple[str, bytes]:
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self.keks[self.current]).encrypt(nonce, dek, _wrap_aad(key_id, scope))
        return self.current, nonce + sealed

    def unwrap(self, kek_id: str, wrapped: bytes, key_id: str, scope: str) -> bytes:
        kek = self.keks.get(kek_id)
        if kek is None:
            raise KeyUnavailable(f"KEK {kek_id} is not in {self.keys_dir}")
        try:
            return AESGCM(kek).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _wrap_aad(key_id, scope))
        except InvalidTag:
            raise KeyUnavailable(f"data key {key_id} does not unwrap under {kek_id}") from None


def destroy_file(path: Path) -> None:
    """Overwrite a key file with random bytes, sync it, then unlink it."""
    size = path.stat().st_size
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, os.urandom(max(size, KEK_LENGTH)))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def open_sealed(aead: AESGCM, blob: bytes, aad: bytes) -> bytes:
    """Raises cryptography's InvalidTag when the blob or its context is wrong."""
    return aead.decrypt(blob[:_NONCE], blob[_NONCE:], aad)
