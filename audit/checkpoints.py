"""Signed checkpoints: tree size, root hash and time, signed with Ed25519.

The audit log signs with a key of its own (`audit-signing.pem` in the keys
folder), never the token-signing key, so the two can be rotated and published
separately. The signed message is a fixed text form so that anyone can
re-create it from a bundle with no library of ours.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.keys import ensure_dir, load_or_create_ed25519

SIGNING_KEY_FILE = "audit-signing.pem"
_DOMAIN = "throughcare-audit/checkpoint/v1"


@dataclass(frozen=True)
class Checkpoint:
    size: int
    root: bytes
    at: datetime
    key_id: str
    signature: bytes


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def checkpoint_message(size: int, root: bytes, at: datetime) -> bytes:
    return f"{_DOMAIN}\n{size}\n{root.hex()}\n{timestamp(at)}\n".encode()


def public_key_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


def verify_checkpoint(public_raw: bytes, checkpoint: Checkpoint) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(public_raw)
        key.verify(
            checkpoint.signature,
            checkpoint_message(checkpoint.size, checkpoint.root, checkpoint.at),
        )
    except (InvalidSignature, ValueError):
        return False
    return public_key_id(public_raw) == checkpoint.key_id


class CheckpointSigner:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = public_key_id(self.public_raw)

    def __repr__(self) -> str:
        return f"CheckpointSigner(key_id={self.key_id!r})"

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.public_raw).decode()

    def sign(self, size: int, root: bytes, at: datetime) -> Checkpoint:
        signature = self._private.sign(checkpoint_message(size, root, at))
        return Checkpoint(size, root, at, self.key_id, signature)


def load_signer(keys_dir: Path) -> CheckpointSigner:
    """Blocking file I/O: call it from a thread."""
    ensure_dir(keys_dir)
    return CheckpointSigner(load_or_create_ed25519(keys_dir / SIGNING_KEY_FILE))
