"""Who may read clinical free text: one rule, used by every route that returns it.

Clinical free text is what a clinician or a patient writes about health: an
appointment's reason, notes and outcome note, a health request's text, and
whatever later modules add (questionnaire answers, consult notes). The rule:

| reader | reads |
| --- | --- |
| admin | never: admins run the system, they are not clinicians |
| officer, and any role not named here | never |
| prisoner | their own record only (what they themselves may see of it) |
| clinician | records of their establishment |
| healthcare manager, administrator | records of their establishment, each reading logged |
| staff, if the service is `sensitive` | only the assigned clinician and staff the service names |

Which roles read is `core.permissions`' table (`CLINICAL_TEXT_READ`, and
`CLINICAL_TEXT_READ_LOGGED` for readings that are logged).

The scheduling service and the audit review both ask `reading`; the web edge
never decides. A refusal to show text is not an error: the record's other
fields are still shown to whoever may see them, with the text withheld.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from core.identity.types import Principal, Role
from core.permissions import Permission, allows


class Reading(Enum):
    SHOW = "show"
    # Shown, and the reading is appended to the audit log before the answer is sent.
    SHOW_AND_LOG = "show_and_log"
    WITHHOLD = "withhold"


@dataclass(frozen=True)
class ClinicalRecord:
    """What the rule needs to know about one record holding clinical text."""

    establishment_id: str
    prisoner_id: str | None = None
    # The clinician the record is assigned to (an appointment's clinician), if any.
    clinician_id: str | None = None
    # The record's service is marked sensitive (sexual health, mental health,
    # substance misuse): then only the assigned clinician and `named` may read.
    sensitive: bool = False
    named: frozenset[str] = field(default_factory=frozenset)

    def names(self, account_id: str) -> bool:
        """The assigned clinician, or staff the service names: they read even if it is sensitive."""
        return account_id == self.clinician_id or account_id in self.named


def reading(reader: Principal, record: ClinicalRecord) -> Reading:
    if reader.role == Role.PRISONER:
        if record.prisoner_id is not None and reader.account_id == record.prisoner_id:
            return Reading.SHOW
        return Reading.WITHHOLD
    if not allows(reader, Permission.CLINICAL_TEXT_READ):
        return Reading.WITHHOLD
    if reader.establishment_id is None or reader.establishment_id != record.establishment_id:
        return Reading.WITHHOLD
    if record.sensitive and not record.names(reader.account_id):
        return Reading.WITHHOLD
    if allows(reader, Permission.CLINICAL_TEXT_READ_LOGGED):
        return Reading.SHOW_AND_LOG
    return Reading.SHOW
