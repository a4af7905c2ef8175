"""Keyed pseudonyms of normalised identifiers.

HMAC-SHA256 under a secret key: equal identifiers give equal pseudonyms (exact
comparison, blocking) while a pseudonym reveals nothing without the key, and a
dictionary attack on the small SSN / birth-date spaces needs the key too. The field
name is part of the MAC input, so the same value under different fields never
collides ("domain separation").
"""

import hashlib
import hmac
from datetime import date

import jellyfish

from caseops.linkage.normalize import Features

PSEUDONYM_HEX_CHARS = 32  # 128 bits: collisions are negligible at any realistic scale


def pseudonym(key: bytes, field: str, value: str) -> str:
    """Pseudonym of ``value`` as an identifier of kind ``field``."""
    if not key:
        raise ValueError("pseudonym key must not be empty")
    message = field.encode() + b"\x00" + value.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]


def phonetic(name: str) -> str:
    """NYSIIS code: tolerant to the vowel and consonant variants of name typos."""
    return jellyfish.nysiis(name)


def identifier_pseudonyms(features: Features, key: bytes) -> dict[str, str]:
    """Pseudonyms of the exactly comparable identifiers present in ``features``."""
    values = {
        "ssn": features.ssn,
        "birth_date": features.birth_date.isoformat() if features.birth_date else None,
        "phone": features.phone,
        "email": features.email,
    }
    return {field: pseudonym(key, field, v) for field, v in values.items() if v}


def _unordered_date(value: date) -> str:
    """Year with month and day sorted, so a day/month transposition blocks together."""
    low, high = sorted((value.month, value.day))
    return f"{value.year:04d}-{low:02d}-{high:02d}"


def blocking_keys(features: Features, key: bytes) -> set[str]:
    """Pseudonymous blocking keys; records sharing any key are compared.

    Each key survives a different kind of error: the name keys use phonetic codes of
    every name part (typos, compound names, given/family swaps, nicknames through the
    canonical name); the exact birth date alone finds badly misspelt names; birth date
    with a name ignores day/month order; names with postcode find records whose birth
    date is missing or wrong; one name with postcode and birth year finds a changed
    other name with a wrong birth date; SSN, phone and email find renamed people.

    Every key combines at least two identifiers, or one that nearly singles a person
    out, so a block stays small as the index grows: a key of postcode and birth year
    alone held about 14 records per block at 100k records and grew with every record;
    83 % of all compared pairs came through it alone, and 0.3 % of the pairs that scored
    above the lower threshold.
    """
    given = (
        {phonetic(n) for n in features.given_canonical}
        if features.given and len(features.given) > 1
        else set()
    )
    family = {phonetic(p) for p in features.family_parts if len(p) > 1}
    names = given | family
    pairs = {"|".join(sorted((g, f))) for g in given for f in family}
    raw: set[tuple[str, str]] = set()
    if features.ssn:
        raw.add(("ssn", features.ssn))
    if features.phone:
        raw.add(("phone", features.phone))
    if features.email:
        raw.add(("email", features.email))
    if features.birth_date:
        dob = _unordered_date(features.birth_date)
        year = str(features.birth_date.year)
        raw.add(("dob", features.birth_date.isoformat()))
        raw.update(("dob+name", f"{dob}|{n}") for n in names)
        raw.update(("names+year", f"{p}|{year}") for p in pairs)
        if features.postcode:
            raw.update(("name+postcode+year", f"{n}|{features.postcode}|{year}") for n in names)
    if features.postcode:
        raw.update(("names+postcode", f"{p}|{features.postcode}") for p in pairs)
    return {pseudonym(key, "block:" + kind, value) for kind, value in raw}
