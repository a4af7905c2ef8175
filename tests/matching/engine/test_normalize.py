import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseops.matching.engine.nicknames import NICKNAMES
from caseops.matching.engine.normalize import (
    FEATURES_VERSION,
    canonical_given,
    features_from_json,
    features_to_json,
    name_tokens,
    normalize_birth_date,
    normalize_email,
    normalize_family,
    normalize_person,
    normalize_phone,
    normalize_postcode,
    normalize_sex,
    normalize_ssn,
    normalize_street,
)


def test_names_lose_case_accents_punctuation_titles_and_suffixes():
    assert name_tokens("  José ") == ["jose"]
    assert name_tokens("O'Brien") == ["obrien"]
    assert name_tokens("Dr. John SMITH Jr.") == ["john", "smith"]
    assert name_tokens("Nguyễn") == ["nguyen"]


def test_compound_family_names_split_into_parts_but_particles_never_match_alone():
    assert normalize_family("López-García") == ("lopezgarcia", ("lopez", "garcia"))
    assert normalize_family("Lopez Garcia") == ("lopezgarcia", ("lopez", "garcia"))
    assert normalize_family("de la Cruz") == ("delacruz", ("cruz",))
    assert normalize_family("") == (None, ())


@pytest.mark.parametrize(
    ("nickname", "canonical"),
    [
        ("bill", "william"),
        ("peggy", "margaret"),
        ("bob", "robert"),
        ("liz", "elizabeth"),
        ("jim", "james"),
        ("lupe", "guadalupe"),
    ],
)
def test_nicknames_map_to_their_canonical_name(nickname, canonical):
    assert canonical in canonical_given(nickname)


def test_ambiguous_nicknames_keep_every_canonical_name_and_unknown_names_stand_alone():
    assert {"patrick", "patricia"} <= canonical_given("pat")
    assert canonical_given("ximena") == frozenset({"ximena"})


def test_nickname_table_is_modest():
    assert 90 <= len(NICKNAMES) <= 130


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("536-22-1234", "536221234"),
        ("536 22 1234", "536221234"),
        ("000-12-3456", None),
        ("666-12-3456", None),
        ("912-34-5678", None),
        ("111-11-1111", None),
        ("536-00-1234", None),
        ("536-22-0000", None),
        ("123-45-6789", None),
        ("53622123", None),
        (None, None),
    ],
)
def test_ssn_keeps_digits_and_rejects_numbers_never_issued(raw, expected):
    assert normalize_ssn(raw) == expected


def test_phone_postcode_email_sex_and_birth_date():
    assert normalize_phone("+1 (510) 555-0123") == "5105550123"
    assert normalize_phone("510.555.0123 ext. 12") == "5105550123"
    assert normalize_phone("555-0123") is None
    assert normalize_phone("000-000-0000") is None
    assert normalize_postcode("94601-1234") == "94601"
    assert normalize_postcode("2134") == "02134"  # a spreadsheet ate the leading zero
    assert normalize_postcode("n/a") is None
    assert normalize_email(" Maria.Lopez@Example.ORG ") == "maria.lopez@example.org"
    assert normalize_email("not an email") is None
    assert normalize_sex("Female") == "f"
    assert normalize_sex("unknown") is None
    assert normalize_birth_date("1980-05-03") == date(1980, 5, 3)
    assert normalize_birth_date("1900-01-01") is None  # placeholder
    assert normalize_birth_date("05/03/1980") is None


def test_street_abbreviations_units_and_house_numbers():
    assert normalize_street("12", "North Main Street Apt 4") == ("12", "n main st")
    assert normalize_street(None, "123 Oak Avenue #4") == ("123", "oak ave")
    assert normalize_street("123", "OAK AVE.") == ("123", "oak ave")
    assert normalize_street(None, None) == (None, None)


def test_person_features():
    features = normalize_person(
        {
            "given_name": "Mary Ann",
            "family_name": "López-García",
            "birth_date": date(1980, 5, 3),
            "ssn": "536-22-1234",
            "sex": "F",
            "address": {"street_number": "12", "street": "Oak Street", "postcode": "94601"},
            "phone": "(510) 555-0123",
            "email": "MARY@EXAMPLE.ORG",
        }
    )
    assert features.given == "mary"
    assert features.middle == "ann"  # second given name stands in for a missing middle
    assert features.family_parts == ("lopez", "garcia")
    assert (features.postcode, features.street_number, features.street) == ("94601", "12", "oak st")
    assert features.email == "mary@example.org"
    empty = normalize_person({})
    assert empty.given is None and empty.birth_date is None and empty.family_parts == ()


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@given(names)
def test_name_tokens_are_plain_lowercase_letters_and_idempotent(value):
    tokens = name_tokens(value)
    assert all(t.isascii() and t.isalpha() and t.islower() for t in tokens)
    assert name_tokens(" ".join(tokens)) == tokens


@given(st.text(alphabet="0123456789- ", max_size=14))
def test_ssn_is_none_or_nine_digits_in_an_issued_area(value):
    ssn = normalize_ssn(value)
    assert ssn is None or (
        len(ssn) == 9 and ssn.isdigit() and ssn[:3] not in {"000", "666"} and ssn[0] != "9"
    )


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "given_name",
                "middle_name",
                "family_name",
                "ssn",
                "sex",
                "phone",
                "email",
                "birth_date",
            ]
        ),
        names,
    )
)
def test_any_text_normalises_without_error(person):
    normalize_person(person)


PERSON_FIELDS = ["given_name", "middle_name", "family_name", "ssn", "sex", "phone", "email"]
ADDRESS_FIELDS = ("street", "street_number", "postcode")
ADDRESS = st.fixed_dictionaries({}, optional={k: names for k in ADDRESS_FIELDS})


@given(
    st.dictionaries(st.sampled_from(PERSON_FIELDS), names),
    st.one_of(st.none(), st.dates()),
    st.one_of(st.none(), ADDRESS),
)
def test_stored_features_come_back_as_computed(person, birth_date, address):
    """Linkage reads a candidate's stored features instead of normalising it again: they
    must be exactly what normalising gives."""
    features = normalize_person(person | {"birth_date": birth_date, "address": address})
    stored = json.loads(json.dumps(features_to_json(features)))
    assert features_from_json(stored) == features


def test_stored_features_of_another_version_are_not_used():
    stored = features_to_json(normalize_person({"given_name": "Ana"}))
    assert features_from_json([FEATURES_VERSION + 1, *stored[1:]]) is None
    assert features_from_json(None) is None
