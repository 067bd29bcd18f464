"""Access tokens (Ed25519 JWTs) and opaque refresh tokens.

The algorithm is pinned to EdDSA, so `alg: none` and the HS256-with-the-public-
key confusion are refused by construction. PyJWT checks signature, audience and
issuer; the times are checked here against the injected clock (PyJWT would use
the system's), with every registered claim required.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.clock import Clock
from core.errors import Code, ServiceError
from core.identity.types import Principal, Role

ALGORITHM = "EdDSA"
LEEWAY_S = 5
REQUIRED = ["iss", "aud", "exp", "nbf", "iat", "jti", "sub", "sid", "role"]


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime
    token_id: str


class TokenSigner:
    def __init__(
        self,
        key: Ed25519PrivateKey,
        kid: str,
        *,
        issuer: str,
        audience: str,
        lifetime_s: int,
        clock: Clock,
    ) -> None:
        self._key = key
        self._public = key.public_key()
        self._kid = kid
        self._issuer = issuer
        self._audience = audience
        self._lifetime = timedelta(seconds=lifetime_s)
        self._clock = clock

    def issue(self, principal: Principal) -> AccessToken:
        now = self._clock.now()
        expires = now + self._lifetime
        jti = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": principal.account_id,
            "role": principal.role.value,
            "est": principal.establishment_id,
            "sid": principal.session_id,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": jti,
        }
        if principal.device_id:
            claims["dev"] = principal.device_id
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self._kid})
        return AccessToken(token=token, expires_at=expires, token_id=jti)

    def verify(self, token: str) -> Principal:
        """Signature, issuer, audience and times; not whether the session is revoked."""
        if not isinstance(token, str) or len(token) > 4096 or token.count(".") != 2:
            raise ServiceError(Code.INVALID_TOKEN)
        try:
            claims = jwt.decode(
                token,
                self._public,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": REQUIRED,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise ServiceError(
                Code.INVALID_TOKEN, debug_context={"reason": type(exc).__name__}
            ) from None
        now = self._clock.now().timestamp()
        exp, nbf, iat = claims["exp"], claims["nbf"], claims["iat"]
        if not all(_numeric_date(value) for value in (exp, nbf, iat)):
            raise ServiceError(Code.INVALID_TOKEN, debug_context={"reason": "not a NumericDate"})
        try:
            role = Role(claims["role"])
        except (TypeError, ValueError):
            raise ServiceError(Code.INVALID_TOKEN) from None
        establishment, device = claims.get("est"), claims.get("dev")
        if not (establishment is None or isinstance(establishment, str)) or not (
            device is None or isinstance(device, str)
        ):
            raise ServiceError(Code.INVALID_TOKEN, debug_context={"reason": "claim type"})
        if now > exp + LEEWAY_S:
            raise ServiceError(Code.TOKEN_EXPIRED)
        if now + LEEWAY_S < nbf or now + LEEWAY_S < iat:
            raise ServiceError(Code.INVALID_TOKEN, debug_context={"reason": "not yet valid"})
        return Principal(
            account_id=str(claims["sub"]),
            role=role,
            establishment_id=establishment,
            session_id=str(claims["sid"]),
            device_id=device,
            token_id=str(claims["jti"]),
        )


def _numeric_date(value: object) -> bool:
    """RFC 7519's NumericDate, as we issue it: an integer, in a range a date can have.

    Not a string ("9999999999"), not a float (so neither nan nor inf, which
    compare false with everything and would pass every time check), not a bool.
    """
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**40


def new_refresh_token() -> tuple[str, str]:
    """(the token to hand out, the hash to store)."""
    token = "tcr_" + secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """High-entropy secrets need no slow hash; SHA-256 keeps lookups indexable."""
    return hashlib.sha256(token.encode()).hexdigest()
