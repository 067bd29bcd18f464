"""The consent forms a prisoner is shown, in plain English and Welsh, by version.

A form version is never edited once published: a new wording is a new version,
and each recorded consent names the version the prisoner saw.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import Code, ServiceError
from scheduling.types import Scope


@dataclass(frozen=True)
class ConsentForm:
    scope: Scope
    version: int
    title: dict[str, str]
    text: dict[str, str]

    def as_dict(self) -> dict[str, object]:
        return {
            "scope": self.scope.value,
            "version": self.version,
            "title": self.title,
            "text": self.text,
        }


FORMS: dict[tuple[Scope, int], ConsentForm] = {
    (f.scope, f.version): f
    for f in (
        ConsentForm(
            Scope.TELEHEALTH,
            1,
            {"en": "Seeing a clinician by video", "cy": "Gweld clinigwr drwy fideo"},
            {
                "en": (
                    "You can see a doctor, nurse or other health worker by video on this "
                    "device instead of face to face. Only the health worker will see and hear "
                    "you. Prison staff will know you have an appointment and when, but not what "
                    "it is about. You can say no, and you can change your mind at any time on "
                    "this device. Saying no will not stop you getting health care."
                ),
                "cy": (
                    "Gallwch weld meddyg, nyrs neu weithiwr iechyd arall drwy fideo ar y ddyfais "
                    "hon yn lle wyneb yn wyneb. Dim ond y gweithiwr iechyd fydd yn eich gweld "
                    "ac yn eich clywed. Bydd staff y carchar yn gwybod bod gennych apwyntiad a "
                    "phryd, ond nid beth yw ei bwrpas. Gallwch ddweud na, a gallwch newid eich "
                    "meddwl unrhyw bryd ar y ddyfais hon. Ni fydd dweud na yn eich atal rhag "
                    "cael gofal iechyd."
                ),
            },
        ),
        ConsentForm(
            Scope.RECORDING,
            1,
            {"en": "Recording your video appointment", "cy": "Recordio eich apwyntiad fideo"},
            {
                "en": (
                    "The health worker may ask to record your video appointment for your health "
                    "record. The recording is kept locked and only health staff can see it. "
                    "Nothing is recorded unless you say yes. You can say no, or change your "
                    "mind at any time."
                ),
                "cy": (
                    "Efallai y bydd y gweithiwr iechyd yn gofyn am recordio eich apwyntiad fideo "
                    "ar gyfer eich cofnod iechyd. Caiff y recordiad ei gadw dan glo a dim ond "
                    "staff iechyd all ei weld. Ni chaiff dim ei recordio oni bai eich bod yn "
                    "dweud ie. Gallwch ddweud na, neu newid eich meddwl unrhyw bryd."
                ),
            },
        ),
        # Version 2: recording consent is for one appointment (migration 0030), and the
        # recording is encrypted, watched only by the patient's clinicians and their manager.
        ConsentForm(
            Scope.RECORDING,
            2,
            {"en": "Recording this video appointment", "cy": "Recordio'r apwyntiad fideo hwn"},
            {
                "en": (
                    "The health worker may ask to record this video appointment for your "
                    "health record. The recording is encrypted, and only the health workers "
                    "caring for you and their manager can watch it; each viewing is logged. "
                    "Nothing is recorded unless you say yes on this device. You can change "
                    "your mind at any time, even during the appointment: recording stops at once."
                ),
                "cy": (
                    "Efallai y bydd y gweithiwr iechyd yn gofyn am recordio'r apwyntiad fideo "
                    "hwn ar gyfer eich cofnod iechyd. Caiff y recordiad ei amgryptio, a dim ond "
                    "y gweithwyr iechyd sy'n gofalu amdanoch a'u rheolwr all ei wylio; caiff "
                    "pob gwylio ei gofnodi. Ni chaiff dim ei recordio oni bai eich bod yn dweud "
                    "ie ar y ddyfais hon. Gallwch newid eich meddwl unrhyw bryd, hyd yn oed yn "
                    "ystod yr apwyntiad: bydd y recordio'n stopio ar unwaith."
                ),
            },
        ),
        ConsentForm(
            Scope.COMMUNITY_SHARING,
            1,
            {
                "en": "Sharing your health care when you leave",
                "cy": "Rhannu eich gofal iechyd pan fyddwch yn gadael",
            },
            {
                "en": (
                    "When you are released, we can send details of your health care to your "
                    "doctor or health service outside, so your care carries on. We only share "
                    "what they need. You can say no, or change your mind at any time before "
                    "you leave."
                ),
                "cy": (
                    "Pan gewch eich rhyddhau, gallwn anfon manylion eich gofal iechyd at eich "
                    "meddyg neu wasanaeth iechyd y tu allan, fel bod eich gofal yn parhau. Dim "
                    "ond yr hyn sydd ei angen arnynt y byddwn yn ei rannu. Gallwch ddweud na, "
                    "neu newid eich meddwl unrhyw bryd cyn i chi adael."
                ),
            },
        ),
    )
}

LANGUAGES = ("en", "cy")


def scope(value: object) -> Scope:
    try:
        return Scope(str(value))
    except ValueError:
        raise ServiceError(
            Code.INVALID_REQUEST, "The scope is telehealth, recording or community_sharing."
        ) from None


def form(scope_value: object, version: object) -> ConsentForm:
    found = FORMS.get((scope(scope_value), version)) if isinstance(version, int) else None
    if found is None or isinstance(version, bool):
        raise ServiceError(Code.INVALID_REQUEST, "There is no consent form with this version.")
    return found


def current_forms() -> list[ConsentForm]:
    latest: dict[Scope, ConsentForm] = {}
    for f in FORMS.values():
        if f.scope not in latest or f.version > latest[f.scope].version:
            latest[f.scope] = f
    return [latest[s] for s in Scope if s in latest]
