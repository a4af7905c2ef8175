"""GET /api/v1/me/caseload: whom a worker works with, named as search names them, marked
when what *they* may see changed since their last view, and logged once per listing."""

from __future__ import annotations

import copy

import pytest

from tests import factories
from tests.fixtures.access import join_care_team, view
from tests.fixtures.consents import consent_for
from tests.fixtures.records import MARIA, bearer, put
from tests.fixtures.referrals import accepted_referral

CASELOAD = "/api/v1/me/caseload"


@pytest.fixture
def maria(maria_at_three_agencies):
    """Maria: housing at hha, health at cchc, substance use at rrp (Part 2)."""
    return maria_at_three_agencies


def caseload(client, username, **query):
    response = client.get(
        CASELOAD, query_string=query, headers=bearer(factories.token_for(username))
    )
    assert response.status_code == 200, response.get_json()
    return {e["client_id"]: e for e in response.get_json()["clients"]}


def rewrite(client, agency, srid, category, data, version):
    """The agency's system sends a new version of its record of Maria."""
    body = copy.deepcopy(MARIA) | {"category": category, "data": data, "source_version": version}
    feed = factories.token_for(f"{agency}.integration")
    response = put(client, feed, body, agency=agency, srid=srid)
    assert response.status_code in (200, 201), response.get_json()


def test_care_team_client_listed_with_minimal_demographics(client, maria):
    assert caseload(client, "cchc.case_worker") == {}
    join_care_team(client, "cchc.case_worker", maria)
    entry = caseload(client, "cchc.case_worker")[maria]
    assert entry == {
        "client_id": maria,
        "name": "Maria Lopez",
        "birth_date": "1984-03-12",
        "relationship": "care_team",
        "changed_since_my_last_view": True,  # never viewed
        "last_viewed_at": None,
        "open_tasks": 0,
        "open_referrals": 0,
    }
    # a colleague not on the care team has no caseload
    factories.make_user("cchc.other", "cchc", ["case_worker"])
    assert caseload(client, "cchc.other") == {}


def test_changed_follows_what_this_worker_may_see(client, maria):
    join_care_team(client, "cchc.case_worker", maria)
    assert view(client, "cchc.case_worker", maria).status_code == 200
    assert caseload(client, "cchc.case_worker")[maria]["changed_since_my_last_view"] is False
    # hha's housing record is withheld from cchc (no consent): a new version marks nothing
    rewrite(client, "hha", "H-1", "housing", {"housing_status": "housed"}, 2)
    assert caseload(client, "cchc.case_worker")[maria]["changed_since_my_last_view"] is False
    # the Part 2 program's record is not even listed for cchc: nothing either
    rewrite(client, "rrp", "R-1", "substance_use", {"program": "residential"}, 2)
    assert caseload(client, "cchc.case_worker")[maria]["changed_since_my_last_view"] is False
    # cchc's own health record, shown to the worker, changed: marked
    rewrite(client, "cchc", "C-1", "health", {"conditions": ["asthma", "copd"]}, 2)
    assert caseload(client, "cchc.case_worker")[maria]["changed_since_my_last_view"] is True
    # looking again clears the mark
    view(client, "cchc.case_worker", maria)
    again = caseload(client, "cchc.case_worker")[maria]
    assert again["changed_since_my_last_view"] is False
    (last,) = [e for e in factories.events("client.view")][-1:]
    assert again["last_viewed_at"].startswith(last.occurred_at.isoformat()[:19])


def test_a_new_section_this_worker_may_see_marks(client, maria):
    join_care_team(client, "cchc.case_worker", maria)
    view(client, "cchc.case_worker", maria)
    # cchc's system sends a second record of Maria (a new section of cchc's own)
    rewrite(client, "cchc", "C-2", "economic_security", {"benefits": ["SNAP"]}, 1)
    assert caseload(client, "cchc.case_worker")[maria]["changed_since_my_last_view"] is True


def test_the_fingerprint_compared_is_the_one_the_view_logged(client, maria):
    join_care_team(client, "cchc.case_worker", maria)
    shown = view(client, "cchc.case_worker", maria).get_json()
    (logged,) = factories.events("client.view")
    assert logged.detail["fingerprint"] == shown["fingerprint"]


def test_accepted_referral_joins_the_assignee_and_supervisors_caseload(client, maria):
    join_care_team(client, "hha.case_worker", maria)
    consent_for(client, maria)  # hha's housing may go to cchc: the referral can be sent
    accepted_referral(client, maria)
    mine = caseload(client, "cchc.case_worker")[maria]
    assert mine["relationship"] == "referral"
    assert mine["open_referrals"] == 1
    assert mine["name"] == "Maria Lopez"
    assert maria in caseload(client, "cchc.supervisor")
    factories.make_user("cchc.other", "cchc", ["case_worker"])
    assert caseload(client, "cchc.other") == {}  # not assigned to them
    # the sender's worker counts the referral too (they sent it)
    assert caseload(client, "hha.case_worker")[maria]["open_referrals"] == 1


def test_agency_scope_lists_each_worker_and_is_for_supervisors(client, maria):
    join_care_team(client, "cchc.case_worker", maria)
    response = client.get(
        CASELOAD,
        query_string={"scope": "agency"},
        headers=bearer(factories.token_for("cchc.supervisor")),
    )
    assert response.status_code == 200, response.get_json()
    entries = response.get_json()["clients"]
    assert [(e["worker"], e["client_id"]) for e in entries] == [("cchc.case_worker", maria)]
    assert entries[0]["changed_since_my_last_view"] is None
    refused = client.get(
        CASELOAD,
        query_string={"scope": "agency"},
        headers=bearer(factories.token_for("cchc.case_worker")),
    )
    assert refused.status_code == 403
    # another agency's supervisor sees nothing of cchc's caseload
    other = client.get(
        CASELOAD,
        query_string={"scope": "agency"},
        headers=bearer(factories.token_for("hha.supervisor")),
    ).get_json()["clients"]
    assert other == []


def test_unknown_scope_is_a_clear_422(client, world):
    response = client.get(
        CASELOAD,
        query_string={"scope": "everyone"},
        headers=bearer(factories.token_for("cchc.case_worker")),
    )
    assert response.status_code == 422
    assert "scope" in str(response.get_json())


@pytest.mark.parametrize(
    "role", ["system_admin", "agency_admin", "privacy_officer", "consent_officer", "integration"]
)
def test_roles_without_a_caseload_are_refused_and_logged(client, world, role):
    response = client.get(CASELOAD, headers=bearer(factories.token_for(f"cchc.{role}")))
    assert response.status_code == 403
    (refusal,) = factories.events("desk.caseload")
    assert refusal.outcome == "denied"


def test_listing_is_logged_once_naming_the_clients_and_the_marks(client, maria):
    join_care_team(client, "cchc.case_worker", maria)
    caseload(client, "cchc.case_worker")
    (entry,) = factories.events("desk.caseload")
    assert entry.outcome == "success"
    assert entry.detail["result_client_ids"] == [maria]
    assert entry.detail["changed_client_ids"] == [maria]
    # the comparison ran the decision but logged no view of its own
    assert factories.events("client.view") == []
    assert factories.events("client.view_check") == []
