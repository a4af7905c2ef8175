"""POST /api/v1/simulate/view: what a user would see, from the live view's decision, for
privacy officers within their scope; never contents; every run logged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests import factories
from tests.fixtures.access import join_care_team, sections, view
from tests.fixtures.consents import consent_for, program_consent
from tests.fixtures.records import MARIA, bearer, put

PATH = "/api/v1/simulate/view"


def simulate(client, officer, username, client_id, purpose="care_coordination", **extra):
    body = {"username": username, "client_id": client_id, "purpose": purpose} | extra
    return client.post(PATH, json=body, headers=bearer(factories.token_for(officer)))


def by_key(response):
    return {(s["agency"], s["category"]): s for s in response.get_json()["sections"]}


def test_simulation_matches_the_live_view_and_names_rule_consent_relationship(client, maria):
    join_care_team(client, "hha.case_worker", maria)
    consent_id = consent_for(
        client,
        maria,
        by="cchc",
        source_agencies=["cchc"],
        categories=["health"],
        recipients=["hha"],
    )
    answer = simulate(client, "hha.privacy_officer", "hha.case_worker", maria)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["outcome"] == "view" and body["agency"] == "hha"
    got = by_key(answer)
    assert got[("hha", "housing")] == {
        "agency": "hha",
        "category": "housing",
        "would_show": True,
        "reason": None,
        "basis": "own_agency",
        "policy_rule": {
            "sub": "case_worker",
            "dom": "*",
            "obj": "record:*",
            "act": "read",
            "eft": "allow",
        },
        "consent_id": None,
        "relationship": "care_team",
        "referral_id": None,
        "agreement": None,  # own agency: no agreement is asked
    }
    assert got[("cchc", "health")]["would_show"] is True
    assert got[("cchc", "health")]["agreement"] == "waived"  # an upgraded installation
    assert got[("cchc", "health")]["consent_id"] == consent_id
    assert ("rrp", "substance_use") not in got  # Part 2, not named: hidden as in the view
    live = sections(view(client, "hha.case_worker", maria))
    assert {k: s["status"] == "shown" for k, s in live.items()} == {
        k: s["would_show"] for k, s in got.items()
    }
    # never contents
    text = answer.get_data(as_text=True)
    assert "sheltered" not in text and "asthma" not in text and "Lopez" not in text


def test_withheld_sections_carry_the_views_reasons(client, maria):
    got = by_key(simulate(client, "hha.privacy_officer", "hha.case_worker", maria))
    live = sections(view(client, "hha.case_worker", maria))
    assert got[("hha", "housing")]["reason"] == live[("hha", "housing")]["reason"]
    assert got[("hha", "housing")]["reason"] == "no_relationship"
    assert got[("cchc", "health")]["reason"] == live[("cchc", "health")]["reason"] == "no_consent"


def test_policy_denial_names_no_rule_and_a_non_reader_is_refused(client, maria):
    body = simulate(client, "hha.privacy_officer", "hha.consent_officer", maria).get_json()
    assert body["outcome"] == "refused" and body["sections"] == []
    live = view(client, "hha.consent_officer", maria)
    assert live.status_code == 403


def test_an_agency_scoped_officer_simulates_only_their_agencys_users(client, maria):
    other = simulate(client, "hha.privacy_officer", "cchc.case_worker", maria)
    unknown = simulate(client, "hha.privacy_officer", "nobody.at.all", maria)
    assert other.status_code == unknown.status_code == 404
    assert other.get_json()["error"]["code"] == unknown.get_json()["error"]["code"]
    assert "cchc" not in other.get_data(as_text=True).replace("cchc.case_worker", "")
    assert simulate(client, "cchc.privacy_officer", "cchc.case_worker", maria).status_code == 200


def test_a_client_hidden_from_the_officer_answers_as_an_unknown_id(client, world):
    factories.make_user("rrp.integration", "rrp", ["integration"])
    hidden = put(
        client,
        factories.token_for("rrp.integration"),
        MARIA | {"category": "substance_use", "data": {"program": "outpatient"}},
        agency="rrp",
        srid="R-9",
    ).get_json()["client_id"]
    known = simulate(client, "hha.privacy_officer", "hha.case_worker", hidden)
    unknown = simulate(client, "hha.privacy_officer", "hha.case_worker", "no-such-client")
    assert known.status_code == unknown.status_code == 404
    assert known.get_json()["error"]["code"] == unknown.get_json()["error"]["code"]


def test_part2_listed_to_the_worker_but_not_shown_stays_hidden_from_an_agency_officer(
    client, maria
):
    """A Part 2 consent naming hha lists rrp's section to hha's worker (withheld: no care
    team); hha's own officer is not told of it, as their log view is not; an
    organisation-wide officer is."""
    program_consent(client, maria, to="hha", purposes=["treatment"])
    live = sections(view(client, "hha.case_worker", maria, "treatment"))
    assert live[("rrp", "substance_use")]["status"] == "withheld"
    scoped = by_key(simulate(client, "hha.privacy_officer", "hha.case_worker", maria, "treatment"))
    assert ("rrp", "substance_use") not in scoped
    factories.make_user("ops.privacy_officer", "ops", ["privacy_officer"])
    factories.grant_organisation_scope("privacy_officer", "ops", "audit")
    wide = by_key(simulate(client, "ops.privacy_officer", "hha.case_worker", maria, "treatment"))
    assert wide[("rrp", "substance_use")]["reason"] == live[("rrp", "substance_use")]["reason"]


@pytest.mark.parametrize("role", ["case_worker", "system_admin", "consent_officer"])
def test_only_privacy_officers_simulate_and_refusals_are_logged(client, maria, role):
    answer = simulate(client, f"hha.{role}", "hha.case_worker", maria)
    assert answer.status_code == 403
    [entry] = factories.events("simulation.view")
    assert entry.outcome == "denied" and entry.actor == f"hha.{role}"


def test_every_simulation_is_logged_without_contents(client, maria):
    join_care_team(client, "hha.case_worker", maria)
    simulate(client, "hha.privacy_officer", "hha.case_worker", maria, "treatment")
    [entry] = factories.events("simulation.view")
    assert entry.actor == "hha.privacy_officer" and entry.outcome == "success"
    assert entry.client_id == maria and entry.purpose == "treatment"
    assert entry.detail["simulated_user"] == "hha.case_worker"
    assert entry.detail["would_show"] == ["hha/housing"]
    assert entry.detail["withheld"] == {"cchc/health": "no_consent"}
    assert not factories.events("client.view")  # a simulation is not a view


def test_at_decides_with_consents_and_care_team_as_of_then(client, maria):
    before_join = datetime.now(UTC)
    join_care_team(client, "hha.case_worker", maria)
    consent_id = consent_for(
        client,
        maria,
        by="cchc",
        source_agencies=["cchc"],
        categories=["health"],
        recipients=["hha"],
    )
    before_revocation = datetime.now(UTC)
    client.post(
        f"/api/v1/consents/{consent_id}/revoke",
        json={"reason": "client asked"},
        headers=bearer(factories.token_for("cchc.consent_officer")),
    )
    now = by_key(simulate(client, "hha.privacy_officer", "hha.case_worker", maria))
    assert now[("cchc", "health")]["reason"] == "consent_revoked"
    then = by_key(
        simulate(
            client,
            "hha.privacy_officer",
            "hha.case_worker",
            maria,
            at=before_revocation.isoformat(),
        )
    )
    assert then[("cchc", "health")]["would_show"] is True
    assert then[("cchc", "health")]["consent_id"] == consent_id
    earlier = by_key(
        simulate(
            client,
            "hha.privacy_officer",
            "hha.case_worker",
            maria,
            at=(before_join - timedelta(milliseconds=1)).isoformat(),
        )
    )
    assert earlier[("hha", "housing")]["reason"] == "no_relationship"  # not yet on the team
    [*_, entry] = factories.events("simulation.view")
    assert entry.detail["at"].startswith((before_join - timedelta(milliseconds=1)).isoformat()[:19])


def test_bad_input_names_the_field(client, maria):
    token = factories.token_for("hha.privacy_officer")
    answer = client.post(
        PATH,
        json={
            "username": "hha.case_worker",
            "client_id": maria,
            "purpose": "curiosity",
            "at": "2026-01-01T00:00:00",
        },
        headers=bearer(token),
    )
    assert answer.status_code == 422
    details = str(answer.get_json()["error"]["details"])
    assert "purpose" in details and "at" in details
