"""The audit log: append-only, encrypted, tamper-evident.

Other packages write through `AuditSink.append` (declared in `core.events`);
`open_audit_log` builds the real log for the application. See docs/audit.md.
"""

from audit.log import AuditLog, open_audit_log

__all__ = ["AuditLog", "open_audit_log"]
