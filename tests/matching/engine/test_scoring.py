import math
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseops.matching.engine.normalize import Features, normalize_person
from caseops.matching.engine.scoring import (
    DEFAULT_PARAMS,
    FIELDS,
    LEVELS,
    MUParameters,
    compare,
    score,
)

BASE = {
    "given_name": "Jessica",
    "family_name": "Allen",
    "birth_date": date(1982, 2, 19),
    "ssn": "536-22-1234",
    "sex": "F",
    "address": {"street_number": "1791", "street": "Maple Blvd", "postcode": "94603"},
    "phone": "510-433-5856",
    "email": "jess@example.org",
}


def levels(a: dict, b: dict) -> dict:
    return dict(compare(normalize_person(a), normalize_person(b)).levels)


def level(field: str, a_value, b_value, base=BASE) -> str | None:
    return levels({**base, field: a_value}, {**base, field: b_value})[
        {"given_name": "given", "family_name": "family", "middle_name": "middle"}.get(field, field)
    ]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("Jessica", "Jessica", "exact"),
        ("William", "Bill", "nickname"),
        ("Bill", "Will", "nickname"),
        ("Daniela", "Dani", "nickname"),
        ("Jessica", "Jesica", "typo"),
        ("Jessica", "Xessica", "typo"),
        ("Manuel", "Amnny", "typo"),  # a typo in the nickname Manny
        ("Jose", "Joseph", "similar"),
        ("Juan", "Juana", "typo"),
        ("Daniel", "Danielle", "similar"),
        ("Jessica", "J.", "initial"),
        ("Jessica", "K", "disagree"),
        ("Ana", "Ava", "disagree"),
        ("Jessica", "Maria", "disagree"),
    ],
)
def test_given_name_levels(a, b, expected):
    assert level("given_name", a, b) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("Lopez-Garcia", "Lopez Garcia", "exact"),
        ("Lopez", "Lopez-Garcia", "part"),
        ("Garcia", "Lopez Garcia", "part"),
        ("Allen", "Alen", "typo"),
        ("Lopez-Garcia", "Lopes", "typo"),
        ("Allen", "Baker", "disagree"),
    ],
)
def test_family_name_levels(a, b, expected):
    assert level("family_name", a, b) == expected


def test_swapped_given_and_family_names_are_recognised():
    compared = compare(
        normalize_person(BASE),
        normalize_person({**BASE, "given_name": "Allen", "family_name": "Jessica"}),
    )
    assert compared.swapped
    assert (compared.levels["given"], compared.levels["family"]) == ("exact", "exact")


@pytest.mark.parametrize(
    ("b", "expected"),
    [
        (date(1982, 2, 19), "exact"),
        (date(1982, 19 % 12, 2), "year"),
        (date(1982, 2, 9), "near"),
        (date(1982, 2, 18), "near"),
        (date(1928, 2, 19), "transposed"),
        (date(1982, 12, 19), "near"),
        (date(1982, 7, 30), "year"),
        (date(1975, 7, 30), "disagree"),
    ],
)
def test_birth_date_levels(b, expected):
    assert level("birth_date", BASE["birth_date"], b) == expected


def test_day_and_month_exchanged_is_transposed():
    assert level("birth_date", date(1980, 5, 3), date(1980, 3, 5)) == "transposed"


@pytest.mark.parametrize(
    ("b", "expected"),
    [
        ("536-22-1234", "exact"),
        ("536-22-1284", "near"),
        ("536-22-2134", "near"),
        ("536-29-1284", "partial"),
        ("536-91-7784", "disagree"),
        ("000-00-0000", None),
    ],
)
def test_ssn_levels(b, expected):
    assert level("ssn", BASE["ssn"], b) == expected


def test_street_sex_contact_levels():
    moved = {**BASE["address"], "street_number": "17"}
    assert levels(BASE, {**BASE, "address": moved})["street"] == "disagree"
    no_number = {**BASE["address"], "street_number": None}
    assert levels(BASE, {**BASE, "address": no_number})["street"] == "similar"
    assert levels(BASE, {**BASE, "phone": "(510) 433 5856"})["phone"] == "exact"
    assert levels(BASE, {**BASE, "sex": "male"})["sex"] == "disagree"


def test_missing_fields_have_no_level_and_weigh_nothing():
    sparse = {"given_name": "Jessica", "family_name": "Allen", "birth_date": date(1982, 2, 19)}
    result = score(normalize_person(BASE), normalize_person(sparse))
    for field in ("middle", "ssn", "sex", "postcode", "street", "phone", "email"):
        assert result.levels[field] is None
        assert result.contributions[field] == 0.0
    assert result.total_weight == pytest.approx(sum(result.contributions.values()))


def test_weights_are_log2_m_over_u():
    for field, field_levels in LEVELS.items():
        for lvl in field_levels:
            m, u = DEFAULT_PARAMS.m[field][lvl], DEFAULT_PARAMS.u[field][lvl]
            assert DEFAULT_PARAMS.weights[field][lvl] == pytest.approx(math.log2(m / u))
        if field == "city":  # added for learned models; the built-in one ignores it
            assert set(DEFAULT_PARAMS.weights[field].values()) == {0.0}
            continue
        assert DEFAULT_PARAMS.weights[field][field_levels[0]] > 0
        assert DEFAULT_PARAMS.weights[field][field_levels[-1]] < 0


def test_parameters_must_be_probability_tables():
    m = {f: dict(DEFAULT_PARAMS.m[f]) for f in FIELDS}
    m["sex"] = {"exact": 0.9, "disagree": 0.2}
    with pytest.raises(ValueError, match="sex"):
        MUParameters(m, DEFAULT_PARAMS.u)


def test_common_names_weigh_less_than_rare_ones():
    def frequencies(kind: str, value: str) -> float:
        return 0.05 if value in {"maria", "garcia"} else 0.0001

    common = normalize_person({"given_name": "Maria", "family_name": "Garcia"})
    rare = normalize_person({"given_name": "Ximena", "family_name": "Okafor"})
    assert (
        score(common, common, frequencies=frequencies).total_weight
        < score(common, common).total_weight
        < score(rare, rare, frequencies=frequencies).total_weight
    )


letters = st.text(alphabet="abcdefghij", min_size=1, max_size=8)


@st.composite
def features(draw: st.DrawFn) -> Features:
    family = draw(letters)
    return Features(
        given=draw(letters),
        family=family,
        family_parts=(family,),
        birth_date=draw(st.dates(min_value=date(1950, 1, 1), max_value=date(1952, 12, 31))),
        sex=draw(st.sampled_from(["f", "m", None])),
        postcode=draw(st.sampled_from(["94601", "94602", None])),
    )


@given(features())
def test_a_record_agrees_with_itself_on_every_present_field(a):
    result = compare(a, a)
    assert all(lvl in (None, "exact") for lvl in result.levels.values())
    assert not result.swapped


@given(features(), features())
def test_scores_are_symmetric_unless_names_are_swapped(a, b):
    ab, ba = score(a, b), score(b, a)
    if not ab.comparison.swapped:
        assert ab.total_weight == pytest.approx(ba.total_weight)


@given(st.text("abcdeilmnorsu", max_size=9), st.text("abcdeilmnorsu", max_size=9))
def test_a_typo_is_one_edit_and_close_or_long_enough(a, b):
    """The short cut in ``_is_typo`` (edit distance first, cut off past one) changes
    nothing of what a typo is."""
    from rapidfuzz.distance import OSA, JaroWinkler

    from caseops.matching.engine.scoring import _is_typo

    long_enough = min(len(a), len(b)) >= 3 and max(len(a), len(b)) >= 4
    expected = OSA.distance(a, b) <= 1 and (JaroWinkler.similarity(a, b) >= 0.92 or long_enough)
    assert _is_typo(a, b) == expected
