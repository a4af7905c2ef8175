import hashlib
import hmac
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseops.matching.engine.normalize import normalize_person
from caseops.matching.engine.pseudonym import birth_date_key, blocking_keys, hmac_sha256, pseudonym

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
    assert -(2**63) <= pseudonym(KEY, "ssn", "536221234") < 2**63  # fits a BIGINT


@given(st.binary(min_size=1, max_size=100), st.binary(max_size=200))
def test_hmac_from_the_precomputed_key_state_is_hmac_sha256(key, message):
    assert hmac_sha256(key, message) == hmac.digest(key, message, "sha256")


def test_empty_key_is_refused():
    with pytest.raises(ValueError, match="key"):
        pseudonym(b"", "ssn", "536221234")


@given(st.lists(st.text(max_size=12), min_size=2, max_size=20, unique=True))
def test_distinct_values_get_distinct_pseudonyms(values):
    assert len({pseudonym(KEY, "given", v) for v in values}) == len(values)


def test_pseudonym_is_the_first_64_bits_of_the_hmac():
    """Migration 0009 converted stored 128-bit hex pseudonyms by this rule: a pseudonym
    computed now must equal the converted one, or records stored before would stop
    matching."""
    mac = hmac.new(KEY, b"ssn\x00536221234", hashlib.sha256).hexdigest()
    assert pseudonym(KEY, "ssn", "536221234") == int.from_bytes(
        bytes.fromhex(mac[:16]), "big", signed=True
    )


def test_the_exact_birth_date_is_no_blocking_key():
    """Everyone born that day would be compared: three people per day at 100k records,
    thirty at a million."""
    features = normalize_person(PERSON)
    assert birth_date_key(KEY, date(1980, 5, 3)) not in blocking_keys(features, KEY)
    stranger = {"given_name": "Ana", "family_name": "Smith", "birth_date": date(1980, 5, 3)}
    assert not _shared(PERSON, stranger)
    assert _shared(PERSON, stranger | {"family_name": "Lxpez"})  # initials with the date
    assert _shared(
        PERSON,
        {
            "given_name": "Xmaria",
            "family_name": "Xlopez",
            "birth_date": date(1980, 5, 3),
            "address": {"postcode": "94601"},
        },
    )


def _shared(a: dict, b: dict) -> set[str]:
    return blocking_keys(normalize_person(a), KEY) & blocking_keys(normalize_person(b), KEY)


def test_blocking_keys_survive_the_usual_errors():
    bare = {k: v for k, v in PERSON.items() if k not in {"ssn", "phone", "email"}}
    assert _shared(bare, {**bare, "given_name": "Mraia"})  # typo
    assert _shared(bare, {**bare, "given_name": "Lopez", "family_name": "Maria"})  # swapped
    assert _shared(bare, {**bare, "family_name": "Lopez"})  # compound part dropped
    assert _shared(bare, {**bare, "birth_date": date(1980, 3, 5)})  # day/month transposed
    assert _shared(bare, {**bare, "birth_date": None})  # birth date missing: name+postcode
    assert _shared(
        {"given_name": "Bill", "family_name": "Ross", "birth_date": "1970-01-02"},
        {"given_name": "William", "family_name": "Ross", "birth_date": "1970-01-02"},
    )
    assert not _shared(
        bare,
        {
            "given_name": "Ana",
            "family_name": "Smith",
            "birth_date": date(1999, 9, 9),
            "address": {"postcode": "94602"},
        },
    )
    # A new family name and a wrong birth date: the given name, postcode and birth year.
    assert _shared(bare, {**bare, "family_name": "Okafor", "birth_date": date(1980, 11, 30)})


def test_neighbours_born_in_the_same_year_share_no_block():
    """Postcode and birth year alone would put a growing crowd in one block."""
    bare = {k: v for k, v in PERSON.items() if k not in {"ssn", "phone", "email"}}
    assert not _shared(
        bare,
        {
            "given_name": "Ana",
            "family_name": "Smith",
            "birth_date": date(1980, 9, 9),
            "address": {"postcode": "94601"},
        },
    )


def test_blocking_keys_depend_on_the_key_and_are_opaque():
    features = normalize_person(PERSON)
    keys = blocking_keys(features, KEY)
    assert keys and not keys & blocking_keys(features, OTHER_KEY)
    assert all(isinstance(k, int) and -(2**63) <= k < 2**63 for k in keys)
