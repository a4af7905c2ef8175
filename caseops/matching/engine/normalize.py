"""Normalisation of person identifiers, so that spelling and formatting differences
between agencies do not look like different people.

Every function returns ``None`` for a missing or unusable value: an invalid SSN or a
placeholder birth date must lower match confidence, not create false agreement.
"""

import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from caseops.matching.engine.nicknames import NICKNAMES

_TITLES: Final = frozenset({"mr", "mrs", "ms", "miss", "dr", "sr", "sra", "srta"})
_SUFFIXES: Final = frozenset({"jr", "sr", "ii", "iii", "iv"})
# Particles are kept in the full family name but never count as a matching part on
# their own: two "de la ..." families share nothing by that.
_PARTICLES: Final = frozenset(
    {
        "de",
        "del",
        "della",
        "la",
        "las",
        "los",
        "da",
        "das",
        "do",
        "dos",
        "di",
        "du",
        "van",
        "von",
        "der",
        "den",
        "le",
        "y",
        "e",
    }
)
_STREET_WORDS: Final[Mapping[str, str]] = {
    "street": "st",
    "str": "st",
    "avenue": "ave",
    "av": "ave",
    "road": "rd",
    "drive": "dr",
    "boulevard": "blvd",
    "lane": "ln",
    "court": "ct",
    "place": "pl",
    "terrace": "ter",
    "circle": "cir",
    "highway": "hwy",
    "parkway": "pkwy",
    "square": "sq",
    "way": "wy",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
    "first": "1st",
    "second": "2nd",
    "third": "3rd",
    "fourth": "4th",
    "fifth": "5th",
    "saint": "st",
    "mount": "mt",
}
_UNIT_WORDS: Final = frozenset({"apt", "apartment", "unit", "ste", "suite", "no"})
_SEX: Final[Mapping[str, str]] = {
    "m": "m",
    "male": "m",
    "man": "m",
    "f": "f",
    "female": "f",
    "woman": "f",
    "x": "x",
    "nonbinary": "x",
    "non-binary": "x",
}
_INVALID_SSNS: Final = frozenset({"123456789", "078051120", "219099999"})
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EXTENSION: Final = re.compile(r"\s*(?:x|ext\.?)\s*\d+\s*$", re.IGNORECASE)


def _canonical_index() -> Mapping[str, frozenset[str]]:
    index: defaultdict[str, set[str]] = defaultdict(set)
    for canonical, nicknames in NICKNAMES.items():
        index[canonical].add(canonical)
        for nickname in nicknames:
            index[nickname].add(canonical)
    return {name: frozenset(canonicals) for name, canonicals in index.items()}


_CANONICAL: Final = _canonical_index()
_VARIANTS: Final = {
    name: frozenset({name, *canonicals, *(n for c in canonicals for n in NICKNAMES.get(c, ()))})
    for name, canonicals in _CANONICAL.items()
}


@dataclass(frozen=True, slots=True)
class Features:
    """A person's normalised identifiers: the only input scoring and blocking need.

    These are plaintext identifiers: hold them in memory or encrypted at rest; what
    leaves the linkage layer for indexing is the keyed pseudonyms of ``pseudonym``.
    """

    given: str | None = None
    given_canonical: frozenset[str] = frozenset()
    middle: str | None = None
    family: str | None = None
    family_parts: tuple[str, ...] = ()
    birth_date: date | None = None
    ssn: str | None = None
    sex: str | None = None
    postcode: str | None = None
    street_number: str | None = None
    street: str | None = None
    phone: str | None = None
    email: str | None = None
    city: str | None = None


_APOSTROPHES: Final = re.compile(r"['\u2019`]")
_NOT_ALNUM: Final = re.compile(r"[^a-z0-9]+")


def _ascii_words(value: str) -> list[str]:
    """Casefold, strip accents, drop apostrophes (O'Brien), split on anything else.
    (Plain ASCII, most names, has no accents to strip: lower-casing is casefolding.)"""
    if value.isascii():
        plain = value.lower()
    else:
        decomposed = unicodedata.normalize("NFKD", value.casefold())
        plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_ALNUM.sub(" ", _APOSTROPHES.sub("", plain)).split()


def name_tokens(value: str | None) -> list[str]:
    """Words of a name without digits, titles or generational suffixes."""
    if not value:
        return []
    words = [w for w in _ascii_words(value) if w.isalpha()]
    return [w for w in words if w not in _TITLES and w not in _SUFFIXES]


def canonical_given(name: str) -> frozenset[str]:
    """Canonical given names a (nick)name stands for: Bill -> {william}."""
    return _CANONICAL.get(name, frozenset({name}))


def is_canonical_given(name: str) -> bool:
    """A full name of the nickname table (Jose, Joseph), not a short form of another."""
    return name in NICKNAMES


def given_variants(name: str) -> frozenset[str]:
    """Every form of the name in the table (canonical names and their nicknames), so a
    typo in one form can still be recognised against another: "Amnny" ~ "Manuel"."""
    return _VARIANTS.get(name, frozenset({name}))


def normalize_family(value: str | None) -> tuple[str | None, tuple[str, ...]]:
    """Full family name (words joined) and its matchable parts ("lopez", "garcia")."""
    words = name_tokens(value)
    if not words:
        return None, ()
    parts = tuple(w for w in words if w not in _PARTICLES) or tuple(words)
    return "".join(words), parts


def normalize_ssn(value: str | None) -> str | None:
    """Nine digits, or None for SSNs the SSA never issues or that are placeholders."""
    if not value:
        return None
    digits = re.sub(r"\D", "", value)
    if len(digits) != 9 or digits in _INVALID_SSNS or len(set(digits)) == 1:
        return None
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in {"000", "666"} or area[0] == "9" or group == "00" or serial == "0000":
        return None
    return digits


def normalize_phone(value: str | None) -> str | None:
    """Last ten digits (drops +1, formatting and an extension); None if too short or
    all one digit."""
    if not value:
        return None
    digits = re.sub(r"\D", "", _EXTENSION.sub("", value))[-10:]
    if len(digits) < 10 or len(set(digits)) == 1:
        return None
    return digits


def normalize_postcode(value: str | None) -> str | None:
    """Five-digit ZIP; ZIP+4 is truncated and a 4-digit value regains the leading
    zero that spreadsheets strip."""
    if not value:
        return None
    digits = re.sub(r"\D", "", str(value))
    if len(digits) == 4:
        digits = "0" + digits
    if len(digits) < 5 or digits[:5] == "00000":
        return None
    return digits[:5]


def normalize_email(value: str | None) -> str | None:
    if not value:
        return None
    email = value.strip().casefold()
    return email if _EMAIL.match(email) else None


def normalize_street(number: str | None, street: str | None) -> tuple[str | None, str | None]:
    """(house number, street name with standard abbreviations, unit dropped)."""
    words = _ascii_words((street or "").split("#")[0])
    for i, word in enumerate(words):
        if word in _UNIT_WORDS and i > 0:
            words = words[:i]
            break
    number_words = _ascii_words(str(number)) if number else []
    if not number_words and words and words[0][0].isdigit():
        number_words, words = words[:1], words[1:]
    name = " ".join(_STREET_WORDS.get(w, w) for w in words) or None
    return (number_words[0] if number_words else None), name


def normalize_city(value: str | None) -> str | None:
    """City or suburb as words joined with one space, saints abbreviated."""
    words = _ascii_words(value or "")
    abbreviated = (_STREET_WORDS[w] if w in {"saint", "mount"} else w for w in words)
    return " ".join(abbreviated) or None


def normalize_sex(value: str | None) -> str | None:
    return _SEX.get(value.strip().casefold()) if value else None


def normalize_birth_date(value: date | str | None) -> date | None:
    """A date (ISO string accepted); years up to 1900 are placeholders, not births."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            return None
    return value if value.year > 1900 else None


def normalize_person(person: Mapping[str, Any]) -> Features:
    """Features of one person payload (the API's ``person`` object)."""
    given_words = name_tokens(person.get("given_name"))
    middle_words = name_tokens(person.get("middle_name")) or given_words[1:2]
    given = given_words[0] if given_words else None
    family, parts = normalize_family(person.get("family_name"))
    address = person.get("address") or {}
    number, street = normalize_street(address.get("street_number"), address.get("street"))
    return Features(
        given=given,
        given_canonical=canonical_given(given) if given else frozenset(),
        middle=middle_words[0] if middle_words else None,
        family=family,
        family_parts=parts,
        birth_date=normalize_birth_date(person.get("birth_date")),
        ssn=normalize_ssn(person.get("ssn")),
        sex=normalize_sex(person.get("sex")),
        postcode=normalize_postcode(address.get("postcode")),
        street_number=number,
        street=street,
        phone=normalize_phone(person.get("phone")),
        email=normalize_email(person.get("email")),
        city=normalize_city(address.get("city")),
    )


# Stored features carry this version; features of another version are ignored and
# computed again from the person. Raise it whenever normalisation changes. Version 1
# (before the city) is still read, with the city missing, so an upgrade need not
# normalise every candidate again before ``caseops link reindex`` has run.
FEATURES_VERSION: Final = 2
_READABLE_VERSIONS: Final = frozenset({1, FEATURES_VERSION})


def features_to_json(features: Features) -> list[Any]:
    """A compact JSON form of ``features``, for storing them (encrypted) with a record so
    that linkage need not normalise a candidate again."""
    f = features
    return [
        FEATURES_VERSION,
        f.given,
        sorted(f.given_canonical),
        f.middle,
        f.family,
        list(f.family_parts),
        f.birth_date.isoformat() if f.birth_date else None,
        f.ssn,
        f.sex,
        f.postcode,
        f.street_number,
        f.street,
        f.phone,
        f.email,
        f.city,
    ]


def features_from_json(value: Any) -> Features | None:
    """Features from ``features_to_json``, or None if written by another version."""
    if not isinstance(value, list) or not value or value[0] not in _READABLE_VERSIONS:
        return None
    _, given, canonical, middle, family, parts, birth, *rest = value
    if value[0] == 1:
        rest = [*rest, None]
    return Features(
        given,
        frozenset(canonical),
        middle,
        family,
        tuple(parts),
        date.fromisoformat(birth) if birth else None,
        *rest,
    )
