"""Scoring against worked examples computed from each instrument's published rules.

The sources are cited in interventions/instruments.py; each example spells out the
item values so a reader can check the sum and the band against the source's table.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import ServiceError
from interventions.instruments import INSTRUMENTS, SDS_CUTOFFS, Kind, describe, score


def _answers(values: list[int]) -> dict[str, int]:
    return {str(n): v for n, v in enumerate(values, start=1)}


@pytest.mark.parametrize(
    ("values", "total", "zone"),
    [
        # Drinks 2-4 times a month, 3 or 4 drinks, never six or more: low risk.
        ([2, 1, 0, 0, 0, 0, 0, 0, 0, 0], 3, "zone_1"),
        # Zone I ends at 7 and zone II starts at 8 (WHO 2001, Table 6).
        ([3, 2, 2, 0, 0, 0, 0, 0, 0, 0], 7, "zone_1"),
        ([3, 2, 2, 1, 0, 0, 0, 0, 0, 0], 8, "zone_2"),
        # Weekly heavy drinking, an injury last year (4), a friend concerned long ago (2).
        ([3, 2, 3, 1, 1, 0, 1, 0, 4, 0], 15, "zone_2"),
        ([3, 2, 3, 1, 1, 0, 1, 1, 4, 0], 16, "zone_3"),
        ([4, 3, 3, 1, 1, 0, 1, 1, 4, 2], 20, "zone_4"),
        ([4, 4, 4, 4, 4, 4, 4, 4, 4, 4], 40, "zone_4"),
        ([0] * 10, 0, "zone_1"),
    ],
)
def test_audit_scores_and_zones(values: list[int], total: int, zone: str) -> None:
    result = score("audit", _answers(values))
    assert (result.score, result.band) == (total, zone)


@pytest.mark.parametrize("value", [1, 3, 5, -1])
def test_audit_items_9_and_10_take_only_0_2_4(value: int) -> None:
    answers = _answers([0] * 10)
    answers["10"] = value
    with pytest.raises(ServiceError) as caught:
        score("audit", answers)
    assert caught.value.detail == "An answer is not one of the question's choices."
    assert caught.value.extra == {"item": "10"}


@pytest.mark.parametrize(
    ("substance", "values", "above"),
    [
        # Cocaine's cut-off is 3 (Kaye & Darke 2002): sometimes x3 = 3 is at it.
        ("cocaine", [1, 1, 1, 0, 0], True),
        ("cocaine", [1, 1, 0, 0, 0], False),
        # Heroin's is 5 (González-Sáiz et al. 2009): 4 is below, 5 at.
        ("heroin", [1, 1, 1, 1, 0], False),
        ("heroin", [1, 1, 1, 1, 1], True),
        ("amphetamine", [2, 0, 1, 0, 1], True),
        ("cannabis", [0, 0, 1, 1, 0], False),
        ("benzodiazepines", [2, 2, 1, 1, 0], False),
        ("benzodiazepines", [2, 2, 1, 1, 1], True),
    ],
)
def test_sds_cutoff_per_substance(substance: str, values: list[int], above: bool) -> None:
    result = score("sds", _answers(values), substance=substance)
    assert result.score == sum(values)
    assert result.above_cutoff is above
    assert result.band == ("at_or_above_cutoff" if above else "below_cutoff")


def test_sds_maximum_is_15_and_every_cutoff_cites_its_source() -> None:
    assert score("sds", _answers([3] * 5), substance="heroin").score == 15
    assert INSTRUMENTS[Kind.SDS].max_score == 15
    for cutoff in SDS_CUTOFFS.values():
        assert 0 < cutoff.score <= 15
        assert cutoff.source


def test_sds_needs_a_known_substance() -> None:
    with pytest.raises(ServiceError) as caught:
        score("sds", _answers([0] * 5), substance="glue")
    assert caught.value.detail == "Choose a substance the scale has a cut-off for."


@pytest.mark.parametrize(
    ("values", "total", "band"),
    [
        ([0] * 9, 0, "minimal"),
        ([1, 1, 1, 1, 0, 0, 0, 0, 0], 4, "minimal"),
        ([1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "mild"),
        ([2, 2, 1, 1, 1, 1, 1, 0, 0], 9, "mild"),
        ([2, 2, 2, 1, 1, 1, 1, 0, 0], 10, "moderate"),
        ([2, 2, 2, 2, 2, 2, 2, 0, 0], 14, "moderate"),
        ([3, 2, 2, 2, 2, 2, 2, 0, 0], 15, "moderately_severe"),
        ([3, 3, 3, 2, 2, 2, 2, 1, 1], 19, "moderately_severe"),
        ([3, 3, 3, 2, 2, 2, 2, 2, 1], 20, "severe"),
        ([3] * 9, 27, "severe"),
    ],
)
def test_phq9_bands(values: list[int], total: int, band: str) -> None:
    result = score("phq9", _answers(values))
    assert (result.score, result.band) == (total, band)


def test_phq9_item_9_above_zero_is_a_risk_answer_even_with_a_minimal_total() -> None:
    result = score("phq9", _answers([0, 0, 0, 0, 0, 0, 0, 0, 1]))
    assert (result.score, result.band, result.risk_items) == (1, "minimal", ("9",))
    assert score("phq9", _answers([3] * 8 + [0])).risk_items == ()


@pytest.mark.parametrize(
    ("values", "total", "band"),
    [
        ([0] * 7, 0, "minimal"),
        ([1, 1, 1, 1, 0, 0, 0], 4, "minimal"),
        ([1, 1, 1, 1, 1, 0, 0], 5, "mild"),
        ([2, 2, 2, 1, 1, 1, 0], 9, "mild"),
        ([2, 2, 2, 1, 1, 1, 1], 10, "moderate"),
        ([2, 2, 2, 2, 2, 2, 2], 14, "moderate"),
        ([3, 2, 2, 2, 2, 2, 2], 15, "severe"),
        ([3] * 7, 21, "severe"),
    ],
)
def test_gad7_bands(values: list[int], total: int, band: str) -> None:
    result = score("gad7", _answers(values))
    assert (result.score, result.band) == (total, band)


@pytest.mark.parametrize(
    ("kind", "answers", "detail"),
    [
        (
            "phq9",
            {**_answers([0] * 9), "10": 0},
            "The answers name an item this questionnaire does not have.",
        ),
        ("phq9", _answers([0] * 8), "Every question must be answered."),
        ("phq9", _answers([0] * 8 + [4]), "An answer is not one of the question's choices."),
        ("gad7", _answers([0] * 6 + [-1]), "An answer is not one of the question's choices."),
        (
            "gad7",
            {**_answers([0] * 6), "7": "3"},
            "An answer is not one of the question's choices.",
        ),
        (
            "gad7",
            {**_answers([0] * 6), "7": True},
            "An answer is not one of the question's choices.",
        ),
        (
            "gad7",
            {**_answers([0] * 6), "7": 1.0},
            "An answer is not one of the question's choices.",
        ),
        ("bdi", {}, "There is no questionnaire of that kind."),
    ],
)
def test_bad_answers_are_refused_whole(kind: str, answers: dict[str, Any], detail: str) -> None:
    with pytest.raises(ServiceError) as caught:
        score(kind, answers)
    assert caught.value.detail == detail


def test_maxima_match_the_published_ranges() -> None:
    assert {k.value: i.max_score for k, i in INSTRUMENTS.items()} == {
        "audit": 40,
        "sds": 15,
        "phq9": 27,
        "gad7": 21,
    }


def test_the_device_is_told_the_risk_rule_only_for_phq9() -> None:
    assert describe(INSTRUMENTS[Kind.PHQ9])["risk"] == {"item": "9", "above": 0}
    assert describe(INSTRUMENTS[Kind.GAD7])["risk"] is None
