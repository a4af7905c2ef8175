"""The review queue as a steward's tool: ranked by how much a decision changes, with the
agreement of each field, decided in batches, its size known."""

from __future__ import annotations

import copy

import pytest

from caseops.matching import review
from tests import factories
from tests.fixtures.records import MARIA, bearer, put, put_uncertain_pair


@pytest.fixture
def feeds(world):
    return {a: factories.token_for(f"{a}.integration") for a in ("hha", "cchc")}


def steward(agency: str = "hha"):
    return bearer(factories.token_for(f"{agency}.data_steward"))


def second_pair(client, feeds):
    """A pair whose sides hold more records: Tomas Berg twice at hha (one client), then
    Tobias Berg at cchc, same birth date and address: in doubt."""
    tomas = copy.deepcopy(MARIA)
    tomas["person"].update(given_name="Tomas", family_name="Berg", birth_date="1950-07-30")
    tomas["person"]["ssn"] = None
    tomas["person"]["address"] = {"street_number": "9", "street": "Elm St", "postcode": "94601"}
    tomas["person"]["phone"] = "510-555-0199"
    put(client, feeds["hha"], tomas, srid="H-10")
    put(client, feeds["hha"], tomas | {"category": "housing"}, srid="H-11")
    tobias = copy.deepcopy(tomas) | {"category": "health", "data": {}}
    tobias["person"].update(given_name="Tobias", phone=None)
    return put(client, feeds["cchc"], tobias, agency="cchc", srid="C-10").get_json()


def test_the_pair_that_changes_most_comes_first_with_its_agreement(client, feeds):
    put_uncertain_pair(client, feeds)
    second_pair(client, feeds)
    answer = client.get("/api/v1/linkage/review/ranked", headers=steward())
    assert answer.status_code == 200, answer.get_json()
    items = answer.get_json()
    assert len(items) == 2
    first = items[0]
    assert first["rank"] == 1 and first["candidate"]["person"]["family_name"] == "Berg"
    assert first["agreement"]["family"] == "exact"
    assert first["agreement"]["given"] in {"typo", "similar", "disagree"}
    assert first["agreement"]["ssn"] is None  # missing on a side
    assert set(first["agreement"]) >= {"birth_date", "street", "city", "phone", "email"}
    assert "size" not in first and "impact" not in str(first)


def test_the_queue_size_counts_only_the_steward_s_pairs(client, feeds, world):
    put_uncertain_pair(client, feeds)
    assert client.get("/api/v1/linkage/review/size", headers=steward()).get_json() == {"open": 1}
    worker = bearer(factories.token_for("hha.case_worker"))
    assert client.get("/api/v1/linkage/review/size", headers=worker).status_code == 403


def test_a_batch_applies_each_decision_and_answers_each(client, feeds):
    put_uncertain_pair(client, feeds)
    second_pair(client, feeds)
    items = client.get("/api/v1/linkage/review/ranked", headers=steward()).get_json()
    body = {
        "decisions": [
            {"item_id": items[0]["id"], "decision": "keep_apart"},
            {"item_id": items[1]["id"], "decision": "link"},
            {"item_id": items[1]["id"], "decision": "link"},  # decided already
            {"item_id": 999_999, "decision": "link"},  # unknown
        ]
    }
    answer = client.post("/api/v1/linkage/review/decisions", json=body, headers=steward())
    assert answer.status_code == 200, answer.get_json()
    results = answer.get_json()
    assert [r["status"] for r in results] == [200, 200, 409, 404]
    assert results[0]["outcome"] == "kept_apart" and results[1]["outcome"] == "linked"
    assert "link_event" in results[1]
    assert client.get("/api/v1/linkage/review/size", headers=steward()).get_json() == {"open": 0}
    assert factories.events("linkage.keep_apart") and factories.events("linkage.link")


def test_a_batch_names_the_bad_field(client, feeds):
    body = {"decisions": [{"item_id": 1, "decision": "merge"}]}
    answer = client.post("/api/v1/linkage/review/decisions", json=body, headers=steward())
    assert answer.status_code == 422
    assert "decision" in str(answer.get_json())


def test_agreement_levels_carry_no_values():
    levels = review.agreement(MARIA["person"], MARIA["person"] | {"given_name": "Marie"})
    assert levels["given"] == "typo" and levels["family"] == "exact"
    assert all(v in {None, "exact", "typo"} for v in levels.values())
