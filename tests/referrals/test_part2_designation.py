"""A treatment referral under the single TPO consent of 42 CFR Part 2 as amended in 2024
(issue 23 with issue 17): "the accepted referral is the relationship that opens it".

rrp (a Part 2 program) refers Maria to cchc for treatment under a consent designating
"participants with a treating provider relationship with me" through caseops. The gate
accepts it only for a treating provider and a TPO purpose; once cchc accepts, its worker
reads rrp's record through the referral; when the referral ends, so does the disclosure."""

from __future__ import annotations

from tests import factories
from tests.fixtures.access import join_care_team, sections, view
from tests.fixtures.consents import tpo_permit
from tests.fixtures.records import bearer
from tests.fixtures.referrals import assign, move, refer, referral_id_of

RRP = ("rrp", "substance_use")


def _setup(client, maria, *, treating: bool = True) -> None:
    response = client.put(
        "/api/v1/agencies/cchc/facts",
        json={"reason": "Licensed clinic.", "treating_provider": treating},
        headers=bearer(factories.token_for("hha.system_admin")),
    )
    assert response.status_code == 200, response.get_json()
    recorded = client.post(
        f"/api/v1/clients/{maria}/consents",
        json=tpo_permit(),
        headers=bearer(factories.token_for("rrp.consent_officer")),
    )
    assert recorded.status_code == 201, recorded.get_json()
    assert join_care_team(client, "rrp.case_worker", maria).status_code == 201


def _refer(client, maria, purpose="treatment"):
    return refer(
        client,
        maria,
        by="rrp.case_worker",
        to="cchc",
        service="substance_use_treatment",
        shared=("substance_use",),
        purpose=purpose,
    )


def test_an_accepted_treatment_referral_opens_the_designation_and_its_end_closes_it(client, maria):
    _setup(client, maria)
    referral_id = referral_id_of(_refer(client, maria))
    # sent, not yet accepted: no relationship, nothing shown
    assert RRP not in sections(view(client, "cchc.case_worker", maria, "treatment")) or (
        sections(view(client, "cchc.case_worker", maria, "treatment"))[RRP]["status"] == "withheld"
    )
    assert assign(client, referral_id, "cchc.case_worker").status_code == 200
    assert move(client, referral_id, "cchc.case_worker", "accepted").status_code == 200
    shown = sections(view(client, "cchc.case_worker", maria, "treatment"))[RRP]
    assert shown["status"] == "shown" and shown["relationship"] == "referral"
    done = move(client, referral_id, "cchc.case_worker", "completed", outcome="Intake done")
    assert done.status_code == 200
    assert RRP not in sections(view(client, "cchc.case_worker", maria, "treatment"))


def test_the_gate_refuses_a_designation_to_an_agency_that_is_not_a_treating_provider(client, maria):
    _setup(client, maria, treating=False)
    refused = _refer(client, maria)
    assert refused.status_code == 422
    details = refused.get_json()["error"]["details"]["shared_categories"]
    assert "substance_use from referral: part2_not_treating_provider" in details


def test_the_gate_refuses_a_designation_outside_treatment_payment_and_operations(client, maria):
    _setup(client, maria)
    refused = _refer(client, maria, purpose="care_coordination")
    assert refused.status_code == 422
    assert all(
        pair.startswith("substance_use from ")
        for pair in refused.get_json()["error"]["details"]["shared_categories"]
    )
