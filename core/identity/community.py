"""Community accounts: what a prisoner keeps when they leave custody.

At release (one of its registered steps) the prisoner's account is given a one-time
claim code. The code is shown once, in the release's answer and on the letter the
officer prints for them; the store keeps only its keyed hash (the cipher's blind
index), so neither a database copy nor the audit log can reveal it. It expires after
`CLAIM_DAYS` and is spent by one claim.

Outside custody the person opens the claim page, types the code, is given a TOTP
secret to put in an authenticator app (`start_claim`; each start replaces the secret
waiting on the claim), then sets an email and a password and types the app's code
(`claim`). In one transaction the code is spent and the same account becomes a
community account: role `community`, active again, no establishment, no PIN (the
prison number can no longer sign in anywhere), the password hashed as staff
passwords are and the TOTP secret encrypted as theirs. Because it is the same account,
everything keyed by it (programme enrolments and answers sealed under the person's own
key, the learning record and certificates) carries on; what the role may reach is
`core.permissions`'s `Role.COMMUNITY`. The claim signs them in; afterwards they sign in
with email, password and TOTP (`sign_in_community`), through the same lockout, replay
and audit rules as staff.

Refusals are clear and change nothing: a wrong code (400 `wrong_code`), one used
already (409 `used`), one expired (409 `expired`), one whose account is not a released
prisoner's (409 `not_released`), a TOTP code that does not match (400 `wrong_totp`),
an email another community account uses (409 `email_taken`). Each failure but the last
is counted against where it came from (`core.identity.guesses`); past its limit
further claims from there are refused (429) until the window passes.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import (
    accounts,
    community_claims,
    community_emails,
)
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import FieldCipher
from core.identity import validation
from core.identity.guesses import count_failure, refuse_if_guessing
from core.identity.passwords import SecretHasher
from core.identity.types import Principal, Role

CLAIM_DAYS = 30
CODE_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY3479"
"""Letters and digits nobody misreads (no 0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B)."""
CODE_LENGTH = 16
"""About 74 bits: sixteen characters of the alphabet above, shown in hyphenated fours."""
ISSUER = "Throughcare"
INDEX_PURPOSE = "community_claim"
EMAIL_PURPOSE = "community_email"
STEP = "community"
"""The release step's name; its summary and its hand-out are keyed by it."""

WRONG_CODE = "This code is not right. Check it against the release letter and try again."
USED = "This code has been used already. Sign in with your email and password instead."
EXPIRED = "This code has expired."
NOT_RELEASED = "This code cannot be used yet: it works once its owner has been released."
WRONG_TOTP = "The code from your app does not match. Type the 6 digits it shows now."
EMAIL_TAKEN = "This email address is used by another account already."
START_FIRST = "Start again: type your claim code to get a new key for your app."


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def clean_code(value: object) -> str | None:
    """The code as typed, without spaces or dashes and in capitals; None if it cannot be one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    raw = "".join(ch for ch in value.upper() if ch not in " -\t")
    if len(raw) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in raw):
        return None
    return raw


def totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step a TOTP code belongs to, allowing one step of clock drift either way."""
    totp = pyotp.TOTP(secret)
    for drift in (0, -1, 1):
        when = now + timedelta(seconds=drift * totp.interval)
        if secrets.compare_digest(totp.at(when), code):
            return int(when.timestamp()) // totp.interval
    return None


@dataclass(frozen=True)
class IssuedClaim:
    claim_id: str
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    uri: str
    expires_at: datetime


class CommunityAccounts:
    """Claim codes, claims and community sign-in (`IdentityService` inherits it)."""

    _db: Database
    _cipher: FieldCipher
    _clock: Clock
    _audit: AuditSink
    _hasher: SecretHasher

    # ------------------------------------------------------------- issuing

    async def issue_claim(
        self, conn: AsyncConnection, *, account_id: str, actor_id: str, now: datetime
    ) -> IssuedClaim:
        """Inside the release's transaction: a new code for the (now disabled) prisoner.

        Only the hash is written; the code itself is returned once, for the officer to
        hand over. The caller audits the claim's id, never the code.
        """
        role = await conn.scalar(
            select(accounts.c.role).where(
                and_(accounts.c.id == account_id, accounts.c.active.is_(False))
            )
        )
        if role != Role.PRISONER.value:
            raise ServiceError(Code.CONFLICT, NOT_RELEASED, extra={"reason": "not_released"})
        code = new_code()
        claim_id = str(uuid.uuid4())
        expires = now + timedelta(days=CLAIM_DAYS)
        await conn.execute(
            insert(community_claims).values(
                id=claim_id,
                account_id=account_id,
                code_index=self._code_index(clean_code(code) or ""),
                issued_at=now,
                issued_by=actor_id,
                expires_at=expires,
            )
        )
        return IssuedClaim(claim_id, code, expires)

    def _code_index(self, raw: str) -> str:
        return self._cipher.blind_index(raw, purpose=INDEX_PURPOSE)

    # ------------------------------------------------------------- claiming

    async def start_claim(self, code: object, *, source: str) -> TotpEnrolment:
        """Check the code, and give the person a TOTP secret for their app."""
        claim = await self._usable_claim(code, source)
        secret = pyotp.random_base32()
        async with self._db.begin() as conn:
            await conn.execute(
                update(community_claims)
                .where(
                    and_(
                        community_claims.c.id == claim["id"],
                        community_claims.c.claimed_at.is_(None),
                    )
                )
                .values(
                    totp_secret_enc=self._cipher.encrypt(
                        secret, row=claim["id"], column="claim_totp_secret"
                    )
                )
            )
        uri = pyotp.TOTP(secret).provisioning_uri(name="community account", issuer_name=ISSUER)
        return TotpEnrolment(secret, uri, claim["expires_at"])

    async def claim(
        self, code: object, email: object, password: object, totp: object, *, source: str
    ) -> Principal:
        """Spend the code: the released prisoner's account becomes their community account.

        Returns who they now are; the caller starts their session.
        """
        address = validation.email(email)
        secret_word = validation.password(password)
        typed = validation.totp_code(totp)
        claim = await self._usable_claim(code, source)
        if claim["totp_secret_enc"] is None:
            raise ServiceError(Code.CONFLICT, START_FIRST, extra={"reason": "not_started"})
        secret = self._cipher.decrypt(
            claim["totp_secret_enc"], row=claim["id"], column="claim_totp_secret"
        )
        now = self._clock.now()
        step = totp_step(secret, typed, now)
        if step is None:
            await self._failed(source, "wrong_totp", claim["account_id"])
            raise ServiceError(Code.INVALID_REQUEST, WRONG_TOTP, extra={"reason": "wrong_totp"})
        email_index = self._cipher.blind_index(address, purpose=EMAIL_PURPOSE)
        password_hash = await self._hasher.hash(secret_word)
        account_id = claim["account_id"]
        async with self._db.begin() as conn:
            taken = await conn.scalar(
                select(community_emails.c.account_id).where(
                    community_emails.c.email_index == email_index
                )
            )
            if taken is not None:
                raise ServiceError(Code.CONFLICT, EMAIL_TAKEN, extra={"reason": "email_taken"})
            spent = await conn.execute(
                update(community_claims)
                .where(
                    and_(
                        community_claims.c.id == claim["id"],
                        community_claims.c.claimed_at.is_(None),
                    )
                )
                .values(claimed_at=now, totp_secret_enc=None)
            )
            if spent.rowcount != 1:
                raise ServiceError(Code.CONFLICT, USED, extra={"reason": "used"})
            became = await conn.execute(
                update(accounts)
                .where(
                    and_(
                        accounts.c.id == account_id,
                        accounts.c.role == Role.PRISONER.value,
                        accounts.c.active.is_(False),
                    )
                )
                .values(
                    role=Role.COMMUNITY.value,
                    active=True,
                    establishment_id=None,
                    pin_hash=None,
                    password_hash=password_hash,
                    totp_secret_enc=self._cipher.encrypt(
                        secret, row=account_id, column="totp_secret"
                    ),
                    totp_last_step=step,
                    failed_attempts=0,
                    locked_until=None,
                )
            )
            if became.rowcount != 1:
                raise ServiceError(Code.CONFLICT, NOT_RELEASED, extra={"reason": "not_released"})
            await conn.execute(
                insert(community_emails).values(
                    account_id=account_id,
                    email_index=email_index,
                    email_enc=self._cipher.encrypt(address, row=account_id, column="email"),
                    claimed_at=now,
                )
            )
        await self._audit.append(
            AuditRecord(
                action=Action.COMMUNITY_CLAIMED,
                actor=account_id,
                subject=account_id,
                details={"claim": claim["id"]},
            )
        )
        return Principal(
            account_id=account_id, role=Role.COMMUNITY, establishment_id=None, session_id=""
        )

    async def _usable_claim(self, code: object, source: str) -> Any:
        """The claim a code names, if it can be used now; otherwise a counted refusal."""
        now = self._clock.now()
        async with self._db.connect() as conn:
            await refuse_if_guessing(conn, source, now)
            raw = clean_code(code)
            row = None
            if raw is not None:
                row = (
                    await conn.execute(
                        select(community_claims, accounts.c.role, accounts.c.active)
                        .join(accounts, accounts.c.id == community_claims.c.account_id)
                        .where(community_claims.c.code_index == self._code_index(raw))
                    )
                ).first()
        if row is None:
            await self._failed(source, "wrong_code", None)
            raise ServiceError(Code.INVALID_REQUEST, WRONG_CODE, extra={"reason": "wrong_code"})
        m = row._mapping
        if m["claimed_at"] is not None:
            await self._failed(source, "used", m["account_id"])
            raise ServiceError(Code.CONFLICT, USED, extra={"reason": "used"})
        if m["expires_at"] <= now:
            await self._failed(source, "expired", m["account_id"])
            raise ServiceError(
                Code.CONFLICT,
                EXPIRED,
                extra={"reason": "expired", "expired_at": m["expires_at"].isoformat()},
            )
        if m["role"] != Role.PRISONER.value or m["active"]:
            await self._failed(source, "not_released", m["account_id"])
            raise ServiceError(Code.CONFLICT, NOT_RELEASED, extra={"reason": "not_released"})
        return m

    async def _failed(self, source: str, reason: str, account_id: str | None) -> None:
        now = self._clock.now()
        async with self._db.begin() as conn:
            await count_failure(conn, source, now)
        await self._audit.append(
            AuditRecord(
                action=Action.COMMUNITY_CLAIM_FAILED,
                actor="anonymous",
                subject=account_id,
                details={"reason": reason},
            )
        )

    def claim_source(self, address: str) -> str:
        """Where a claim came from, as a keyed hash: the address itself is not kept."""
        return self._cipher.blind_index(
            hashlib.sha256(address.encode()).hexdigest(), purpose="claim_source"
        )

    # --------------------------------------------------------------- email

    async def community_email(self, account_id: str) -> str | None:
        async with self._db.connect() as conn:
            blob = await conn.scalar(
                select(community_emails.c.email_enc).where(
                    community_emails.c.account_id == account_id
                )
            )
        return None if blob is None else self._cipher.decrypt(blob, row=account_id, column="email")
