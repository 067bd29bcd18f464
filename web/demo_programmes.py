"""The demo's programmes (issue 17 item 7): three programmes with sessions and exercises
in English and Welsh, the first prisoner on the substance-misuse one with its first
session done (free text, a choice and a personal plan), and a baseline and two progress
checks of AUDIT and PHQ-9 a fortnight apart, so the keyworker's charts show a trend.

The questionnaires are answered through the service with a clock set to each past
date, so the records are what a real fortnightly check would have written.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from core.clock import Clock, FakeClock
from core.db.engine import Database
from core.events import AuditSink
from core.fields import FieldCipher, SubjectCipher
from core.identity import Principal, Role
from interventions.programmes import Programmes
from interventions.questionnaires import Questionnaires


def _opt(value: str, en: str, cy: str) -> dict[str, Any]:
    return {"value": value, "label": {"en": en, "cy": cy}}


async def _open(_: Principal, __: str) -> None:
    """The demo seeds before any lockdown exists: nothing to refuse."""


SUBSTANCE: dict[str, Any] = {
    "kind": "substance_misuse",
    "title": "Taking control: drink and drugs",
    "title_cy": "Cymryd rheolaeth: diod a chyffuriau",
    "summary": "Three sessions on your use of drink and drugs, what sets it off, "
    "and a plan to stay on track.",
    "summary_cy": "Tair sesiwn am eich defnydd o ddiod a chyffuriau, beth sy'n ei "
    "sbarduno, a chynllun i gadw ar y trywydd iawn.",
    "self_enrol": False,
    "check_kinds": ["audit", "phq9"],
    "check_every_days": 14,
    "check_every_sessions": 2,
    "sessions": [
        {
            "title": {"en": "Where am I now?", "cy": "Ble ydw i nawr?"},
            "intro": {
                "en": "Think about how you used drink or drugs before you came in.",
                "cy": "Meddyliwch am sut roeddech chi'n defnyddio diod neu gyffuriau "
                "cyn i chi ddod i mewn.",
            },
            "exercises": [
                {
                    "key": "change",
                    "kind": "text",
                    "prompt": {
                        "en": "What would you like to change, and why?",
                        "cy": "Beth hoffech chi ei newid, a pham?",
                    },
                },
                {
                    "key": "ready",
                    "kind": "choice",
                    "prompt": {
                        "en": "How ready do you feel to make a change?",
                        "cy": "Pa mor barod ydych chi'n teimlo i wneud newid?",
                    },
                    "options": [
                        {
                            "value": "not_yet",
                            "label": {"en": "Not ready yet", "cy": "Ddim yn barod eto"},
                        },
                        {
                            "value": "thinking",
                            "label": {"en": "Thinking about it", "cy": "Rwy'n meddwl am y peth"},
                        },
                        _opt("ready", "Ready now", "Yn barod nawr"),
                    ],
                },
            ],
        },
        {
            "title": {"en": "My triggers and my plan", "cy": "Fy sbardunau a fy nghynllun"},
            "intro": {
                "en": "Cravings come and go. A plan helps you get through them.",
                "cy": "Mae chwantau'n mynd a dod. Mae cynllun yn eich helpu i ddod drwyddyn nhw.",
            },
            "exercises": [
                {
                    "key": "plan",
                    "kind": "plan",
                    "prompt": {
                        "en": "Write your plan: what sets you off, how you can avoid it, "
                        "and how you can cope.",
                        "cy": "Ysgrifennwch eich cynllun: beth sy'n eich sbarduno, sut gallwch "
                        "ei osgoi, a sut gallwch ymdopi.",
                    },
                },
                {
                    "key": "support",
                    "kind": "text",
                    "prompt": {
                        "en": "Who can help you keep to your plan?",
                        "cy": "Pwy all eich helpu i gadw at eich cynllun?",
                    },
                },
            ],
        },
        {
            "title": {"en": "Staying on track", "cy": "Cadw ar y trywydd iawn"},
            "intro": {
                "en": "Look back at what you have learned.",
                "cy": "Edrychwch yn ôl ar yr hyn rydych chi wedi'i ddysgu.",
            },
            "exercises": [
                {
                    "key": "learned",
                    "kind": "text",
                    "prompt": {
                        "en": "What is one thing you have learned about yourself?",
                        "cy": "Beth yw un peth rydych chi wedi'i ddysgu amdanoch chi'ch hun?",
                    },
                },
                {
                    "key": "confident",
                    "kind": "choice",
                    "prompt": {
                        "en": "How sure are you that you can keep to your plan?",
                        "cy": "Pa mor sicr ydych chi y gallwch gadw at eich cynllun?",
                    },
                    "options": [
                        {
                            "value": "low",
                            "label": {"en": "Not very sure", "cy": "Ddim yn sicr iawn"},
                        },
                        _opt("some", "Fairly sure", "Eithaf sicr"),
                        _opt("high", "Very sure", "Sicr iawn"),
                    ],
                },
            ],
        },
    ],
}

THINKING: dict[str, Any] = {
    "kind": "thinking_skills",
    "title": "Thinking skills: stop and think",
    "title_cy": "Sgiliau meddwl: stopio a meddwl",
    "summary": "Two sessions on stopping to think before you act.",
    "summary_cy": "Dwy sesiwn am stopio i feddwl cyn i chi weithredu.",
    "self_enrol": True,
    "check_kinds": ["gad7"],
    "check_every_days": 28,
    "sessions": [
        {
            "title": {"en": "Stop and think", "cy": "Stopio a meddwl"},
            "intro": {
                "en": "Acting in the moment can land us in trouble.",
                "cy": "Gall gweithredu yn y fan a'r lle ein rhoi mewn trwbl.",
            },
            "exercises": [
                {
                    "key": "last_time",
                    "kind": "text",
                    "prompt": {
                        "en": "Describe a time you acted without thinking. What happened?",
                        "cy": "Disgrifiwch adeg pan wnaethoch chi weithredu heb feddwl. "
                        "Beth ddigwyddodd?",
                    },
                },
                {
                    "key": "often",
                    "kind": "choice",
                    "prompt": {
                        "en": "How often do you act before you think?",
                        "cy": "Pa mor aml ydych chi'n gweithredu cyn meddwl?",
                    },
                    "options": [
                        _opt("rarely", "Rarely", "Anaml"),
                        _opt("sometimes", "Sometimes", "Weithiau"),
                        _opt("often", "Often", "Yn aml"),
                    ],
                },
            ],
        },
        {
            "title": {"en": "Other points of view", "cy": "Safbwyntiau eraill"},
            "intro": {
                "en": "There is usually more than one way to see things.",
                "cy": "Fel arfer mae mwy nag un ffordd o weld pethau.",
            },
            "exercises": [
                {
                    "key": "their_view",
                    "kind": "text",
                    "prompt": {
                        "en": "Think of a recent argument. "
                        "How might the other person have seen it?",
                        "cy": "Meddyliwch am ddadl ddiweddar. Sut gallai'r person arall fod "
                        "wedi'i gweld hi?",
                    },
                },
            ],
        },
    ],
}

VIOLENCE: dict[str, Any] = {
    "kind": "violence",
    "title": "Managing anger and conflict",
    "title_cy": "Rheoli dicter a gwrthdaro",
    "summary": "Spotting the warning signs of anger, and a plan to stay safe.",
    "summary_cy": "Adnabod arwyddion rhybudd dicter, a chynllun i gadw'n ddiogel.",
    "self_enrol": False,
    "check_kinds": ["phq9"],
    "check_every_days": 28,
    "sessions": [
        {
            "title": {"en": "Warning signs", "cy": "Arwyddion rhybudd"},
            "intro": {
                "en": "Anger builds up. Noticing it early gives you a choice.",
                "cy": "Mae dicter yn cronni. Mae sylwi arno'n gynnar yn rhoi dewis i chi.",
            },
            "exercises": [
                {
                    "key": "signs",
                    "kind": "text",
                    "prompt": {
                        "en": "What do you notice in your body when you start to get angry?",
                        "cy": "Beth ydych chi'n sylwi arno yn eich corff pan fyddwch chi'n "
                        "dechrau gwylltio?",
                    },
                },
                {
                    "key": "plan",
                    "kind": "plan",
                    "prompt": {
                        "en": "Make a plan for the next time you feel your anger rising.",
                        "cy": "Gwnewch gynllun ar gyfer y tro nesaf y byddwch chi'n teimlo'ch "
                        "dicter yn codi.",
                    },
                },
            ],
        },
    ],
}

DEMO_PROGRAMMES = (SUBSTANCE, THINKING, VIOLENCE)


async def create_programmes_of(
    service: Programmes, establishment_id: str | None, *found: dict[str, Any]
) -> list[str]:
    """These programmes, offered by the establishment (None: by every one)."""
    return [await service.create(establishment_id=establishment_id, **p) for p in found]


async def create_programmes(service: Programmes, establishment_id: str | None) -> list[str]:
    """The three demo programmes."""
    return await create_programmes_of(service, establishment_id, *DEMO_PROGRAMMES)


def _phq9(total: int) -> dict[str, int]:
    answers = {str(n): 0 for n in range(1, 10)}
    for n in range(total):
        answers[str(n % 8 + 1)] += 1
    return answers


def _audit(total: int) -> dict[str, int]:
    answers = {str(n): 0 for n in range(1, 11)}
    for n in range(total):
        item = str(n % 8 + 1)
        if answers[item] < 4:
            answers[item] += 1
    return answers


async def seed_programmes(
    db: Database,
    *,
    cipher: FieldCipher,
    subject_keys: SubjectCipher,
    audit: AuditSink,
    clock: Clock,
    est_id: str,
    staff: list[dict[str, Any]],
    prisoners: list[dict[str, Any]],
) -> dict[str, Any]:
    """Programmes, one prisoner on one with a session done, and three checks of two scores."""
    now = clock.now()
    past = FakeClock(now - timedelta(days=28))
    programmes = Programmes(
        db, cipher=cipher, subject_keys=subject_keys, clock=past, audit=audit, require_open=_open
    )
    questionnaires = Questionnaires(
        db, cipher=cipher, subject_keys=subject_keys, clock=past, audit=audit, require_open=_open
    )
    ids = await create_programmes(programmes, None)
    keyworker = next(s for s in staff if s["role"] == Role.KEYWORKER.value)
    prisoner = prisoners[0]
    kw = Principal(keyworker["account_id"], Role.KEYWORKER, est_id, "demo")
    person = Principal(prisoner["account_id"], Role.PRISONER, est_id, "demo")
    await programmes.enrol(kw, person.account_id, ids[0])
    view = await programmes.my_programme(person, ids[0])
    first = view.sessions[0]
    await programmes.record_answer(
        person,
        first.id,
        "change",
        "Stop drinking every day so I can see my kids.",
        client_id=str(uuid.uuid4()),
    )
    await programmes.record_answer(
        person, first.id, "ready", "thinking", client_id=str(uuid.uuid4())
    )
    await programmes.complete_session(person, first.id)
    second = view.sessions[1]
    await programmes.record_answer(
        person,
        second.id,
        "plan",
        {
            "triggers": ["Pay day", "Seeing old mates"],
            "avoid": ["Give my money to my sister to look after"],
            "cope": ["Ring my sponsor", "Go to the gym"],
        },
        client_id=str(uuid.uuid4()),
    )
    # A baseline and two fortnightly progress checks: both scores come down.
    for audit_total, phq_total in ((22, 17), (15, 11), (9, 6)):
        await questionnaires.submit(person, "audit", _audit(audit_total))
        await questionnaires.submit(person, "phq9", _phq9(phq_total))
        past.advance(days=14)
    return {"programmes": ids, "enrolled": prisoner["prison_number"]}
