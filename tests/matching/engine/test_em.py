import random

import pytest

from caseops.demo.synthetic import generate
from caseops.matching.engine.em import estimate_mu, estimate_u, train
from caseops.matching.engine.normalize import normalize_person
from caseops.matching.engine.scoring import DEFAULT_PARAMS, FIELDS, LEVELS

# A known two-class mixture over four fields, conditionally independent given the class.
TRUE_SHARE = 0.3
TRUE_M = {
    "given": {
        "exact": 0.80,
        "nickname": 0.06,
        "typo": 0.06,
        "similar": 0.02,
        "initial": 0.02,
        "disagree": 0.04,
    },
    "birth_date": {"exact": 0.90, "transposed": 0.02, "near": 0.04, "year": 0.02, "disagree": 0.02},
    "postcode": {"exact": 0.70, "disagree": 0.30},
    "phone": {"exact": 0.60, "disagree": 0.40},
}
TRUE_U = {
    "given": {
        "exact": 0.05,
        "nickname": 0.01,
        "typo": 0.02,
        "similar": 0.04,
        "initial": 0.03,
        "disagree": 0.85,
    },
    "birth_date": {
        "exact": 0.01,
        "transposed": 0.005,
        "near": 0.05,
        "year": 0.20,
        "disagree": 0.735,
    },
    "postcode": {"exact": 0.10, "disagree": 0.90},
    "phone": {"exact": 0.02, "disagree": 0.98},
}


def _draw(rng: random.Random, table: dict[str, float]) -> str:
    return rng.choices(list(table), list(table.values()))[0]


def _mixture(pairs: int, seed: int) -> list[dict[str, str | None]]:
    rng = random.Random(seed)
    comparisons = []
    for _ in range(pairs):
        tables = TRUE_M if rng.random() < TRUE_SHARE else TRUE_U
        levels: dict[str, str | None] = dict.fromkeys(FIELDS)
        for field, table in tables.items():
            levels[field] = None if rng.random() < 0.1 else _draw(rng, table)  # 10% missing
        comparisons.append(levels)
    return comparisons


def test_em_recovers_m_u_and_share_of_a_known_mixture():
    result = estimate_mu(_mixture(30_000, seed=7), fields=TRUE_M, smoothing=0.01)
    assert result.converged
    assert result.match_share == pytest.approx(TRUE_SHARE, abs=0.02)
    for field in TRUE_M:
        for level in LEVELS[field]:
            assert result.params.m[field][level] == pytest.approx(TRUE_M[field][level], abs=0.03)
            assert result.params.u[field][level] == pytest.approx(TRUE_U[field][level], abs=0.03)
    # fields left out of the model keep their starting values
    assert result.params.m["email"] == DEFAULT_PARAMS.m["email"]


def test_em_needs_comparisons():
    with pytest.raises(ValueError, match="no comparisons"):
        estimate_mu([])


def test_training_on_synthetic_records_gives_sensible_weights():
    dataset = generate(1500, 3, seed=3)
    records = [normalize_person(r.person) for r in dataset.records()]
    u = estimate_u(records, samples=5000, seed=1)
    assert all(sum(u[field].values()) == pytest.approx(1) for field in FIELDS)
    params = train(records, samples=20_000)
    for field in ("given", "family", "birth_date", "postcode", "phone"):
        assert params.weights[field]["exact"] > 3 > params.weights[field]["disagree"]
    assert params.weights["birth_date"]["exact"] > params.weights["birth_date"]["near"]
