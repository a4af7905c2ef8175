"""Estimating m and u from unlabelled records.

``estimate_mu`` is the standard EM for a two-class mixture (match / non-match) with
fields conditionally independent given the class; missing fields drop out of the
likelihood, and identical comparison vectors are counted once.

Run naively on linkage candidate pairs it converges to nonsense: blocking makes
non-matches agree on the blocking fields, so the fields are no longer independent
(on the benchmark it learns "postcode disagrees" as evidence *for* a match). ``train``
therefore follows the usual remedy: u from random pairs (which are almost all
non-matches), m by EM on pairs sharing a birth date with the birth date left out of the
model, and the birth date's m by EM on pairs sharing a phonetic family name and postcode
with names and address left out. (Pairs sharing postcode and birth year, used before,
can never show one person's birth year mistyped, so EM learned that it never happens.)
"""

import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations

from caseops.matching.engine.normalize import Features
from caseops.matching.engine.pseudonym import phonetic
from caseops.matching.engine.scoring import (
    DEFAULT_PARAMS,
    FIELDS,
    LEVELS,
    Levels,
    MUParameters,
    compare,
)

Pattern = tuple[int, ...]  # level index per modelled field, -1 when missing
Table = dict[str, dict[str, float]]


@dataclass(frozen=True, slots=True)
class EMResult:
    params: MUParameters
    match_share: float
    iterations: int
    converged: bool


def _normalised(counts: Sequence[float], smoothing: float) -> list[float]:
    total = sum(counts) + smoothing * len(counts)
    return [(c + smoothing) / total for c in counts]


def _level_index(name: str, level: str | None) -> int:
    return -1 if level is None else LEVELS[name].index(level)


def estimate_mu(
    comparisons: Iterable[Levels],
    init: MUParameters = DEFAULT_PARAMS,
    match_share: float = 0.1,
    fields: Collection[str] = FIELDS,
    max_iter: int = 200,
    tol: float = 1e-6,
    smoothing: float = 0.5,
) -> EMResult:
    """Fit m, u and the match share of ``fields`` to ``comparisons``; other fields
    keep their ``init`` values.

    ``init`` decides which mixture component is "match" (EM finds a local optimum);
    ``smoothing`` is a pseudo-count per level that keeps every probability positive,
    so a level unseen in a small sample does not get an infinite weight.
    """
    modelled = [name for name in FIELDS if name in fields]
    patterns = Counter(tuple(_level_index(n, c[n]) for n in modelled) for c in comparisons)
    if not patterns:
        raise ValueError("no comparisons to estimate from")
    m = [[init.m[n][level] for level in LEVELS[n]] for n in modelled]
    u = [[init.u[n][level] for level in LEVELS[n]] for n in modelled]
    share, iterations, converged = match_share, max_iter, False
    for iteration in range(1, max_iter + 1):
        new_m, new_u, new_share = _step(patterns, m, u, share, smoothing)
        change = max(
            abs(new_share - share),
            *(
                abs(x - y)
                for old, new in ((m, new_m), (u, new_u))
                for a, b in zip(old, new, strict=True)
                for x, y in zip(a, b, strict=True)
            ),
        )
        m, u, share = new_m, new_u, new_share
        if change < tol:
            iterations, converged = iteration, True
            break
    m_table = {n: dict(init.m[n]) for n in FIELDS}
    u_table = {n: dict(init.u[n]) for n in FIELDS}
    for i, n in enumerate(modelled):
        m_table[n] = dict(zip(LEVELS[n], m[i], strict=True))
        u_table[n] = dict(zip(LEVELS[n], u[i], strict=True))
    return EMResult(MUParameters(m_table, u_table), share, iterations, converged)


def _step(
    patterns: Counter[Pattern],
    m: list[list[float]],
    u: list[list[float]],
    share: float,
    smoothing: float,
) -> tuple[list[list[float]], list[list[float]], float]:
    """One E step (posterior match probability per pattern) and M step."""
    m_counts = [[0.0] * len(row) for row in m]
    u_counts = [[0.0] * len(row) for row in u]
    matched = 0.0
    prior = math.log(share) - math.log(1 - share)
    for pattern, count in patterns.items():
        log_ratio = prior
        for f, level in enumerate(pattern):
            if level >= 0:
                log_ratio += math.log(m[f][level]) - math.log(u[f][level])
        posterior = 1 / (1 + math.exp(-min(max(log_ratio, -700.0), 700.0)))
        matched += count * posterior
        for f, level in enumerate(pattern):
            if level >= 0:
                m_counts[f][level] += count * posterior
                u_counts[f][level] += count * (1 - posterior)
    new_share = min(max(matched / patterns.total(), 1e-9), 1 - 1e-9)
    return (
        [_normalised(row, smoothing) for row in m_counts],
        [_normalised(row, smoothing) for row in u_counts],
        new_share,
    )


def estimate_u(
    records: Sequence[Features], samples: int = 200_000, seed: int = 0, smoothing: float = 0.5
) -> Table:
    """u from random record pairs, nearly all of which are different people."""
    rng = random.Random(seed)  # noqa: S311 - sampling, not security
    counts = {name: Counter[str]() for name in FIELDS}
    for _ in range(samples):
        a, b = rng.sample(range(len(records)), 2)
        for name, level in compare(records[a], records[b]).levels.items():
            if level is not None:
                counts[name][level] += 1
    return {
        name: dict(
            zip(levels, _normalised([counts[name][lv] for lv in levels], smoothing), strict=True)
        )
        for name, levels in LEVELS.items()
    }


def _pairs_sharing(
    records: Sequence[Features], key: Callable[[Features], Hashable | None], max_block_size: int
) -> Iterator[Levels]:
    blocks: defaultdict[Hashable, list[int]] = defaultdict(list)
    for index, features in enumerate(records):
        value = key(features)
        if value is not None:
            blocks[value].append(index)
    for members in blocks.values():
        if len(members) <= max_block_size:
            for a, b in combinations(members, 2):
                yield compare(records[a], records[b]).levels


def _family_and_postcode(features: Features) -> tuple[str, str] | None:
    """Phonetic family name and postcode: a block that says nothing of the birth date,
    so EM sees birth dates of one person that disagree, even on the year."""
    if not features.family_parts or features.postcode is None:
        return None
    return phonetic(features.family_parts[0]), features.postcode


def train(
    records: Sequence[Features],
    init: MUParameters = DEFAULT_PARAMS,
    samples: int = 200_000,
    seed: int = 0,
    max_block_size: int = 50,
) -> MUParameters:
    """m and u for ``records`` without labels (see the module docstring for how)."""
    return train_report(records, init, samples, seed, max_block_size)[0]


def train_report(
    records: Sequence[Features],
    init: MUParameters = DEFAULT_PARAMS,
    samples: int = 200_000,
    seed: int = 0,
    max_block_size: int = 50,
) -> tuple[MUParameters, dict[str, object]]:
    """``train`` and how its two EM runs went (iterations, convergence)."""
    u = estimate_u(records, samples, seed)
    start = MUParameters(init.m, u)
    same_birth_date = estimate_mu(
        _pairs_sharing(records, lambda f: f.birth_date, max_block_size),
        start,
        match_share=0.5,
        fields=[name for name in FIELDS if name != "birth_date"],
    )
    same_place_and_year = estimate_mu(
        _pairs_sharing(records, _family_and_postcode, max_block_size),
        start,
        fields=[name for name in FIELDS if name not in {"family", "postcode", "street", "city"}],
    )
    m = {name: dict(same_birth_date.params.m[name]) for name in FIELDS}
    m["birth_date"] = dict(same_place_and_year.params.m["birth_date"])
    report = {
        "em_iterations": [same_birth_date.iterations, same_place_and_year.iterations],
        "em_converged": same_birth_date.converged and same_place_and_year.converged,
        "u_samples": samples,
    }
    return MUParameters(m, u), report
