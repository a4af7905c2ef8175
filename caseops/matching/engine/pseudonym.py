"""Keyed pseudonyms of normalised identifiers.

HMAC-SHA256 under a secret key: equal identifiers give equal pseudonyms (exact
comparison, blocking) while a pseudonym reveals nothing without the key, and a
dictionary attack on the small SSN / birth-date spaces needs the key too. The field
name is part of the MAC input, so the same value under different fields never
collides ("domain separation").

A pseudonym is the MAC's first 64 bits as a signed integer (a BIGINT column): an
index entry of 8 bytes instead of 32 hex characters, so the index of about 15
pseudonyms per record stays small enough to be cached as it grows. 64 bits are
plenty for what a pseudonym does: even at 150 million stored values the chance that
any two distinct values collide is below 0.1 %, and a collision costs one extra
comparison in blocking, or a name counted one time too many.
"""

import functools
import hashlib
from datetime import date
from typing import Any

import jellyfish

from caseops.matching.engine.normalize import Features

PSEUDONYM_BYTES = 8
_BLOCK = 64  # SHA-256's block size


@functools.lru_cache(maxsize=8)
def _keyed(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's inner and outer hashes with the padded key already absorbed
    (RFC 2104). A record needs about seventeen pseudonyms, and starting from these
    costs a quarter of a one-shot ``hmac.digest``, which redoes the key every time."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\x00")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """``hmac.digest(key, message, "sha256")``, from the key's precomputed state."""
    inner, outer = _keyed(key)
    inner, outer = inner.copy(), outer.copy()
    inner.update(message)
    outer.update(inner.digest())
    return outer.digest()


def pseudonym(key: bytes, field: str, value: str) -> int:
    """Pseudonym of ``value`` as an identifier of kind ``field``."""
    if not key:
        raise ValueError("pseudonym key must not be empty")
    mac = hmac_sha256(key, field.encode() + b"\x00" + value.encode())
    return int.from_bytes(mac[:PSEUDONYM_BYTES], "big", signed=True)


def phonetic(name: str) -> str:
    """NYSIIS code: tolerant to the vowel and consonant variants of name typos."""
    return jellyfish.nysiis(name)


def _unordered_date(value: date) -> str:
    """Year with month and day sorted, so a day/month transposition blocks together."""
    low, high = sorted((value.month, value.day))
    return f"{value.year:04d}-{low:02d}-{high:02d}"


def birth_date_key(key: bytes, birth_date: date) -> int:
    """The pseudonym client search finds a birth date by (not a blocking key: at 100k
    records three people share each birth date, and it grows with every record)."""
    return pseudonym(key, "birth_date", birth_date.isoformat())


def name_birth_key(key: bytes, word: str, birth_date: date) -> int:
    """The pseudonym client search finds one name word with a birth date by: a list of a
    record or two at any size, where the name's list grows with the index (16,890 entries
    for a common given name at a million clients) and the birth date's too (117). A
    search by name and birth date reads one such short list instead of probing every
    record of the birth date (issue 20). Not a blocking key: linkage never reads it."""
    return pseudonym(key, "name_birth", f"{birth_date.isoformat()}\x00{word}")


def blocking_keys(features: Features, key: bytes) -> set[int]:
    """Pseudonymous blocking keys; records sharing any key are compared.

        Each key survives a different kind of error: the name keys use phonetic codes of
        every name part (typos, compound names, given/family swaps, nicknames through the
        canonical name); the exact birth date with the initial of any name, or with the
        postcode, finds badly misspelt names; birth date with a name ignores day/month
        order; names with postcode find records whose birth date is missing or wrong; one
        name with postcode and birth year finds a changed other name with a wrong birth
        date; SSN, phone and email find renamed people; names with the house number find
    records whose birth date and postcode are both wrong or missing.

        Every key combines at least two identifiers, or one that nearly singles a person
        out, so a block stays small as the index grows. A key of postcode and birth year
        alone held about 14 records per block at 100k records and grew with every record;
        the exact birth date alone held 3.2, brought 61 % of all compared pairs, and a
        record's only way to 9 of the 1,311 pairs in 2,000 that scored above the lower
        threshold, 8 of which the initial or postcode keys still find.
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
        exact = features.birth_date.isoformat()
        dob = _unordered_date(features.birth_date)
        year = str(features.birth_date.year)
        spelt = (features.given, *features.given_canonical, *features.family_parts)
        raw.update(("dob+initial", f"{exact}|{initial}") for initial in {n[0] for n in spelt if n})
        raw.update(("dob+name", f"{dob}|{n}") for n in names)
        raw.update(("names+year", f"{p}|{year}") for p in pairs)
        if features.postcode:
            raw.add(("dob+postcode", f"{exact}|{features.postcode}"))
            raw.update(("name+postcode+year", f"{n}|{features.postcode}|{year}") for n in names)
    if features.postcode:
        raw.update(("names+postcode", f"{p}|{features.postcode}") for p in pairs)
    if features.street_number:
        raw.update(("names+number", f"{p}|{features.street_number}") for p in pairs)
    return {pseudonym(key, "block:" + kind, value) for kind, value in raw}
