from datetime import date

import pytest

from caseops.matching.engine.classify import Decision
from caseops.matching.engine.matcher import KeptApartPairs, Linker
from caseops.matching.engine.normalize import normalize_person

KEY = b"k" * 32
HOME = {"street_number": "12", "street": "Oak Street", "postcode": "94601"}
JESSICA = normalize_person(
    {
        "given_name": "Jessica",
        "family_name": "Allen",
        "birth_date": date(1982, 2, 19),
        "sex": "F",
        "address": HOME,
        "phone": "510-433-5856",
    }
)
JESICA = normalize_person(
    {
        "given_name": "Jesica",
        "family_name": "Allen",
        "birth_date": "1982-02-19",
        "sex": "f",
        "address": {"street_number": "40", "street": "Elm Rd", "postcode": "94605"},
    }
)
TUAN = normalize_person(
    {"given_name": "Tuan", "family_name": "Nguyen", "birth_date": "1951-08-08", "address": HOME}
)


def test_new_person_then_same_person_with_a_typo():
    linker = Linker(KEY)
    assert linker.match("r1", JESSICA).decision is Decision.NEW
    linker.add("r1", "c1", JESSICA)
    result = linker.match("r2", JESICA)
    assert (result.decision, result.client_id) == (Decision.LINK, "c1")
    assert result.candidates[0].record_id == "r1"
    assert linker.match("r3", TUAN).decision is Decision.NEW


def test_a_client_is_judged_by_its_best_record():
    linker = Linker(KEY)
    linker.add("r1", "c1", JESSICA)
    linker.add(
        "r9",
        "c1",
        normalize_person(
            {
                "given_name": "Jess",
                "family_name": "Allen",
                "address": {"postcode": "94999"},
                "ssn": "536-22-1234",
            }
        ),
    )
    result = linker.match("r2", JESICA)
    assert [m.client_id for m in result.candidates] == ["c1"]
    assert result.candidates[0].record_id == "r1"


def test_kept_apart_records_are_never_linked_or_reviewed_again():
    kept_apart = KeptApartPairs([("r2", "r1")])
    linker = Linker(KEY, kept_apart=kept_apart)
    linker.add("r1", "c1", JESSICA)
    result = linker.match("r2", JESICA)
    assert result.decision is Decision.NEW and result.candidates == ()
    # a record kept apart from one record of a client is kept apart from the client
    linker.add("r3", "c1", JESICA)
    assert linker.match("r2", JESICA).decision is Decision.NEW


def test_kept_apart_record_and_client():
    kept_apart = KeptApartPairs()
    linker = Linker(KEY, kept_apart=kept_apart)
    linker.add("r1", "c1", JESSICA)
    kept_apart.add("r2", "c1")
    assert linker.match("r2", JESICA).decision is Decision.NEW
    assert linker.match("r4", JESICA).decision is Decision.LINK


def test_changed_and_withdrawn_records_leave_the_index():
    linker = Linker(KEY)
    linker.add("r1", "c1", JESSICA)
    linker.add("r1", "c1", TUAN)  # the agency corrected the record
    assert len(linker) == 1
    assert linker.match("r2", JESICA).decision is Decision.NEW
    linker.remove("r1")
    linker.remove("r1")
    assert len(linker) == 0
    assert linker.match("r2", TUAN).decision is Decision.NEW


def test_review_points_at_the_client_to_review_against():
    linker = Linker(KEY)
    linker.add("r1", "c1", JESSICA)
    twin = normalize_person(
        {
            "given_name": "Eva",
            "family_name": "Allen",
            "birth_date": date(1982, 2, 19),
            "sex": "F",
            "address": HOME,
            "phone": "510-433-5856",
        }
    )
    result = linker.match("r2", twin)
    assert (result.decision, result.client_id) == (Decision.REVIEW, "c1")
    assert result.reason.startswith("rule:given_name_not_corroborated")


def test_name_frequencies_from_the_index_or_from_the_caller():
    def everyone_is_called_allen(kind: str, value: str) -> float:
        return 0.5

    weights = []
    for linker in (
        Linker(KEY, name_frequencies=False),
        Linker(KEY),
        Linker(KEY, frequencies=everyone_is_called_allen),
    ):
        linker.add("r1", "c1", JESSICA)
        weights.append(linker.match("r2", JESICA).candidates[0].score.total_weight)
    unweighted, young_index, common = weights
    assert common < unweighted - 5
    assert young_index == pytest.approx(unweighted, abs=0.5)  # few records: the prior rules


def test_without_blocking_every_indexed_record_is_compared():
    """A database hands over only the candidates its blocking found; the answer is the
    one blocking in memory gives, and records sharing no key are compared too."""
    blocked, prefiltered = Linker(KEY), Linker(KEY, blocking=False)
    for linker in (blocked, prefiltered):
        linker.add("r1", "c1", JESSICA)
    assert prefiltered.match("r2", JESICA) == blocked.match("r2", JESICA)
    assert blocked.match("r3", TUAN).candidates == ()
    assert [m.record_id for m in prefiltered.match("r3", TUAN).candidates] == ["r1"]
    # of two equally good clients, the one added first wins, whatever the string hashes
    prefiltered.add("r4", "c4", JESSICA)
    assert prefiltered.match("r2", JESICA).client_id == "c1"
