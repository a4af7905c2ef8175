"""POST /api/v1/policies/impact: the logged views replayed under today's policy and a
draft; counts by agency x category (examples for privacy officers only); the live policy
is never touched; every run logged."""

from __future__ import annotations

from sqlalchemy import select

from caseops.authz.models import CasbinRule
from caseops.extensions import db
from tests import factories
from tests.fixtures.access import join_care_team, view
from tests.fixtures.consents import consent_for, program_consent
from tests.fixtures.records import bearer

PATH = "/api/v1/policies/impact"
CASE_WORKER_READS = {
    "sub": "case_worker",
    "dom": "*",
    "obj": "record:*",
    "act": "read",
    "eft": "allow",
}


def impact(client, who, **body):
    return client.post(PATH, json=body, headers=bearer(factories.token_for(who)))


def p_rules():
    db.session.expire_all()
    return sorted(
        tuple(r.values())
        for r in db.session.scalars(select(CasbinRule).where(CasbinRule.ptype == "p"))
    )


def seeded(client, maria):
    """One hha worker's view (housing own, health by consent, rrp hidden) and one cchc
    worker's view (nothing: no relationship), both logged."""
    join_care_team(client, "hha.case_worker", maria)
    consent_for(
        client,
        maria,
        by="cchc",
        source_agencies=["cchc"],
        categories=["health"],
        recipients=["hha"],
    )
    assert view(client, "hha.case_worker", maria).status_code == 200
    assert view(client, "hha.case_worker", maria).status_code == 200  # the same triple
    assert view(client, "cchc.case_worker", maria).status_code == 200


def test_removing_a_rule_newly_withholds_exactly_the_shown_cells(client, maria):
    seeded(client, maria)
    before = p_rules()
    answer = impact(client, "hha.privacy_officer", remove=[CASE_WORKER_READS])
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["newly_withheld"] == [
        {"agency": "cchc", "category": "health", "count": 1},
        {"agency": "hha", "category": "housing", "count": 1},
    ]
    assert body["newly_shown"] == []
    assert body["views_found"] == 2 and body["views_replayed"] == 2
    assert body["truncated"] is False and body["limit"] >= 2
    assert {(e["agency"], e["category"], e["change"]) for e in body["examples"]} == {
        ("cchc", "health", "newly_withheld"),
        ("hha", "housing", "newly_withheld"),
    }
    assert {e["reason_after"] for e in body["examples"]} == {"policy"}
    assert p_rules() == before  # the live policy is untouched
    assert view(client, "hha.case_worker", maria).get_json()["sections"][0]["status"] == "shown"


def test_adding_a_deny_withholds_one_cell_and_unknown_removals_are_reported(client, maria):
    seeded(client, maria)
    deny = {
        "sub": "case_worker",
        "dom": "hha",
        "obj": "record:health",
        "act": "read",
        "eft": "deny",
    }
    missing = {"sub": "supervisor", "dom": "hha", "obj": "record:x", "act": "read"}
    body = impact(client, "hha.privacy_officer", add=[deny], remove=[missing]).get_json()
    assert body["newly_withheld"] == [{"agency": "cchc", "category": "health", "count": 1}]
    assert body["ignored"]["remove"] == [missing | {"eft": "allow"}]
    [example] = body["examples"]
    assert example["rule_after"] == deny and example["username"] == "hha.case_worker"


def test_an_agency_scoped_officer_counts_only_what_they_oversee(client, maria):
    """cchc's officer oversees hha's worker's view of a client cchc holds records of, but
    only its own records' sections in it."""
    seeded(client, maria)
    body = impact(client, "cchc.privacy_officer", remove=[CASE_WORKER_READS]).get_json()
    assert body["newly_withheld"] == [{"agency": "cchc", "category": "health", "count": 1}]
    assert {e["agency"] for e in body["examples"]} == {"cchc"}


def test_a_system_administrator_gets_counts_only(client, maria):
    seeded(client, maria)
    answer = impact(client, "hha.system_admin", remove=[CASE_WORKER_READS])
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["counts_only"] is True and "examples" not in body
    assert maria not in answer.get_data(as_text=True)
    assert "hha.case_worker" not in answer.get_data(as_text=True)
    assert sum(c["count"] for c in body["newly_withheld"]) == 2


def test_other_roles_are_refused_and_everything_is_logged(client, maria):
    seeded(client, maria)
    assert impact(client, "hha.case_worker", remove=[CASE_WORKER_READS]).status_code == 403
    impact(client, "hha.privacy_officer", remove=[CASE_WORKER_READS])
    denied, done = factories.events("policy.impact")
    assert denied.outcome == "denied" and denied.actor == "hha.case_worker"
    assert done.actor == "hha.privacy_officer" and done.outcome == "success"
    assert done.detail["remove"] == [CASE_WORKER_READS]
    assert done.detail["newly_withheld"] == 2 and done.detail["views_replayed"] == 2
    # replays write no view entries of their own
    assert len(factories.events("client.view")) == 3


def test_since_bounds_the_window_and_bad_rules_name_the_field(client, maria):
    seeded(client, maria)
    body = impact(
        client, "hha.privacy_officer", remove=[CASE_WORKER_READS], since="2999-01-01T00:00:00Z"
    ).get_json()
    assert body["views_found"] == 0 and body["newly_withheld"] == []
    bad = impact(
        client,
        "hha.privacy_officer",
        add=[{"sub": "wizard", "dom": "*", "obj": "a,b", "act": "read"}],
    )
    assert bad.status_code == 422
    details = str(bad.get_json()["error"]["details"])
    assert "sub" in details and "obj" in details


def test_the_replay_is_bounded_and_says_so(client, maria, monkeypatch):
    from caseops.simulation import service

    seeded(client, maria)
    monkeypatch.setattr(service, "MAX_REPLAY", 1)
    body = impact(client, "hha.privacy_officer", remove=[CASE_WORKER_READS]).get_json()
    assert body["limit"] == 1 and body["truncated"] is True
    assert body["views_found"] == 1 and body["views_replayed"] == 1
    # newest first: cchc's worker viewed last, and saw nothing either way
    assert body["newly_withheld"] == []


def test_a_part2_section_counts_only_for_officers_who_may_know_of_it(client, maria):
    """hha's worker was shown rrp's Part 2 record under a consent naming hha: hha's officer
    sees the draft withhold it; cchc's officer (in scope: cchc holds Maria's records) does
    not learn of it."""
    join_care_team(client, "hha.case_worker", maria)
    program_consent(client, maria, to="hha", purposes=["treatment"])
    assert view(client, "hha.case_worker", maria, "treatment").status_code == 200
    deny = {
        "sub": "case_worker",
        "dom": "*",
        "obj": "record:substance_use",
        "act": "read",
        "eft": "deny",
    }
    hha = impact(client, "hha.privacy_officer", add=[deny]).get_json()
    assert hha["newly_withheld"] == [{"agency": "rrp", "category": "substance_use", "count": 1}]
    cchc = impact(client, "cchc.privacy_officer", add=[deny]).get_json()
    assert cchc["views_replayed"] == 1 and cchc["newly_withheld"] == []
    assert "rrp" not in str(cchc["examples"])
