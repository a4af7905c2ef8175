"""The consented client view through HTTP: sections, reasons, Part 2, care team,
break-the-glass, the log entry, and failing closed."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from tests import factories
from tests.fixtures.access import join_care_team, sections, view
from tests.fixtures.consents import consent_for
from tests.fixtures.records import MARIA, bearer, put

NOW = datetime.now(UTC)


@pytest.fixture
def maria(maria_at_three_agencies):
    """Maria: housing at hha, health at cchc, substance-use treatment at rrp (Part 2)."""
    return maria_at_three_agencies


def test_own_agency_sees_its_record_once_on_the_care_team(client, maria):
    before = sections(view(client, "cchc.case_worker", maria))
    assert before[("cchc", "health")] == {
        "agency": "cchc",
        "category": "health",
        "status": "withheld",
        "reason": "no_relationship",
    }
    assert join_care_team(client, "cchc.case_worker", maria).status_code == 201
    after = sections(view(client, "cchc.case_worker", maria))
    assert after[("cchc", "health")]["status"] == "shown"
    assert after[("cchc", "health")]["data"]["conditions"] == ["asthma"]
    assert after[("hha", "housing")] == {
        "agency": "hha",
        "category": "housing",
        "status": "withheld",
        "reason": "no_consent",
    }
    assert ("rrp", "substance_use") not in after  # Part 2: not even listed


def test_consent_releases_the_named_section_and_revocation_withdraws_it(client, maria):
    join_care_team(client, "cchc.case_worker", maria)
    consent_id = consent_for(client, maria)
    shown = sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]
    assert shown["status"] == "shown" and shown["basis"] == "consent"
    assert shown["data"]["housing_status"] == "sheltered"
    officer = factories.token_for("cchc.consent_officer")
    client.post(
        f"/api/v1/consents/{consent_id}/revoke",
        json={"reason": "client asked"},
        headers=bearer(officer),
    )
    after = sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]
    assert after == {
        "agency": "hha",
        "category": "housing",
        "status": "withheld",
        "reason": "consent_revoked",
    }


def test_part2_needs_a_consent_naming_the_recipient_and_carries_the_notice(client, maria):
    join_care_team(client, "cchc.case_worker", maria)
    consent_for(
        client,
        maria,
        source_agencies=["rrp"],
        categories=["substance_use"],
        recipients=["cchc"],
        purposes=["care_coordination"],
    )
    part2 = sections(view(client, "cchc.case_worker", maria))[("rrp", "substance_use")]
    assert part2["status"] == "shown"
    assert "42 CFR part 2" in part2["notice"]
    assert part2["data"]["substances"] == ["opioids"]
    # hha is not named: it does not learn that the record exists.
    join_care_team(client, "hha.case_worker", maria)
    assert ("rrp", "substance_use") not in sections(view(client, "hha.case_worker", maria))


@pytest.mark.parametrize(
    "role",
    [
        "system_admin",
        "agency_admin",
        "privacy_officer",
        "consent_officer",
        "data_steward",
        "integration",
    ],
)
def test_roles_that_read_no_records_get_403_and_learn_nothing(client, maria, role):
    response = view(client, f"cchc.{role}", maria)
    assert response.status_code == 403
    assert "housing" not in response.get_data(as_text=True)


def test_every_view_is_logged_with_requested_disclosed_reasons_and_consents(client, maria):
    join_care_team(client, "cchc.case_worker", maria)
    consent_id = consent_for(client, maria)
    view(client, "cchc.case_worker", maria, purpose="treatment")
    view(client, "cchc.case_worker", maria)
    events = factories.events("client.view")
    assert len(events) == 2
    first, second = events
    assert first.purpose == "treatment" and first.outcome == "success"
    assert first.detail["disclosed"] == ["cchc/health"]  # the consent names care_coordination
    assert first.detail["reasons"]["hha/housing"] == "no_consent"
    assert first.detail["reasons"]["rrp/substance_use"] == "no_consent"
    assert second.detail["disclosed"] == ["cchc/health", "hha/housing"]
    assert second.detail["consent_ids"] == [consent_id]
    assert isinstance(second.detail["policy_version"], int)


def test_care_team_membership_ends(client, maria, app):
    until = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    assert join_care_team(client, "cchc.case_worker", maria, until=until).status_code == 201
    from sqlalchemy import update

    from caseops.access.models import CareTeamMember
    from caseops.extensions import db

    db.session.execute(
        update(CareTeamMember).values(ends_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    db.session.commit()
    health = sections(view(client, "cchc.case_worker", maria))[("cchc", "health")]
    assert health["reason"] == "no_relationship"


def test_care_team_needs_a_record_of_the_client_a_consent_naming_the_agency_is_not_enough(
    client, maria
):
    """DESIGN.md: an agency holding no record of the client gains need-to-know only through
    an accepted referral or break-the-glass; before referrals, being named by a consent
    let it join the care team (``consent_recipient``), and that path is gone."""
    factories.make_agency("cws", name="County Child Welfare")
    factories.make_user("cws.case_worker", "cws", ["case_worker"])
    response = join_care_team(client, "cws.case_worker", maria)
    assert response.status_code == 403
    consent_for(client, maria, recipients=["cws"])
    refused = join_care_team(client, "cws.case_worker", maria)
    assert refused.status_code == 403
    assert "referral" in refused.get_json()["error"]["message"]
    # an agency that holds a record still may
    assert join_care_team(client, "cchc.case_worker", maria).status_code == 201


def test_break_the_glass_opens_non_part2_sections_and_is_flagged(client, maria):
    token = factories.token_for("hha.case_worker")
    short = client.post(
        f"/api/v1/clients/{maria}/break-glass", json={"justification": "now"}, headers=bearer(token)
    )
    assert short.status_code == 422
    assert "justification" in short.get_json()["error"]["details"]
    response = client.post(
        f"/api/v1/clients/{maria}/break-glass",
        json={"justification": "Client unconscious in ER, need medication history"},
        headers=bearer(token),
    )
    assert response.status_code == 201
    view_after = sections(client.get(f"/api/v1/clients/{maria}/record", headers=bearer(token)))
    assert view_after[("cchc", "health")]["basis"] == "break_glass"
    assert view_after[("hha", "housing")]["status"] == "shown"
    assert ("rrp", "substance_use") not in view_after  # still needs consent (no 2.51 rule)
    [event] = factories.events("client.break_glass")
    assert event.detail["review_required"] is True
    [logged_view] = factories.events("client.view")
    assert logged_view.detail["break_glass_grant"] is not None


def test_part2_medical_emergency_is_a_separate_explicit_rule(client, maria):
    admin = factories.token_for("hha.system_admin")
    rule = {
        "sub": "case_worker",
        "dom": "*",
        "obj": "record:substance_use",
        "act": "break_glass_part2",
        "eft": "allow",
    }
    assert client.post("/api/v1/policies", json=rule, headers=bearer(admin)).status_code == 201
    token = factories.token_for("hha.case_worker")
    client.post(
        f"/api/v1/clients/{maria}/break-glass",
        json={"justification": "Overdose suspected, unresponsive, need treatment info"},
        headers=bearer(token),
    )
    part2 = sections(client.get(f"/api/v1/clients/{maria}/record", headers=bearer(token)))[
        ("rrp", "substance_use")
    ]
    assert part2["basis"] == "break_glass_part2" and "42 CFR part 2" in part2["notice"]


@pytest.mark.parametrize("role", ["consent_officer", "privacy_officer", "system_admin"])
def test_break_the_glass_only_for_roles_the_policy_allows(client, maria, role):
    token = factories.token_for(f"hha.{role}")
    response = client.post(
        f"/api/v1/clients/{maria}/break-glass",
        json={"justification": "Emergency, client unconscious in ER"},
        headers=bearer(token),
    )
    assert response.status_code == 403


def test_view_fails_closed_when_the_log_cannot_be_written(client, maria, database_url):
    join_care_team(client, "cchc.case_worker", maria)
    token = factories.token_for("cchc.case_worker")
    engine = create_engine(database_url)
    with engine.begin() as connection:
        if database_url.startswith("sqlite"):
            connection.execute(
                text(
                    "CREATE TRIGGER break_log BEFORE INSERT ON access_events "
                    "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION break_log() RETURNS trigger LANGUAGE plpgsql "
                    "AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER break_log BEFORE INSERT ON access_events "
                    "FOR EACH ROW EXECUTE FUNCTION break_log()"
                )
            )
    engine.dispose()
    response = client.get(f"/api/v1/clients/{maria}/record", headers=bearer(token))
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert "asthma" not in body and "inhaler" not in body and "health" not in body


def test_unknown_purpose_and_unknown_client(client, maria):
    assert view(client, "cchc.case_worker", maria, purpose="curiosity").status_code == 422
    assert view(client, "cchc.case_worker", "0" * 32).status_code == 404


def fingerprint(client, username, client_id):
    token = factories.token_for(username)
    response = client.get(f"/api/v1/clients/{client_id}/record/fingerprint", headers=bearer(token))
    assert response.status_code == 200
    return response.get_json()["fingerprint"]


def test_fingerprint_changes_only_with_what_the_worker_can_see(client, maria):
    consent_for(client, maria)
    join_care_team(client, "cchc.case_worker", maria)
    first = fingerprint(client, "cchc.case_worker", maria)
    assert fingerprint(client, "cchc.case_worker", maria) == first
    rrp = factories.token_for("rrp.integration")
    changed = copy.deepcopy(MARIA) | {
        "category": "substance_use",
        "source_version": 2,
        "data": {"program": "residential"},
    }
    assert put(client, rrp, changed, agency="rrp", srid="R-1").status_code == 200
    assert fingerprint(client, "cchc.case_worker", maria) == first  # hidden Part 2 change
    hha = factories.token_for("hha.integration")
    newer = copy.deepcopy(MARIA) | {"source_version": 2}
    newer["data"]["housing_status"] = "housed"
    put(client, hha, newer, srid="H-1")
    assert fingerprint(client, "cchc.case_worker", maria) != first
    assert len(factories.events("client.view_check")) == 4
