"""Access tokens: every forgery and misuse the issue lists is refused."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.clock import FakeClock
from core.errors import Code, ServiceError
from core.identity import Principal, Role
from core.identity.tokens import TokenSigner

PRINCIPAL = Principal(
    account_id="acc-1", role=Role.CLINICIAN, establishment_id="est-1", session_id="sid-1"
)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def signer(key: Ed25519PrivateKey, clock: FakeClock) -> TokenSigner:
    return TokenSigner(key, "kid1", issuer="tc", audience="tc-api", lifetime_s=900, clock=clock)


def _claims(clock: FakeClock, **overrides: object) -> dict[str, object]:
    now = int(clock.now().timestamp())
    claims: dict[str, object] = {
        "iss": "tc",
        "aud": "tc-api",
        "sub": "acc-1",
        "role": "clinician",
        "est": "est-1",
        "sid": "sid-1",
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": "j1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _refused(signer: TokenSigner, token: str, code: Code = Code.INVALID_TOKEN) -> None:
    with pytest.raises(ServiceError) as info:
        signer.verify(token)
    assert info.value.code == code


def test_round_trip(signer: TokenSigner) -> None:
    token = signer.issue(PRINCIPAL)
    assert signer.verify(token.token).account_id == "acc-1"
    header = jwt.get_unverified_header(token.token)
    assert header["alg"] == "EdDSA"


def test_fifteen_minute_lifetime(signer: TokenSigner, clock: FakeClock) -> None:
    token = signer.issue(PRINCIPAL).token
    clock.advance(minutes=15)
    signer.verify(token)
    clock.advance(seconds=10)
    _refused(signer, token, Code.TOKEN_EXPIRED)


def test_not_yet_valid(signer: TokenSigner, key: Ed25519PrivateKey, clock: FakeClock) -> None:
    future = int((clock.now() + timedelta(minutes=5)).timestamp())
    token = jwt.encode(_claims(clock, nbf=future, iat=future), key, algorithm="EdDSA")
    _refused(signer, token)


def test_other_audience(signer: TokenSigner, key: Ed25519PrivateKey, clock: FakeClock) -> None:
    _refused(signer, jwt.encode(_claims(clock, aud="someone-else"), key, algorithm="EdDSA"))


def test_other_issuer(signer: TokenSigner, key: Ed25519PrivateKey, clock: FakeClock) -> None:
    _refused(signer, jwt.encode(_claims(clock, iss="evil"), key, algorithm="EdDSA"))


def test_signed_with_another_key(signer: TokenSigner, clock: FakeClock) -> None:
    other = Ed25519PrivateKey.generate()
    _refused(signer, jwt.encode(_claims(clock), other, algorithm="EdDSA"))


def test_alg_none(signer: TokenSigner, clock: FakeClock) -> None:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64(json.dumps(_claims(clock)).encode())
    _refused(signer, f"{header}.{body}.")


def test_hs256_with_the_public_key(
    signer: TokenSigner, key: Ed25519PrivateKey, clock: FakeClock
) -> None:
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(_claims(clock)).encode())
    mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    _refused(signer, f"{header}.{body}.{b64(mac)}")


@pytest.mark.parametrize("missing", ["exp", "nbf", "iat", "jti", "iss", "aud", "sid"])
def test_every_claim_is_required(
    signer: TokenSigner, key: Ed25519PrivateKey, clock: FakeClock, missing: str
) -> None:
    _refused(signer, jwt.encode(_claims(clock, **{missing: None}), key, algorithm="EdDSA"))


@pytest.mark.parametrize("junk", ["", "abc", "a.b.c", "x" * 5000, "Bearer"])
def test_junk(signer: TokenSigner, junk: str) -> None:
    _refused(signer, junk)


def _signed(key: Ed25519PrivateKey, body: str) -> str:
    """A token signed with the real key over a body written by hand (any JSON text)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": "kid1"}).encode())
    signing_input = f"{header}.{b64(body.encode())}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode()))}"


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "value", ['"9999999999"', "9999999999.5", "NaN", "Infinity", "-Infinity", "true", "1e10"]
)
def test_token_with_a_time_that_is_not_an_integer_is_refused(
    signer: TokenSigner, key: Ed25519PrivateKey, clock: FakeClock, claim: str, value: str
) -> None:
    """Issue 12 item 3: `"exp": "9999999999"` (a string), a float, `nan` or `inf`
    were turned into floats and passed; nan compares false with everything, so a
    token carrying it never expired."""
    claims = _claims(clock)
    body = json.dumps({k: v for k, v in claims.items() if k != claim})
    body = body[:-1] + f', "{claim}": {value}}}'
    _refused(signer, _signed(key, body))


def test_token_written_by_hand_with_integer_times_is_accepted(
    signer: TokenSigner, key: Ed25519PrivateKey, clock: FakeClock
) -> None:
    """The hand-made tokens above are refused for their times, not for how they are made."""
    assert signer.verify(_signed(key, json.dumps(_claims(clock)))).account_id == "acc-1"
