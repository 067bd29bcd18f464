"""The audit log: append-only, encrypted, tamper-evident.

Other packages write through `AuditSink.append` (declared in `core.events`);
`open_audit_log` builds the real log for the application. Health text is sealed
under a subject's own data key through `SubjectKeys` (`core.fields.SubjectCipher`),
so that shredding the subject erases it. See docs/audit.md.
"""

from audit.log import AuditLog, open_audit_log
from audit.subject_keys import SubjectKeys, open_subject_keys

__all__ = ["AuditLog", "SubjectKeys", "open_audit_log", "open_subject_keys"]
