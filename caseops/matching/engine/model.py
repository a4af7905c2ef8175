"""A linkage model: m and u per field and level, the prior that a candidate pair is one
person, and the two posterior probabilities that decide.

``train_model`` learns everything but the two probabilities from unlabelled records
(``em.train`` for m and u; the prior by EM over the pairs blocking actually yields, with
m and u held), so a deployment's own records decide what an agreement or a
disagreement is worth there. The probabilities are policy, not data: link when a pair
is at least ``link_probability`` likely one person (default 0.999), queue it for a
steward from ``review_probability`` (default 0.9). With the prior they give the weight
thresholds the classifier uses, and the expected number of wrong links (the sum of
1 - p over the links made) that ``caseops link rebuild --dry-run`` reports.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any, Final

from caseops.matching.engine.classify import (
    DEFAULT_THRESHOLDS,
    Thresholds,
    log2_odds,
    posterior,
)
from caseops.matching.engine.em import train_report
from caseops.matching.engine.normalize import Features
from caseops.matching.engine.pseudonym import blocking_keys
from caseops.matching.engine.scoring import (
    DEFAULT_PARAMS,
    FIELDS,
    LEVELS,
    MUParameters,
    compare,
    weigh,
)

DEFAULT_LINK_PROBABILITY: Final = 0.999
DEFAULT_REVIEW_PROBABILITY: Final = 0.9
# Only groups records in memory: the pseudonyms never leave ``train_model``.
_TRAINING_KEY: Final = b"caseops-linkage-training-blocks!"


@dataclass(frozen=True)
class LinkageModel:
    """What decides a pair. ``prior`` is the share of candidate pairs (records sharing a
    blocking key) that are one person; None for the built-in model, whose fixed weight
    thresholds (``DEFAULT_THRESHOLDS``) and rules predate probabilities."""

    params: MUParameters = DEFAULT_PARAMS
    prior: float | None = None
    link_probability: float = DEFAULT_LINK_PROBABILITY
    review_probability: float = DEFAULT_REVIEW_PROBABILITY
    stats: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not 0 < self.review_probability <= self.link_probability < 1:
            raise ValueError("need 0 < review probability <= link probability < 1")
        if self.prior is not None and not 0 < self.prior < 1:
            raise ValueError("the prior must lie strictly between 0 and 1")

    @property
    def learned(self) -> bool:
        return self.prior is not None

    @property
    def thresholds(self) -> Thresholds:
        if self.prior is None:
            return DEFAULT_THRESHOLDS
        prior_bits = log2_odds(self.prior)
        return Thresholds(
            upper=log2_odds(self.link_probability) - prior_bits,
            lower=log2_odds(self.review_probability) - prior_bits,
            prior_bits=prior_bits,
            learned=True,
        )

    def probability(self, weight: float) -> float | None:
        return self.thresholds.probability(weight)

    def with_probabilities(self, link: float | None, review: float | None) -> LinkageModel:
        return replace(
            self,
            link_probability=self.link_probability if link is None else link,
            review_probability=self.review_probability if review is None else review,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "m": {name: dict(self.params.m[name]) for name in FIELDS},
            "u": {name: dict(self.params.u[name]) for name in FIELDS},
            "prior": self.prior,
            "link_probability": self.link_probability,
            "review_probability": self.review_probability,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any], stats: Mapping[str, Any] | None = None):
        """The model stored as ``to_json``; a field or level the stored model does not
        know (added since it was trained) takes the built-in m and u until the next
        ``caseops link train``."""
        tables: list[dict[str, dict[str, float]]] = []
        for kind, default in (("m", DEFAULT_PARAMS.m), ("u", DEFAULT_PARAMS.u)):
            stored = value.get(kind, {})
            tables.append(
                {
                    name: dict(stored[name])
                    if set(stored.get(name, {})) == set(levels)
                    else dict(default[name])
                    for name, levels in LEVELS.items()
                }
            )
        return cls(
            MUParameters(*tables),
            value.get("prior"),
            value.get("link_probability", DEFAULT_LINK_PROBABILITY),
            value.get("review_probability", DEFAULT_REVIEW_PROBABILITY),
            dict(stats or {}),
        )


BUILT_IN: Final = LinkageModel()


def _candidate_pairs(
    records: Sequence[Features], max_block_size: int, max_pairs: int | None, seed: int
) -> list[tuple[int, int]]:
    """Pairs of records sharing a blocking key (as ingest compares them), at most
    ``max_pairs`` of them chosen at random."""
    blocks: defaultdict[int, list[int]] = defaultdict(list)
    for index, features in enumerate(records):
        for key in blocking_keys(features, _TRAINING_KEY):
            blocks[key].append(index)
    pairs = {
        pair
        for members in blocks.values()
        if 1 < len(members) <= max_block_size
        for pair in combinations(members, 2)
    }
    ordered = sorted(pairs)
    if max_pairs is not None and len(ordered) > max_pairs:
        ordered = random.Random(seed).sample(ordered, max_pairs)  # noqa: S311 - sampling
    return ordered


def estimate_prior(
    weights: Sequence[float], total_pairs: int, max_iter: int = 500, tol: float = 1e-12
) -> tuple[float, int, bool]:
    """The chance that two records drawn at random are one person, m and u held.

    EM on the prior alone over all ``total_pairs`` pairs of the records, taking pairs
    that share no blocking key as different people (the premise of blocking): the prior
    is the expected number of matches among the candidate pairs (``weights``), each
    weighed by its posterior under that prior, over all pairs. (A prior over candidate
    pairs only would say more about the blocking than about the data: with keys as
    tight as these nearly every candidate pair is a match, and every pair would link.)
    """
    if not weights or total_pairs < len(weights):
        raise ValueError("need candidate pairs, and no more of them than pairs in all")
    prior = len(weights) / total_pairs
    for iteration in range(1, max_iter + 1):
        bits = log2_odds(prior)
        new = sum(posterior(w + bits) for w in weights) / total_pairs
        new = min(max(new, 1e-12), 1 - 1e-9)
        if abs(new - prior) < tol * max(prior, 1e-12) * 1e3:
            return new, iteration, True
        prior = new
    return prior, max_iter, False


def train_model(
    records: Sequence[Features],
    samples: int = 200_000,
    seed: int = 0,
    max_block_size: int = 50,
    max_pairs: int = 500_000,
    link_probability: float = DEFAULT_LINK_PROBABILITY,
    review_probability: float = DEFAULT_REVIEW_PROBABILITY,
) -> LinkageModel:
    """A model learned from ``records`` without labels (see the module docstring)."""
    if len(records) < 2:
        raise ValueError("training needs at least two records")
    started = time.perf_counter()
    params, report = train_report(
        records, samples=samples, seed=seed, max_block_size=max_block_size
    )
    pairs = _candidate_pairs(records, max_block_size, None, seed)
    sampled = (
        random.Random(seed).sample(pairs, max_pairs) if len(pairs) > max_pairs else pairs  # noqa: S311
    )
    weights = [
        weigh(compare(records[a], records[b]), params, address_once=True).total_weight
        for a, b in sampled
    ]
    # A sample stands for all candidate pairs: scale the pair total alike.
    total = len(records) * (len(records) - 1) // 2 * len(sampled) // max(len(pairs), 1)
    prior, iterations, converged = (
        estimate_prior(weights, max(total, len(weights))) if weights else (1e-9, 0, True)
    )
    stats = {
        "records": len(records),
        "candidate_pairs": len(pairs),
        "prior_iterations": iterations,
        "converged": converged and bool(report["em_converged"]),
        **report,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return LinkageModel(params, prior, link_probability, review_probability, stats)
