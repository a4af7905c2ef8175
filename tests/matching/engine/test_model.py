"""The linkage model learned without labels: m, u and the prior from the records, and
decisions by posterior probability."""

from __future__ import annotations

import pytest

from caseops.demo.synthetic import generate
from caseops.matching.engine import (
    BUILT_IN,
    DEFAULT_THRESHOLDS,
    Decision,
    LinkageModel,
    normalize_person,
    train_model,
)
from caseops.matching.engine.classify import classify, log2_odds, posterior
from caseops.matching.engine.model import estimate_prior
from caseops.matching.engine.scoring import score


@pytest.fixture(scope="module")
def learned():
    dataset = generate(400, agencies=2, seed=3)
    records = [normalize_person(r.person) for r in dataset.records()]
    people = len({r.person_id for r in dataset.records()})
    return train_model(records, samples=20_000), len(records), people


def test_training_estimates_the_chance_that_two_records_are_one_person(learned):
    model, records, people = learned
    # Records of one person are few: the share of pairs that match is about
    # (records - people) / (records choose 2); EM finds its order of magnitude.
    truth = (records - people) / (records * (records - 1) / 2)
    assert truth / 3 < model.prior < truth * 3
    assert model.stats["records"] == records and model.stats["converged"]


def test_probabilities_become_weight_thresholds_through_the_prior(learned):
    model = learned[0]
    thresholds = model.thresholds
    assert thresholds.learned
    assert posterior(thresholds.upper + thresholds.prior_bits) == pytest.approx(0.999)
    assert posterior(thresholds.lower + thresholds.prior_bits) == pytest.approx(0.9)
    stricter = model.with_probabilities(0.99999, None).thresholds
    assert stricter.upper > thresholds.upper and stricter.lower == thresholds.lower


def test_the_built_in_model_keeps_its_weight_thresholds_and_rules():
    assert not BUILT_IN.learned and BUILT_IN.thresholds == DEFAULT_THRESHOLDS
    assert BUILT_IN.probability(30.0) is None


def test_a_stored_model_reads_back_and_lacks_nothing_added_since(learned):
    model = learned[0]
    stored = model.to_json()
    assert LinkageModel.from_json(stored) == model
    del stored["m"]["city"]
    older = LinkageModel.from_json(stored)
    assert older.params.m["city"] == BUILT_IN.params.m["city"]  # built-in until retrained


def test_refuses_probabilities_out_of_order():
    with pytest.raises(ValueError, match="review probability"):
        LinkageModel(prior=0.001, link_probability=0.9, review_probability=0.99)


def test_the_prior_is_the_expected_share_of_matches():
    # 10 pairs certainly one person, 90 certainly not, among 1000 pairs in all.
    weights = [60.0] * 10 + [-60.0] * 90
    prior, _iterations, converged = estimate_prior(weights, total_pairs=1000)
    assert converged and prior == pytest.approx(0.01, rel=1e-3)


def test_twins_stay_apart_under_a_learned_model(learned):
    model = learned[0]
    one = {
        "given_name": "Elena",
        "family_name": "Lopez",
        "birth_date": "1990-04-02",
        "address": {"street_number": "12", "street": "Oak St", "postcode": "94601"},
        "phone": "510-555-0101",
    }
    twin = one | {"given_name": "Marta"}
    scored = score(normalize_person(one), normalize_person(twin), model.params)
    decision = classify(scored, model.thresholds)
    assert decision.decision is not Decision.LINK
    assert log2_odds(0.5) == 0
