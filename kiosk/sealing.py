"""What every kiosk service that keeps a prisoner's own words needs: the database, the
ciphers that seal those words (under the prisoner's subject key, `core.fields`), the
clock, the audit log, and the lockdown gate that closes writes during a lockdown.

`Visitors` and `Applications` are built on it; the others keep fewer dependencies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.clock import Clock
from core.db.engine import Database
from core.events import Audited, AuditSink
from core.fields import FieldCipher, SubjectCipher
from core.identity import Principal

Gate = Callable[[Principal, str], Awaitable[None]]
"""scheduling's lockdown check for a module: raises while the module is closed."""


class SealingService(Audited):
    def __init__(
        self,
        db: Database,
        *,
        cipher: FieldCipher,
        subject_keys: SubjectCipher,
        clock: Clock,
        audit: AuditSink,
        gate: Gate,
    ) -> None:
        self._db = db
        self._cipher = cipher
        self._subject_keys = subject_keys
        self._clock = clock
        self._audit = audit
        self._gate = gate
