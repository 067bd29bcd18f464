"""Signed checkpoints: tree size, root hash and time, signed with Ed25519.

The audit log signs with a key of its own (`audit-signing.pem` in the keys
folder), never the token-signing key, so the two can be rotated and published
separately. The signed message is a fixed text form so that anyone can
re-create it from a bundle with no library of ours.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def checkpoint_verifier(public_raw: bytes) -> Callable[[Checkpoint], bool]:
    """A check of signature and key id for many checkpoints, the key parsed once."""
    try:
        key: Ed25519PublicKey | None = Ed25519PublicKey.from_public_bytes(public_raw)
    except ValueError:
        key = None
    expected_id = public_key_id(public_raw)

    def verify(checkpoint: Checkpoint) -> bool:
        if key is None or checkpoint.key_id != expected_id:
            return False
        try:
            key.verify(
                checkpoint.signature,
                checkpoint_message(checkpoint.size, checkpoint.root, checkpoint.at),
            )
        except InvalidSignature:
            return False
        return True

    return verify


def verify_checkpoint(public_raw: bytes, checkpoint: Checkpoint) -> bool:
    return checkpoint_verifier(public_raw)(checkpoint)


# ---------------------------------------------------------------- as JSON


class CheckpointFormatError(ValueError):
    """A checkpoint written as JSON is not well formed; the message says which field."""


def checkpoint_json(cp: Checkpoint) -> dict[str, Any]:
    """The JSON form used in export bundles and checkpoint files."""
    return {
        "size": cp.size,
        "root": cp.root.hex(),
        "at": timestamp(cp.at),
        "key_id": cp.key_id,
        "signature": base64.b64encode(cp.signature).decode(),
    }


def parse_checkpoint(raw: Any) -> Checkpoint:
    """The inverse of `checkpoint_json`; raises `CheckpointFormatError`."""
    if not isinstance(raw, dict):
        raise CheckpointFormatError("a checkpoint is not an object")
    size = raw.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise CheckpointFormatError("a checkpoint's size is not a non-negative integer")
    try:
        root = bytes.fromhex(raw["root"])
        signature = base64.b64decode(raw["signature"], validate=True)
        at = datetime.fromisoformat(raw["at"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise CheckpointFormatError(f"the checkpoint at size {size} is malformed") from None
    key_id = raw.get("key_id")
    if at.tzinfo is None or not isinstance(key_id, str) or len(root) != 32:
        raise CheckpointFormatError(f"the checkpoint at size {size} is malformed")
    return Checkpoint(size, root, at, key_id, signature)


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
