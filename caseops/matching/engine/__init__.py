"""Record linkage for the master client index: pure functions, no Flask or database.

normalize (Features) -> pseudonym (keyed pseudonyms, blocking keys) -> scoring
(Fellegi-Sunter levels and weights, name frequencies) -> decision (rules, then
thresholds); em estimates m/u without labels; matcher's in-memory ``Linker`` strings
them together for real-time ingest, batch runs and the benchmark.
"""

from caseops.matching.engine.classify import (
    DEFAULT_THRESHOLDS,
    Classification,
    Decision,
    Thresholds,
    classify,
)
from caseops.matching.engine.em import EMResult, estimate_mu, estimate_u, train
from caseops.matching.engine.frequency import NameFrequencies
from caseops.matching.engine.matcher import (
    ClientMatch,
    KeptApart,
    KeptApartPairs,
    Linker,
    LinkResult,
)
from caseops.matching.engine.model import (
    BUILT_IN,
    DEFAULT_LINK_PROBABILITY,
    DEFAULT_REVIEW_PROBABILITY,
    LinkageModel,
    train_model,
)
from caseops.matching.engine.normalize import Features, normalize_person
from caseops.matching.engine.pseudonym import birth_date_key, blocking_keys, pseudonym
from caseops.matching.engine.scoring import (
    DEFAULT_PARAMS,
    FIELDS,
    LEVELS,
    Comparison,
    Frequencies,
    MatchScore,
    MUParameters,
    compare,
    score,
    weigh,
)

__all__ = [
    "BUILT_IN",
    "DEFAULT_LINK_PROBABILITY",
    "DEFAULT_PARAMS",
    "DEFAULT_REVIEW_PROBABILITY",
    "DEFAULT_THRESHOLDS",
    "FIELDS",
    "LEVELS",
    "Classification",
    "ClientMatch",
    "Comparison",
    "Decision",
    "EMResult",
    "Features",
    "Frequencies",
    "KeptApart",
    "KeptApartPairs",
    "LinkResult",
    "LinkageModel",
    "Linker",
    "MUParameters",
    "MatchScore",
    "NameFrequencies",
    "Thresholds",
    "birth_date_key",
    "blocking_keys",
    "classify",
    "compare",
    "estimate_mu",
    "estimate_u",
    "normalize_person",
    "pseudonym",
    "score",
    "train",
    "train_model",
    "weigh",
]
