"""Fellegi-Sunter comparison and scoring of two records.

Each field is compared into an ordered agreement level (best first). A level's
weight is log2(m/u): m = P(level | same person), u = P(level | different people).
A field missing on either side contributes 0, so missing data lowers confidence
without ever counting as disagreement.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Final, NamedTuple

from rapidfuzz.distance import OSA, JaroWinkler

from caseops.matching.engine.normalize import (
    Features,
    canonical_given,
    given_variants,
    is_canonical_given,
)

LEVELS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "given": ("exact", "nickname", "typo", "similar", "initial", "disagree"),
        "family": ("exact", "part", "typo", "similar", "disagree"),
        "middle": ("exact", "initial", "disagree"),
        "birth_date": ("exact", "transposed", "near", "year", "disagree"),
        "ssn": ("exact", "near", "partial", "disagree"),
        "sex": ("exact", "disagree"),
        "postcode": ("exact", "disagree"),
        "street": ("exact", "similar", "disagree"),
        "city": ("exact", "typo", "disagree"),
        "phone": ("exact", "disagree"),
        "email": ("exact", "disagree"),
    }
)
FIELDS: Final = tuple(LEVELS)

Levels = Mapping[str, str | None]


@dataclass(frozen=True)
class MUParameters:
    """m and u probabilities per field and level; ``weights`` are derived from them."""

    m: Mapping[str, Mapping[str, float]]
    u: Mapping[str, Mapping[str, float]]
    weights: Mapping[str, Mapping[str, float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weights: dict[str, dict[str, float]] = {}
        for name, levels in LEVELS.items():
            for table in (self.m, self.u):
                probabilities = [table[name][level] for level in levels]
                if min(probabilities) <= 0 or abs(sum(probabilities) - 1) > 1e-6:
                    raise ValueError(f"{name}: probabilities must be positive and sum to 1")
            weights[name] = {
                level: math.log2(self.m[name][level] / self.u[name][level]) for level in levels
            }
        object.__setattr__(self, "weights", weights)

    def weight(self, name: str, level: str | None) -> float:
        return 0.0 if level is None else self.weights[name][level]


def _table(**rows: tuple[float, ...]) -> dict[str, dict[str, float]]:
    return {name: dict(zip(LEVELS[name], row, strict=True)) for name, row in rows.items()}


# m: how often a true match shows each level in administrative data (typos,
# nicknames, moves, missing-then-present digits); u: chance agreement of two different
# people in one county (name frequencies, ~80 postcodes, birth dates over ~90 years;
# contact details shared within households). Close to what ``train`` estimates on
# the benchmark population, rounded, with m of a wrong birth date or sex kept at the
# 1-2% seen in real files rather than the near-zero of the synthetic one. Levels and
# fields added for learned models (issue 21) leave these weights as they were: a
# "partial" SSN weighs what "disagree" weighs, the city nothing (m = u).
DEFAULT_PARAMS: Final = MUParameters(
    m=_table(
        given=(0.80, 0.08, 0.07, 0.01, 0.02, 0.02),
        family=(0.85, 0.06, 0.06, 0.01, 0.02),
        middle=(0.55, 0.40, 0.05),
        birth_date=(0.95, 0.015, 0.015, 0.01, 0.01),
        ssn=(0.96, 0.03, 0.0001, 0.0099),
        sex=(0.985, 0.015),
        postcode=(0.75, 0.25),
        street=(0.62, 0.03, 0.35),
        city=(0.5, 0.1, 0.4),
        phone=(0.78, 0.22),
        email=(0.95, 0.05),
    ),
    u=_table(
        given=(0.01, 0.002, 0.003, 0.002, 0.001, 0.982),
        family=(0.006, 0.003, 0.001, 0.002, 0.988),
        middle=(0.02, 0.05, 0.93),
        birth_date=(0.00005, 0.00005, 0.001, 0.011, 0.9879),
        ssn=(0.00001, 0.00001, 0.01, 0.98998),
        sex=(0.5, 0.5),
        postcode=(0.02, 0.98),
        street=(0.0001, 0.0001, 0.9998),
        city=(0.5, 0.1, 0.4),
        phone=(0.0001, 0.9999),
        email=(0.0001, 0.9999),
    ),
)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Agreement level per field (None: missing on a side); ``swapped`` if the names
    agree only after exchanging given and family name; ``agreeing`` holds the shared
    name values (given or family name when exact, the shared parts when only parts
    agree) so that weights can depend on how common the name is."""

    levels: Levels
    swapped: bool = False
    agreeing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


Frequencies = Callable[[str, str], float | None]
"""(kind, value) -> share of records carrying the name, None if unknown; kind is
"given", "family" or "family_part"."""


@dataclass(frozen=True, slots=True)
class MatchScore:
    total_weight: float
    contributions: Mapping[str, float]
    comparison: Comparison

    @property
    def levels(self) -> Levels:
        return self.comparison.levels


def _jw(a: str, b: str) -> float:
    return JaroWinkler.similarity(a, b)


def _is_typo(a: str, b: str) -> bool:
    """One edit apart (insert, delete, substitute, transpose) and either Jaro-Winkler
    >= 0.92 or neither name shorter than three letters and one of four (a first-letter
    typo defeats Jaro-Winkler's prefix bonus; "ana"/"ava" are two names). Two edits are
    never a typo: Patrick/Patricia, Daniel/Danielle. (The edit distance goes first,
    told to stop past one: most pairs are not a typo.)"""
    if OSA.distance(a, b, score_cutoff=1) > 1:
        return False
    return (min(len(a), len(b)) >= 3 and max(len(a), len(b)) >= 4) or _jw(a, b) >= 0.92


def _fuzzy(a: str, b: str) -> str:
    """ "typo" (see ``_is_typo``), "similar": Jaro-Winkler >= 0.85, else "disagree"."""
    if _is_typo(a, b):
        return "typo"
    return "similar" if _jw(a, b) >= 0.85 else "disagree"


def _given_level(a: str, a_canon: frozenset[str], b: str, b_canon: frozenset[str]) -> str:
    if a == b:
        return "exact"
    if len(a) == 1 or len(b) == 1:
        return "initial" if a[0] == b[0] else "disagree"
    short, long = sorted((a, b), key=len)
    if a_canon & b_canon or (
        len(short) >= 3
        and len(long) >= len(short) + 2
        and long.startswith(short)
        and not is_canonical_given(short)
    ):
        return "nickname"  # the table, or a short form: dani/daniela (not jose/joseph, juan/juana)
    level = _fuzzy(a, b)
    if level == "disagree" and any(
        _is_typo(x, y)
        for x, others in ((a, given_variants(b)), (b, given_variants(a)))
        for y in others
        if abs(len(x) - len(y)) <= 1  # a typo is one edit: skip the comparison otherwise
    ):
        return "typo"  # a typo in one form of the name, the other form on the other side
    return level


def _family_level(a: str, a_parts: tuple[str, ...], b: str, b_parts: tuple[str, ...]) -> str:
    """Compound names agree on any shared part ("lopez" ~ "lopez garcia"); typos are
    judged on the whole name and part by part."""
    if a == b:
        return "exact"
    if set(a_parts) & set(b_parts):
        return "part"
    pairs = [(a, b), *((x, y) for x in a_parts for y in b_parts)]
    return min((_fuzzy(x, y) for x, y in pairs), key=LEVELS["family"].index)


def _middle_level(a: str, b: str) -> str:
    if a == b and len(a) > 1:
        return "exact"
    if (len(a) == 1 or len(b) == 1) and a[0] == b[0]:
        return "initial"
    return "disagree"


def _adjacent_swap(a: str, b: str) -> bool:
    """Equal but for two neighbouring characters exchanged."""
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and a[diff[0]] == b[diff[1]]
        and (a[diff[1]] == b[diff[0]])
    )


def _date_level(a: date, b: date) -> str:
    """ "transposed": day and month exchanged, or two neighbouring digits swapped;
    "near": one digit wrong (a keystroke error in one component)."""
    if a == b:
        return "exact"
    digits_a = f"{a.year:04d}{a.month:02d}{a.day:02d}"
    digits_b = f"{b.year:04d}{b.month:02d}{b.day:02d}"
    if (a.year == b.year and a.month == b.day and a.day == b.month) or _adjacent_swap(
        digits_a, digits_b
    ):
        return "transposed"
    if sum(x != y for x, y in zip(digits_a, digits_b, strict=True)) == 1:
        return "near"
    return "year" if a.year == b.year else "disagree"


def _ssn_level(a: str, b: str) -> str:
    """ "near": one mistyped digit or two neighbouring digits swapped; "partial": two
    digits wrong, or one group (area, group or serial) agrees with the rest shifted."""
    if a == b:
        return "exact"
    wrong = sum(x != y for x, y in zip(a, b, strict=True))
    if wrong == 1 or _adjacent_swap(a, b):
        return "near"
    if wrong == 2 or OSA.distance(a, b, score_cutoff=2) <= 2:
        return "partial"
    return "disagree"


def _city_level(a: str, b: str) -> str:
    if a == b:
        return "exact"
    return "typo" if _is_typo(a, b) or _jw(a, b) >= 0.92 else "disagree"


def _street_level(a: Features, b: Features) -> str | None:
    """Different house numbers are different addresses whatever the street says."""
    if a.street is None or b.street is None:
        return None
    numbers_known = a.street_number is not None and b.street_number is not None
    if numbers_known and a.street_number != b.street_number:
        return "disagree"
    if a.street == b.street:
        return "exact" if numbers_known else "similar"
    return "similar" if _jw(a.street, b.street) >= 0.9 else "disagree"


def _equal(a: object, b: object) -> str | None:
    if a is None or b is None:
        return None
    return "exact" if a == b else "disagree"


def _rank(name: str, level: str | None) -> int:
    return len(LEVELS[name]) if level is None else LEVELS[name].index(level)


class _Names(NamedTuple):
    given: str | None
    family: str | None
    swapped: bool
    agreeing: dict[str, tuple[str, ...]]


GivenPair = tuple[str, frozenset[str], str, frozenset[str]]
FamilyPair = tuple[str, tuple[str, ...], str, tuple[str, ...]]


def _names(given: GivenPair | None, family: FamilyPair | None, swapped: bool) -> _Names:
    given_level = _given_level(*given) if given else None
    family_level = _family_level(*family) if family else None
    agreeing: dict[str, tuple[str, ...]] = {}
    if given and given_level == "exact":
        agreeing["given"] = (given[0],)
    if family and family_level == "exact":
        agreeing["family"] = (family[0],)
    elif family and family_level == "part":
        agreeing["family"] = tuple(sorted(set(family[1]) & set(family[3])))
    return _Names(given_level, family_level, swapped, agreeing)


def _crossed(given: GivenPair, family: FamilyPair) -> _Names | None:
    """The levels of a crossed pair, or None as soon as one disagrees: such a pair is
    never chosen, and most pairs of different people stop at the first comparison."""
    if _given_level(*given) == "disagree" or _family_level(*family) == "disagree":
        return None
    return _names(given, family, swapped=True)


def _name_rank(names: _Names) -> int:
    return _rank("given", names.given) + _rank("family", names.family)


def _name_levels(a: Features, b: Features) -> _Names:
    """Given and family levels, or, if one record has the two names exchanged and both
    then agree (better), the levels of the crossed pairs."""
    straight = _names(
        (a.given, a.given_canonical, b.given, b.given_canonical) if a.given and b.given else None,
        (a.family, a.family_parts, b.family, b.family_parts) if a.family and b.family else None,
        swapped=False,
    )
    if not (a.given and a.family and b.given and b.family) or _name_rank(straight) == 0:
        return straight
    # Either record may be the swapped one, so either crossed pair may hold the given names.
    crossed = (
        _crossed(
            (a.given, a.given_canonical, b.family, canonical_given(b.family)),
            (a.family, a.family_parts, b.given, (b.given,)),
        ),
        _crossed(
            (a.family, canonical_given(a.family), b.given, b.given_canonical),
            (a.given, (a.given,), b.family, b.family_parts),
        ),
    )
    plausible = [n for n in crossed if n is not None]
    return min([straight, *plausible], key=_name_rank)


def compare(a: Features, b: Features) -> Comparison:
    names = _name_levels(a, b)
    levels: dict[str, str | None] = {
        "given": names.given,
        "family": names.family,
        "middle": _middle_level(a.middle, b.middle) if a.middle and b.middle else None,
        "birth_date": (
            _date_level(a.birth_date, b.birth_date) if a.birth_date and b.birth_date else None
        ),
        "ssn": _ssn_level(a.ssn, b.ssn) if a.ssn and b.ssn else None,
        "sex": _equal(a.sex, b.sex),
        "postcode": _equal(a.postcode, b.postcode),
        "street": _street_level(a, b),
        "city": _city_level(a.city, b.city) if a.city and b.city else None,
        "phone": _equal(a.phone, b.phone),
        "email": _equal(a.email, b.email),
    }
    return Comparison(levels, names.swapped, names.agreeing)


# Street, postcode and city describe one address: two records of one person who moved
# disagree on all three. Summed, they would count one fact three times over.
ADDRESS: Final = ("street", "postcode", "city")


def weigh(
    comparison: Comparison,
    params: MUParameters = DEFAULT_PARAMS,
    frequencies: Frequencies | None = None,
    address_once: bool = False,
) -> MatchScore:
    """Sum of level weights. With ``frequencies``, agreement on a name uses that name's
    own frequency as u (Winkler's frequency-based matching): two "Maria Garcia" agree
    by chance far more often than two "Ximena Okafor". With ``address_once`` (the learned
    models' way) an address that disagrees in every part both records have counts once,
    by its strongest part: a person who moved disagrees on street, postcode and city at
    once, one fact. (Parts that agree keep their sum: a typo strikes one part at a time,
    so agreement in each is evidence of its own; neighbours, for whom it is not, are
    what the household rule of ``classify`` is for.)"""
    contributions: dict[str, float] = {}
    for name in FIELDS:
        level = comparison.levels[name]
        contributions[name] = params.weight(name, level)
        values = comparison.agreeing.get(name)
        if frequencies is None or level is None or not values:
            continue
        kinds = ["family_part"] if level == "part" else [name]
        if comparison.swapped:  # which slot held the given name is a guess: take the commoner
            kinds = ["given", "family"]
        shares = [s for v in values for k in kinds if (s := frequencies(k, v)) is not None]
        if shares:
            contributions[name] = math.log2(params.m[name][level] / max(shares))
    if address_once:
        known = [name for name in ADDRESS if comparison.levels[name] is not None]
        if known and all(comparison.levels[name] == "disagree" for name in known):
            strongest = min(known, key=lambda name: contributions[name])
            for name in known:
                if name != strongest:
                    contributions[name] = 0.0
    return MatchScore(sum(contributions.values()), contributions, comparison)


def score(
    a: Features,
    b: Features,
    params: MUParameters = DEFAULT_PARAMS,
    frequencies: Frequencies | None = None,
    address_once: bool = False,
) -> MatchScore:
    return weigh(compare(a, b), params, frequencies, address_once)
