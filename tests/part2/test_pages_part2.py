"""The consent officer's home shows the patient's written request for the 2.24 list with
its due date; the printable list is one click away and answers the request."""

from __future__ import annotations

from datetime import date, timedelta

from tests import factories
from tests.fixtures.access import join_care_team, view
from tests.fixtures.records import bearer

TPO_CLASS = "my treating providers, health plans, third-party payers, and people helping"


def test_the_request_waits_on_the_home_page_until_the_printable_list_answers_it(
    client, maria_at_three_agencies
):
    maria = maria_at_three_agencies
    admin = bearer(factories.token_for("hha.system_admin"))
    client.put(
        "/api/v1/agencies/cchc/facts",
        json={"treating_provider": True, "reason": "A clinic."},
        headers=admin,
    )
    officer = factories.make_user("rrp.officer", "rrp", ["consent_officer"])
    token = bearer(factories.token_for("rrp.officer"))
    response = client.post(
        f"/api/v1/clients/{maria}/consents",
        json={
            "provision": "permit",
            "source_agencies": ["rrp"],
            "categories": ["substance_use"],
            "recipients": [],
            "purposes": ["treatment"],
            "effective_from": "2026-02-20T00:00:00Z",
            "expiry_event": "end of treatment",
            "grantor": {"kind": "self", "name": "Maria Lopez"},
            "signed_at": "2026-02-20T00:00:00Z",
            "evidence": {"method": "written"},
            "revocation_right_acknowledged": True,
            "intermediary": "caseops",
            "general_designation": "treating_provider_relationship",
            "recipient_description": TPO_CLASS,
            "hipaa_redisclosure_statement": True,
        },
        headers=token,
    )
    assert response.status_code == 201, response.get_json()
    join_care_team(client, "cchc.case_worker", maria)
    view(client, "cchc.case_worker", maria, "treatment")
    received = date.today() - timedelta(days=5)
    client.post(
        f"/api/v1/clients/{maria}/part2-list-requests",
        json={"received_on": received.isoformat()},
        headers=token,
    )

    factories.login(client, officer)
    home = client.get("/").get_data(as_text=True)
    due = (received + timedelta(days=30)).isoformat()
    assert "Requests for the list of disclosures (42 CFR 2.24)" in home
    assert f"due {due}" in home and "25 days left" in home

    page = client.get(f"/clients/{maria}/part2-list")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'data-testid="part2-disclosure"' in text
    assert "Community Health Center (cchc)" in text
    assert "substance use disorder treatment record from" in text
    assert f"Answer due by {due}" in text
    # answered: no longer waiting on the home page
    assert "Requests for the list of disclosures" not in client.get("/").get_data(as_text=True)


def test_the_part2_programs_see_the_agency_facts_and_their_changes(client, maria_at_three_agencies):
    client.put(
        "/api/v1/agencies/cchc/facts",
        json={"treating_provider": True, "reason": "Licensed clinic."},
        headers=bearer(factories.token_for("hha.system_admin")),
    )
    officer = factories.make_user("rrp.officer", "rrp", ["consent_officer"])
    factories.login(client, officer)
    assert 'data-testid="agency-facts-link"' in client.get("/").get_data(as_text=True)
    page = client.get("/agencies/facts").get_data(as_text=True)
    assert "Community Health Center (cchc)" in page
    assert "treating provider" in page and "Licensed clinic." in page and "hha.system_admin" in page


def test_other_agencies_are_refused_the_facts_page(app, client, world):
    factories.login(client, world["hha.case_worker"])
    assert 'data-testid="agency-facts-link"' not in client.get("/").get_data(as_text=True)
    assert client.get("/agencies/facts").status_code == 403
