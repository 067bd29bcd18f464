"""The standardised questionnaires, with their published items, scoring and bands.

Pure data and pure functions: no I/O, so the scoring is tested against worked
examples without a store (tests/interventions/test_instruments.py).

Sources (the scoring rules and bands are the instruments' own):

- AUDIT: Babor TF, Higgins-Biddle JC, Saunders JB, Monteiro MG. *AUDIT, The Alcohol
  Use Disorders Identification Test: Guidelines for Use in Primary Care*, 2nd ed.
  World Health Organization, 2001 (WHO/MSD/MSB/01.6a). Items 1-8 score 0-4, items 9
  and 10 score 0, 2 or 4 (Box 4); total 0-40; risk zones I 0-7, II 8-15, III 16-19,
  IV 20-40 (Table 6).
- SDS: Gossop M, Darke S, Griffiths P, et al. The Severity of Dependence Scale (SDS):
  psychometric properties of the SDS in English and Australian samples of heroin,
  cocaine and amphetamine users. *Addiction* 1995;90(5):607-614. Five items, each 0-3,
  total 0-15. The scale has no single cut-off: each substance has its own, in
  `SDS_CUTOFFS` below with the study that set it.
- PHQ-9: Kroenke K, Spitzer RL, Williams JBW. The PHQ-9: validity of a brief
  depression severity measure. *J Gen Intern Med* 2001;16(9):606-613. Nine items,
  each 0-3, total 0-27; severity 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19
  moderately severe, 20-27 severe. Item 9 (thoughts of being better off dead or of
  self-harm) above 0 is a risk answer whatever the total.
- GAD-7: Spitzer RL, Kroenke K, Williams JBW, Löwe B. A brief measure for assessing
  generalized anxiety disorder: the GAD-7. *Arch Intern Med* 2006;166(10):1092-1097.
  Seven items, each 0-3, total 0-21; severity 0-4 minimal, 5-9 mild, 10-14 moderate,
  15-21 severe.

Welsh: none of these four has a validated Welsh translation that we know of, so
each is asked with its English items and a note in Welsh saying why
(`welsh_validated` is False; `web/i18n/cy.json` holds the note). A translation
made here would be a different, unvalidated instrument whose bands mean nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.errors import Code, ServiceError


class Kind(StrEnum):
    AUDIT = "audit"
    SDS = "sds"
    PHQ9 = "phq9"
    GAD7 = "gad7"


@dataclass(frozen=True)
class Option:
    value: int
    text: str


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    options: tuple[Option, ...]

    @property
    def values(self) -> frozenset[int]:
        return frozenset(o.value for o in self.options)


@dataclass(frozen=True)
class Band:
    """Scores from `low` to `high` inclusive fall in this band (a stable code)."""

    low: int
    high: int
    code: str


@dataclass(frozen=True)
class Instrument:
    kind: Kind
    title: str
    stem: str
    items: tuple[Item, ...]
    bands: tuple[Band, ...]
    source: str
    welsh_validated: bool = False

    @property
    def max_score(self) -> int:
        return sum(max(i.values) for i in self.items)

    def band(self, score: int) -> str:
        for b in self.bands:
            if b.low <= score <= b.high:
                return b.code
        raise ValueError(f"score {score} outside {self.kind}")


@dataclass(frozen=True)
class Result:
    kind: Kind
    score: int
    band: str
    # The item ids whose answer is a risk answer (PHQ-9 item 9 above 0).
    risk_items: tuple[str, ...] = ()
    substance: str | None = None
    # SDS only: at or above the substance's published cut-off.
    above_cutoff: bool | None = None


def _options(*pairs: tuple[int, str]) -> tuple[Option, ...]:
    return tuple(Option(v, t) for v, t in pairs)


_FREQ = _options((0, "Never"), (1, "Less than monthly"), (2, "Monthly"), (3, "Weekly"),
                 (4, "Daily or almost daily"))  # fmt: skip
_YES_NO_YEAR = _options((0, "No"), (2, "Yes, but not in the last year"),
                        (4, "Yes, during the last year"))  # fmt: skip
_DAYS = _options((0, "Not at all"), (1, "Several days"), (2, "More than half the days"),
                 (3, "Nearly every day"))  # fmt: skip
_SDS_OFTEN = _options((0, "Never or almost never"), (1, "Sometimes"), (2, "Often"),
                      (3, "Always or nearly always"))  # fmt: skip
_SDS_HARD = _options((0, "Not difficult"), (1, "Quite difficult"), (2, "Very difficult"),
                     (3, "Impossible"))  # fmt: skip

AUDIT = Instrument(
    kind=Kind.AUDIT,
    title="AUDIT",
    stem="These questions are about your use of alcohol during the past year.",
    items=(
        Item(
            "1",
            "How often do you have a drink containing alcohol?",
            _options(
                (0, "Never"),
                (1, "Monthly or less"),
                (2, "2 to 4 times a month"),
                (3, "2 to 3 times a week"),
                (4, "4 or more times a week"),
            ),
        ),
        Item(
            "2",
            "How many drinks containing alcohol do you have on a typical day "
            "when you are drinking?",
            _options(
                (0, "1 or 2"), (1, "3 or 4"), (2, "5 or 6"), (3, "7, 8 or 9"), (4, "10 or more")
            ),
        ),
        Item("3", "How often do you have six or more drinks on one occasion?", _FREQ),
        Item(
            "4",
            "How often during the last year have you found that you were not able "
            "to stop drinking once you had started?",
            _FREQ,
        ),
        Item(
            "5",
            "How often during the last year have you failed to do what was "
            "normally expected from you because of drinking?",
            _FREQ,
        ),
        Item(
            "6",
            "How often during the last year have you needed a first drink in the "
            "morning to get yourself going after a heavy drinking session?",
            _FREQ,
        ),
        Item(
            "7",
            "How often during the last year have you had a feeling of guilt or "
            "remorse after drinking?",
            _FREQ,
        ),
        Item(
            "8",
            "How often during the last year have you been unable to remember what "
            "happened the night before because you had been drinking?",
            _FREQ,
        ),
        Item(
            "9", "Have you or someone else been injured as a result of your drinking?", _YES_NO_YEAR
        ),
        Item(
            "10",
            "Has a relative or friend or a doctor or another health worker been "
            "concerned about your drinking or suggested you cut down?",
            _YES_NO_YEAR,
        ),
    ),  # fmt: skip
    bands=(
        Band(0, 7, "zone_1"),
        Band(8, 15, "zone_2"),
        Band(16, 19, "zone_3"),
        Band(20, 40, "zone_4"),
    ),  # fmt: skip
    source="Babor et al., AUDIT: Guidelines for Use in Primary Care, 2nd ed., WHO 2001",
)

SDS = Instrument(
    kind=Kind.SDS,
    title="SDS",
    stem="These questions are about your use of the drug you chose, during the past month.",
    items=(
        Item("1", "Did you ever think your use was out of control?", _SDS_OFTEN),
        Item("2", "Did the prospect of missing a dose make you anxious or worried?", _SDS_OFTEN),
        Item("3", "Did you worry about your use?", _SDS_OFTEN),
        Item("4", "Did you wish you could stop?", _SDS_OFTEN),
        Item("5", "How difficult did you find it to stop, or go without?", _SDS_HARD),
    ),  # fmt: skip
    # SDS has no global bands: "below" / "at_or_above" the substance's cut-off.
    bands=(Band(0, 15, "sds"),),
    source="Gossop et al., Addiction 1995;90(5):607-614",
)


@dataclass(frozen=True)
class Cutoff:
    """An SDS total at or above `score` indicates dependence on this substance."""

    score: int
    source: str


# Substance -> the cut-off its validation study found best. A clinician should
# check these against the papers before relying on them; the project could not
# read the papers themselves when this table was written.
SDS_CUTOFFS: Mapping[str, Cutoff] = {
    "heroin": Cutoff(5, "González-Sáiz F et al., Eur Addict Res 2009;15(2):87-93"),
    "cocaine": Cutoff(3, "Kaye S, Darke S, Addiction 2002;97(6):727-731"),
    "amphetamine": Cutoff(4, "Topp L, Mattick RP, Addiction 1997;92(7):839-845"),
    "cannabis": Cutoff(3, "Swift W, Copeland J, Hall W, Addiction 1998;93(11):1681-1692"),
    "benzodiazepines": Cutoff(7, "de las Cuevas C et al., Addiction 2000;95(2):245-250"),
}

PHQ9 = Instrument(
    kind=Kind.PHQ9,
    title="PHQ-9",
    stem="Over the last 2 weeks, how often have you been bothered by any of the following "
    "problems?",
    items=(
        Item("1", "Little interest or pleasure in doing things", _DAYS),
        Item("2", "Feeling down, depressed, or hopeless", _DAYS),
        Item("3", "Trouble falling or staying asleep, or sleeping too much", _DAYS),
        Item("4", "Feeling tired or having little energy", _DAYS),
        Item("5", "Poor appetite or overeating", _DAYS),
        Item(
            "6",
            "Feeling bad about yourself, or that you are a failure or have let "
            "yourself or your family down",
            _DAYS,
        ),
        Item(
            "7",
            "Trouble concentrating on things, such as reading the newspaper or watching television",
            _DAYS,
        ),
        Item(
            "8",
            "Moving or speaking so slowly that other people could have noticed. Or "
            "the opposite: being so fidgety or restless that you have been moving "
            "around a lot more than usual",
            _DAYS,
        ),
        Item(
            "9",
            "Thoughts that you would be better off dead, or of hurting yourself in some way",
            _DAYS,
        ),
    ),  # fmt: skip
    bands=(
        Band(0, 4, "minimal"),
        Band(5, 9, "mild"),
        Band(10, 14, "moderate"),
        Band(15, 19, "moderately_severe"),
        Band(20, 27, "severe"),
    ),  # fmt: skip
    source="Kroenke, Spitzer, Williams, J Gen Intern Med 2001;16(9):606-613",
)
# The item whose answer above 0 is a risk answer, and the items that carry the
# help the device shows at once (web/static/js/questionnaire.js reads `risk`).
PHQ9_RISK_ITEM = "9"

GAD7 = Instrument(
    kind=Kind.GAD7,
    title="GAD-7",
    stem="Over the last 2 weeks, how often have you been bothered by the following problems?",
    items=(
        Item("1", "Feeling nervous, anxious, or on edge", _DAYS),
        Item("2", "Not being able to stop or control worrying", _DAYS),
        Item("3", "Worrying too much about different things", _DAYS),
        Item("4", "Trouble relaxing", _DAYS),
        Item("5", "Being so restless that it is hard to sit still", _DAYS),
        Item("6", "Becoming easily annoyed or irritable", _DAYS),
        Item("7", "Feeling afraid, as if something awful might happen", _DAYS),
    ),
    bands=(
        Band(0, 4, "minimal"),
        Band(5, 9, "mild"),
        Band(10, 14, "moderate"),
        Band(15, 21, "severe"),
    ),  # fmt: skip
    source="Spitzer, Kroenke, Williams, Löwe, Arch Intern Med 2006;166(10):1092-1097",
)

INSTRUMENTS: Mapping[Kind, Instrument] = {i.kind: i for i in (AUDIT, SDS, PHQ9, GAD7)}


def _refuse(detail: str, **extra: Any) -> ServiceError:
    return ServiceError(Code.INVALID_REQUEST, detail, extra=extra)


def instrument(kind: str) -> Instrument:
    try:
        return INSTRUMENTS[Kind(kind)]
    except ValueError:
        raise _refuse("There is no questionnaire of that kind.") from None


def score(kind: str, answers: Mapping[str, Any], substance: str | None = None) -> Result:
    """Score a complete set of answers, or refuse the whole set.

    Every item must be answered once with one of its own values: an unknown item,
    a missing one, a value outside the item's options (AUDIT item 9 answered 1,
    say) or a non-integer is refused with the item named, so nothing partial is
    ever scored or stored.
    """
    inst = instrument(kind)
    known = {i.id: i for i in inst.items}
    if not isinstance(answers, Mapping):
        raise _refuse("Answers must be an object of item to value.")
    for key in answers:
        if key not in known:
            raise _refuse("The answers name an item this questionnaire does not have.", item=key)
    total = 0
    for item in inst.items:
        if item.id not in answers:
            raise _refuse("Every question must be answered.", item=item.id)
        value = answers[item.id]
        if isinstance(value, bool) or not isinstance(value, int) or value not in item.values:
            raise _refuse("An answer is not one of the question's choices.", item=item.id)
        total += value
    if inst.kind == Kind.SDS:
        if substance is None or substance not in SDS_CUTOFFS:
            raise _refuse("Choose a substance the scale has a cut-off for.")
        cutoff = SDS_CUTOFFS[substance].score
        above = total >= cutoff
        return Result(
            inst.kind,
            total,
            "at_or_above_cutoff" if above else "below_cutoff",
            substance=substance,
            above_cutoff=above,
        )
    if substance is not None:
        raise _refuse("Only the SDS asks about a substance.")
    risk: tuple[str, ...] = ()
    if inst.kind == Kind.PHQ9 and answers[PHQ9_RISK_ITEM] > 0:
        risk = (PHQ9_RISK_ITEM,)
    return Result(inst.kind, total, inst.band(total), risk_items=risk)


def describe(inst: Instrument) -> dict[str, Any]:
    """The questionnaire as the device needs it to ask it offline, risk rule included."""
    return {
        "kind": inst.kind.value,
        "title": inst.title,
        "stem": inst.stem,
        "welsh_validated": inst.welsh_validated,
        "items": [
            {
                "id": i.id,
                "text": i.text,
                "options": [{"value": o.value, "text": o.text} for o in i.options],
            }
            for i in inst.items
        ],
        "risk": {"item": PHQ9_RISK_ITEM, "above": 0} if inst.kind == Kind.PHQ9 else None,
        "substances": sorted(SDS_CUTOFFS) if inst.kind == Kind.SDS else None,
    }
