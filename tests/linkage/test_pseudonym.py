import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseops.linkage.normalize import normalize_person
from caseops.linkage.pseudonym import blocking_keys, identifier_pseudonyms, pseudonym

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
PERSON = {
    "given_name": "Maria",
    "family_name": "Lopez-Garcia",
    "birth_date": date(1980, 5, 3),
    "ssn": "536-22-1234",
    "address": {"postcode": "94601"},
    "phone": "510-555-0123",
    "email": "maria@example.org",
}


def test_pseudonym_is_keyed_deterministic_and_domain_separated():
    assert pseudonym(KEY, "ssn", "536221234") == pseudonym(KEY, "ssn", "536221234")
    assert pseudonym(KEY, "ssn", "536221234") != pseudonym(OTHER_KEY, "ssn", "536221234")
    assert pseudonym(KEY, "ssn", "5105550123") != pseudonym(KEY, "phone", "5105550123")
    assert re.fullmatch(r"[0-9a-f]{32}", pseudonym(KEY, "ssn", "536221234"))


def test_empty_key_is_refused():
    with pytest.raises(ValueError, match="key"):
        pseudonym(b"", "ssn", "536221234")


@given(st.lists(st.text(max_size=12), min_size=2, max_size=20, unique=True))
def test_distinct_values_get_distinct_pseudonyms(values):
    assert len({pseudonym(KEY, "given", v) for v in values}) == len(values)


def test_identifier_pseudonyms_cover_present_fields_and_reveal_no_raw_value():
    features = normalize_person(PERSON)
    pseudonyms = identifier_pseudonyms(features, KEY)
    assert set(pseudonyms) == {"ssn", "birth_date", "phone", "email"}
    assert pseudonyms["ssn"] == pseudonym(KEY, "ssn", "536221234")
    assert set(identifier_pseudonyms(normalize_person({"given_name": "Maria"}), KEY)) == set()
    assert not any("536221234" in p or "maria" in p for p in pseudonyms.values())


def _shared(a: dict, b: dict) -> set[str]:
    return blocking_keys(normalize_person(a), KEY) & blocking_keys(normalize_person(b), KEY)


def test_blocking_keys_survive_the_usual_errors():
    bare = {k: v for k, v in PERSON.items() if k not in {"ssn", "phone", "email"}}
    assert _shared(bare, {**bare, "given_name": "Mraia"})  # typo
    assert _shared(bare, {**bare, "given_name": "Lopez", "family_name": "Maria"})  # swapped
    assert _shared(bare, {**bare, "family_name": "Lopez"})  # compound part dropped
    assert _shared(bare, {**bare, "birth_date": date(1980, 3, 5)})  # day/month transposed
    assert _shared(bare, {**bare, "birth_date": None})  # birth date missing: name+postcode
    assert _shared({"given_name": "Bill", "family_name": "Ross", "birth_date": "1970-01-02"},
                   {"given_name": "William", "family_name": "Ross", "birth_date": "1970-01-02"})
    assert not _shared(bare, {"given_name": "Ana", "family_name": "Smith",
                              "birth_date": date(1999, 9, 9), "address": {"postcode": "94602"}})
    # A new family name and a wrong birth date: the given name, postcode and birth year.
    assert _shared(bare, {**bare, "family_name": "Okafor", "birth_date": date(1980, 11, 30)})


def test_neighbours_born_in_the_same_year_share_no_block():
    """Postcode and birth year alone would put a growing crowd in one block."""
    bare = {k: v for k, v in PERSON.items() if k not in {"ssn", "phone", "email"}}
    assert not _shared(bare, {"given_name": "Ana", "family_name": "Smith",
                              "birth_date": date(1980, 9, 9), "address": {"postcode": "94601"}})


def test_blocking_keys_depend_on_the_key_and_are_opaque():
    features = normalize_person(PERSON)
    keys = blocking_keys(features, KEY)
    assert keys and not keys & blocking_keys(features, OTHER_KEY)
    assert all(re.fullmatch(r"[0-9a-f]{32}", k) for k in keys)
