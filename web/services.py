"""The domain services built from the settings, the store, the audit log, the clock and the
keys, as the app (web/app.py) and the `throughcare` command (web/cli.py) both build them.

Nothing here imports aiohttp or the media stack, so that a shell command loads only the
services it uses, not the whole web app: `throughcare places list` spent two of its three
seconds of CPU importing web.app for one of these.
"""

from __future__ import annotations

from core.access.service import Access
from core.clock import Clock
from core.config import Settings
from core.db import Database
from core.events import AuditSink
from core.fields import FieldCipher, SubjectCipher
from core.identity import IdentityService
from core.identity.passwords import SecretHasher
from core.identity.tokens import TokenSigner
from core.identity.types import SessionEndings
from core.keys import ServiceKeys
from core.mail import Mailer, SmtpMailer
from scheduling import SchedulingService


def build_identity(
    settings: Settings,
    db: Database,
    audit: AuditSink,
    clock: Clock,
    keys: ServiceKeys,
    hasher: SecretHasher | None = None,
    endings: SessionEndings | None = None,
    subject_keys: SubjectCipher | None = None,
) -> IdentityService:
    signer = TokenSigner(
        keys.token_signing,
        keys.token_kid,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        lifetime_s=settings.access_token_seconds,
        clock=clock,
    )
    return IdentityService(
        db,
        cipher=FieldCipher(keys.field_key),
        signer=signer,
        hasher=hasher or SecretHasher(),
        clock=clock,
        audit=audit,
        refresh_lifetime_s=settings.refresh_token_seconds,
        enrolment_lifetime_s=settings.enrolment_code_seconds,
        endings=endings,
        subject_keys=subject_keys,
    )


def build_access(
    settings: Settings,
    db: Database,
    audit: AuditSink,
    clock: Clock,
    keys: ServiceKeys,
    mailer: Mailer | None = None,
) -> Access:
    return Access(
        db,
        clock=clock,
        audit=audit,
        cipher=FieldCipher(keys.field_key),
        mailer=mailer or SmtpMailer.from_settings(settings),
        link_base=settings.public_origins[0] if settings.public_origins else "",
        link_lifetime_s=settings.email_link_seconds,
    )


def build_scheduling(
    db: Database,
    audit: AuditSink,
    clock: Clock,
    keys: ServiceKeys,
    subject_keys: SubjectCipher,
    endings: SessionEndings | None = None,
) -> SchedulingService:
    return SchedulingService(
        db,
        cipher=FieldCipher(keys.field_key),
        subject_keys=subject_keys,
        clock=clock,
        audit=audit,
        endings=endings,
    )
