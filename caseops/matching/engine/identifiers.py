"""The pseudonymous identifiers a record is stored under: blocking keys, name-count
keys and search terms. Pure (no Flask, no database), so bulk ingest can compute them
in a worker process."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from caseops.matching.engine.normalize import Features, name_tokens, normalize_person
from caseops.matching.engine.pseudonym import (
    birth_date_key,
    blocking_keys,
    name_birth_key,
    pseudonym,
)

IDENTIFIER_SCHEME = 2
"""The version of what ``identifier_rows`` writes. 2: name words with the birth date
(``name_birth``), which client search reads once every stored record has them, i.e.
once ``caseops link reindex`` has run to its end under this version (or the index was
empty when migration 0026 ran). Raise it when a kind search relies on is added."""


def search_words(person: Mapping[str, Any], features: Features | None = None) -> set[str]:
    """Every name word (and canonical given name) client search finds a record by."""
    features = features or normalize_person(person)
    words = set(features.given_canonical) | set(features.family_parts)
    for name in ("given_name", "middle_name", "family_name"):
        words.update(name_tokens(person.get(name)))
    return {word for word in words if len(word) > 1}


# Name frequencies are counted over pseudonyms too: how many records carry this given
# name, family name or family-name part (the engine weighs agreement on a rare name more).
FREQUENCY_KINDS = {"given": "nf_given", "family": "nf_family", "family_part": "nf_part"}


def name_values(features: Features) -> set[tuple[str, str]]:
    """The (kind, name) pairs a record adds to the name counts."""
    values = set()
    if features.given and len(features.given) > 1:
        values.add(("given", features.given))
    if features.family:
        values.add(("family", features.family))
        values.update(("family_part", part) for part in features.family_parts)
    return values


def frequency_rows(features: Features, key: bytes) -> set[tuple[str, int]]:
    return {
        (FREQUENCY_KINDS[kind], pseudonym(key, FREQUENCY_KINDS[kind], value))
        for kind, value in name_values(features)
    }


def identifier_rows(
    person: Mapping[str, Any], key: bytes, features: Features | None = None
) -> set[tuple[str, int]]:
    """(kind, pseudonym) of everything a record is found by: its blocking keys, the
    name counts it adds to, its name words, its birth date and each name word with the
    birth date for search (scheme ``IDENTIFIER_SCHEME``)."""
    features = features or normalize_person(person)
    rows = {("block", value) for value in blocking_keys(features, key)}
    rows |= frequency_rows(features, key)
    words = search_words(person, features)
    rows |= {("name", pseudonym(key, "name", word)) for word in words}
    if features.birth_date:
        rows.add(("birth_date", birth_date_key(key, features.birth_date)))
        rows |= {("name_birth", name_birth_key(key, w, features.birth_date)) for w in words}
    return rows


def block_values(rows: Iterable[tuple[str, int]]) -> set[int]:
    """The blocking keys among a record's ``identifier_rows``: what its candidates share."""
    return {value for kind, value in rows if kind == "block"}
