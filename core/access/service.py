"""The access services, composed: what `web/` wires once at start-up."""

from __future__ import annotations

from core.access.caseloads import Caseloads
from core.access.departments import Departments
from core.access.email import EmailVerifier
from core.access.notice_emails import NoticeEmails
from core.access.staff import StaffDirectory
from core.clock import Clock
from core.db.engine import Database
from core.events import AuditSink
from core.fields import FieldCipher
from core.mail import Mailer


class Access:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        audit: AuditSink,
        cipher: FieldCipher,
        mailer: Mailer,
        link_base: str,
        link_lifetime_s: int,
    ) -> None:
        self.departments = Departments(db, clock=clock, audit=audit)
        self.caseloads = Caseloads(db, clock=clock, audit=audit, cipher=cipher)
        self.staff = StaffDirectory(db, clock=clock, audit=audit, cipher=cipher)
        self.email = EmailVerifier(
            db,
            clock=clock,
            audit=audit,
            mailer=mailer,
            link_base=link_base,
            lifetime_s=link_lifetime_s,
        )
        self.notice_emails = NoticeEmails(db, clock=clock)
