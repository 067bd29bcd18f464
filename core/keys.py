"""Key files on disk: generated on first start, owner-only, checked on every load.

The embedded default keeps keys in `./var/keys/`. Several nodes must share the
same folder (a mounted secret) so that any node can verify any node's tokens.
A key file that others can read, or of the wrong length, stops start-up: a key
that leaked once is not a key any more.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class KeyFileError(Exception):
    """A key file is missing, unreadable, too open or malformed."""


def ensure_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def _check_mode(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"{path}: permissions {oct(mode)} let others read it; run chmod 600 {path}"
        )


def write_secret_file(path: Path, data: bytes) -> None:
    """Create a file readable by its owner only; never overwrite an existing key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_secret_file(path: Path, *, length: int | None = None) -> bytes:
    if not path.exists():
        raise KeyFileError(f"{path}: missing")
    _check_mode(path)
    data = path.read_bytes()
    if length is not None and len(data) != length:
        raise KeyFileError(f"{path}: must be {length} bytes, found {len(data)}")
    return data


def load_or_create_symmetric(path: Path, length: int = 32) -> bytes:
    if not path.exists():
        write_secret_file(path, secrets.token_bytes(length))
    return read_secret_file(path, length=length)


def load_or_create_ed25519(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_secret_file(path, pem)
    data = read_secret_file(path)
    try:
        loaded = serialization.load_pem_private_key(data, password=None)
    except ValueError:
        raise KeyFileError(f"{path}: not a PEM private key") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return loaded


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class ServiceKeys:
    """The keys the core layer needs. Audit keeps its own beside them."""

    token_signing: Ed25519PrivateKey
    token_kid: str
    field_key: bytes

    def __repr__(self) -> str:
        return f"ServiceKeys(token_kid={self.token_kid!r})"


def load_service_keys(keys_dir: Path) -> ServiceKeys:
    """Blocking file I/O: call it from a thread, not the event loop."""
    ensure_dir(keys_dir)
    signing = load_or_create_ed25519(keys_dir / "token-signing.pem")
    field_key = load_or_create_symmetric(keys_dir / "field.key", 32)
    return ServiceKeys(
        token_signing=signing, token_kid=key_id(signing.public_key()), field_key=field_key
    )
