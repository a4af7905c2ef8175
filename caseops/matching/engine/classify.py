"""Decision for one scored pair: deterministic rules first, then two thresholds.

A high weight alone never auto-links relatives or namesakes: twins share family name,
birth date, address and phone; a father and son ("Jr") share all but the birth date;
two "Jose Garcia" born in the same year often have birth dates a digit apart. So an
automatic link also needs, unless the SSNs agree, a corroborated birth date, given
name and family name and no SSN or sex conflict; otherwise the pair goes to review at
most. An agreeing SSN still needs the name or the birth date: a parent's SSN turns up
on a child's record.

Those rules are the fixed model's (``DEFAULT_PARAMS``), whose weights were set for one
population. A model learned from the deployment's own records (``LinkageModel``,
``Thresholds.learned``) already weighs how often true matches disagree on an SSN, a
sex or a birth date *in that data*, so only the rules for what the model cannot see
remain: households. Fields are independent given the class in Fellegi-Sunter, and a
household is where they are not (twins share family name, birth date, street and
phone; a father and son all but the birth date; spouses the address and phone), so a
pair that shares a street, phone or email but differs on the given name or the birth
date goes to review at most, whatever its probability, unless the SSNs agree.
"""

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from caseops.matching.engine.scoring import Levels, MatchScore


class Decision(StrEnum):
    LINK = "link"
    REVIEW = "review"
    NEW = "new"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Weights (bits) at and above which a pair links (``upper``) or is reviewed
    (``lower``). ``prior_bits``: log2 prior odds that a candidate pair is one person,
    when known (a learned model), so a decision can state its probability; ``learned``:
    the weights come from the data, so only the relatives rules apply (module doc)."""

    upper: float
    lower: float
    prior_bits: float | None = None
    learned: bool = False

    def __post_init__(self) -> None:
        if self.lower > self.upper:
            raise ValueError("lower threshold above upper threshold")

    def probability(self, weight: float) -> float | None:
        """Posterior probability that a pair of this weight is one person."""
        if self.prior_bits is None:
            return None
        return posterior(weight + self.prior_bits)


def posterior(log2_odds: float) -> float:
    return 1 / (1 + 2 ** -min(max(log2_odds, -1000.0), 1000.0))


def log2_odds(probability: float) -> float:
    return math.log2(probability / (1 - probability))


DEFAULT_THRESHOLDS: Final = Thresholds(upper=16.0, lower=10.0)

# Given plus family name evidence (bits) above which a same-year namesake is implausible.
RARE_NAME_BITS: Final = 20.0
_AGREEING_DATES: Final = frozenset({"exact", "transposed", "near"})
# The fixed model's rules predate the "partial" level: to them it is a different SSN.
_SSN_DIFFERS: Final = frozenset({"partial", "disagree"})


@dataclass(frozen=True, slots=True)
class Classification:
    decision: Decision
    reason: str


def _given_corroborated(levels: Levels) -> bool:
    """Exact, a nickname or a one-letter typo; an initial only with the full family
    name and the same recorded sex (so "M. Lopez-Garcia" against "Maria Lopez", two
    partial names, goes to review)."""
    given = levels["given"]
    if given in {"exact", "nickname", "typo"}:
        return True
    return given == "initial" and levels["family"] in {"exact", "typo"} and levels["sex"] == "exact"


def _birth_date_corroborated(score: MatchScore) -> bool:
    """Birth dates agree (perhaps transposed), or are near (one component wrong) or
    one is missing while something else vouches for the person: a rare name pair
    (common-name namesakes born in the same year are frequent), or for a near date a
    shared street, phone or email, for a missing one a shared email."""
    levels = score.levels
    birth_date = levels["birth_date"]
    if birth_date in {"exact", "transposed"}:
        return True
    if birth_date not in {"near", None}:
        return False
    rare_name = score.contributions["given"] + score.contributions["family"] >= RARE_NAME_BITS
    if birth_date == "near":
        return rare_name or _shared_contact(levels)
    return rare_name or levels["email"] == "exact"


def _shared_contact(levels: Levels) -> bool:
    return any(levels[name] == "exact" for name in ("street", "phone", "email"))


def _auto_link_blocker(score: MatchScore) -> str | None:
    """Why this pair must not be linked without a human, if it must not."""
    levels = score.levels
    if levels["ssn"] == "exact":
        if _given_corroborated(levels) or levels["birth_date"] in _AGREEING_DATES:
            return None
        return "ssn_only"
    if levels["ssn"] in _SSN_DIFFERS:
        return "ssn_conflict"
    if not _birth_date_corroborated(score):
        return "birth_date_not_corroborated"
    if not _given_corroborated(levels):
        return "given_name_not_corroborated"
    if levels["family"] == "disagree" and not _shared_contact(levels):
        return "family_name_not_corroborated"
    if levels["sex"] == "disagree" and levels["given"] != "exact":
        return "sex_conflict"  # Daniel and Danielle; a recorded-sex error keeps the name
    return None


def _shares_household(levels: Levels) -> bool:
    return (
        levels["street"] in {"exact", "similar"}
        or levels["phone"] == "exact"
        or levels["email"] == "exact"
    )


def _relative_blocker(score: MatchScore) -> str | None:
    """Why a pair may be two people of one household the model cannot tell apart (a
    shared street, phone or email counts several times over as independent evidence,
    and spouses need not share a family name), if it may: they share a household and
    differ on the given name or the birth date, and no SSN says they are one."""
    levels = score.levels
    if not _shares_household(levels) or levels["ssn"] in {"exact", "near"}:
        return None
    if levels["given"] not in {"exact", "nickname", "typo", "initial", None}:
        return "household_given_name_differs"
    if levels["birth_date"] not in {"exact", "transposed", "near", None}:
        return "household_birth_date_differs"  # a parent and a child, or two siblings
    return None


def _learned(score: MatchScore, thresholds: Thresholds) -> Classification:
    probability = thresholds.probability(score.total_weight)
    said = f"p {probability:.6f}" if probability is not None else f"weight {score.total_weight:.2f}"
    if score.total_weight >= thresholds.upper:
        blocker = _relative_blocker(score)
        if blocker is None:
            return Classification(Decision.LINK, f"{said} >= link")
        return Classification(Decision.REVIEW, f"rule:{blocker} ({said})")
    if score.total_weight >= thresholds.lower:
        return Classification(Decision.REVIEW, f"{said} >= review")
    return Classification(Decision.NEW, f"{said} < review")


def classify(score: MatchScore, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Classification:
    """``link``, ``review`` or ``new`` with the rule or weight that decided it."""
    if thresholds.learned:
        return _learned(score, thresholds)
    levels = score.levels
    if levels["ssn"] == "exact" and levels["birth_date"] == "exact":
        return Classification(Decision.LINK, "rule:ssn_and_birth_date_agree")
    if levels["ssn"] in _SSN_DIFFERS and levels["birth_date"] in {"year", "disagree"}:
        return Classification(Decision.NEW, "rule:ssn_and_birth_date_conflict")
    weight = f"weight {score.total_weight:.2f}"
    if score.total_weight >= thresholds.upper:
        blocker = _auto_link_blocker(score)
        if blocker is None:
            return Classification(Decision.LINK, f"{weight} >= {thresholds.upper:g}")
        return Classification(Decision.REVIEW, f"rule:{blocker} ({weight})")
    if score.total_weight >= thresholds.lower:
        return Classification(Decision.REVIEW, f"{weight} >= {thresholds.lower:g}")
    return Classification(Decision.NEW, f"{weight} < {thresholds.lower:g}")
