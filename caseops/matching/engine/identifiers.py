"""The pseudonymous identifiers a record is stored under: blocking keys, name-count
keys and search terms. Pure (no Flask, no database), so bulk ingest can compute them
in a worker process."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from caseops.matching.engine.normalize import Features, name_tokens, normalize_person
from caseops.matching.engine.pseudonym import birth_date_key, blocking_keys, pseudonym


def search_terms(
    person: Mapping[str, Any], key: bytes, features: Features | None = None
) -> set[int]:
    """Pseudonyms of every name word (and canonical given name) for client search."""
    features = features or normalize_person(person)
    words = set(features.given_canonical) | set(features.family_parts)
    for name in ("given_name", "middle_name", "family_name"):
        words.update(name_tokens(person.get(name)))
    return {pseudonym(key, "name", word) for word in words if len(word) > 1}


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
    name counts it adds to, its name words and birth date for search."""
    features = features or normalize_person(person)
    rows = {("block", value) for value in blocking_keys(features, key)}
    rows |= frequency_rows(features, key)
    rows |= {("name", value) for value in search_terms(person, key, features)}
    if features.birth_date:
        rows.add(("birth_date", birth_date_key(key, features.birth_date)))
    return rows


def block_values(rows: Iterable[tuple[str, int]]) -> set[int]:
    """The blocking keys among a record's ``identifier_rows``: what its candidates share."""
    return {value for kind, value in rows if kind == "block"}
