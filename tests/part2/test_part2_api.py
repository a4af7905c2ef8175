"""42 CFR Part 2 as amended in 2024 through HTTP: agency facts set by system administrators
(logged, shown to the Part 2 programs), the single TPO consent under the general
designation through the intermediary, decided on every request, and the 2.24 list."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from caseops.audit.keys import log_key
from caseops.audit.merkle import leaf_hash, verify_inclusion
from caseops.audit.models import AccessEvent
from caseops.audit.seal import seal_once
from caseops.extensions import db
from tests import factories
from tests.fixtures.access import join_care_team, sections, view
from tests.fixtures.consents import TPO_CLASS, tpo_permit
from tests.fixtures.independent_statement import leaf_bytes_from_export_line
from tests.fixtures.records import bearer

NOW = datetime.now(UTC)


def tpo_body(**changes):
    return tpo_permit(**changes)


def as_(username):
    return bearer(factories.token_for(username))


def set_facts(client, code, by="hha.system_admin", **facts):
    return client.put(
        f"/api/v1/agencies/{code}/facts",
        json={"reason": "Checked the agency's licence.", **facts},
        headers=as_(by),
    )


def record_tpo(client, maria, **changes):
    response = client.post(
        f"/api/v1/clients/{maria}/consents",
        json=tpo_body(**changes),
        headers=as_("rrp.consent_officer"),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def maria(maria_at_three_agencies):
    """Maria: housing at hha, health at cchc, substance-use treatment at rrp (Part 2)."""
    return maria_at_three_agencies


@pytest.fixture
def designated(client, maria):
    """cchc is a treating provider; rrp recorded Maria's single TPO consent."""
    assert set_facts(client, "cchc", treating_provider=True).status_code == 200
    return record_tpo(client, maria)


# --- agency facts ----------------------------------------------------------------------------


def test_only_system_administrators_set_agency_facts_and_each_change_is_logged(client, maria):
    for username in ("cchc.agency_admin", "cchc.consent_officer", "rrp.consent_officer"):
        assert set_facts(client, "cchc", by=username, treating_provider=True).status_code == 403
    response = set_facts(client, "cchc", treating_provider=True, covered_entity=True)
    assert response.status_code == 200
    body = response.get_json()
    assert body["treating_provider"] and body["covered_entity"] and not body["part2_program"]
    assert {(c["fact"], c["before"], c["after"]) for c in body["changes"]} == {
        ("treating_provider", False, True),
        ("covered_entity", False, True),
    }
    # the same again changes nothing
    assert set_facts(client, "cchc", treating_provider=True).get_json()["changes"] == []
    assert set_facts(client, "nope", treating_provider=True).status_code == 404
    missing_reason = client.put(
        "/api/v1/agencies/cchc/facts",
        json={"covered_entity": False},
        headers=as_("hha.system_admin"),
    )
    assert (
        missing_reason.status_code == 422
        and "reason" in missing_reason.get_json()["error"]["details"]
    )
    entry = db.session.scalar(
        select(AccessEvent)
        .where(AccessEvent.action == "admin.agency_facts_changed")
        .order_by(AccessEvent.seq.desc())
    )
    assert entry.target_id == "cchc" and entry.actor == "hha.system_admin"
    assert {c["fact"] for c in entry.detail["changes"]} == {"treating_provider", "covered_entity"}


def test_the_part2_programs_see_every_change_of_agency_facts(client, maria):
    set_facts(client, "cchc", treating_provider=True)
    seen = client.get("/api/v1/agencies/fact-changes", headers=as_("rrp.consent_officer"))
    assert seen.status_code == 200
    # newest first; rrp's own Part 2 flag was recorded when the agency was created
    change, created = seen.get_json()["changes"]
    assert change["agency"] == "cchc" and change["fact"] == "treating_provider"
    assert (created["agency"], created["fact"], created["after"]) == ("rrp", "part2_program", True)
    assert change["changed_by"] == "hha.system_admin" and change["reason"]
    cchc = next(a for a in seen.get_json()["agencies"] if a["code"] == "cchc")
    assert cchc["treating_provider"] is True
    # not a Part 2 program, not an administrator: refused
    for username in ("cchc.consent_officer", "hha.case_worker", "rrp.case_worker"):
        assert client.get("/api/v1/agencies/fact-changes", headers=as_(username)).status_code == 403


# --- the designation, decided per request -------------------------------------------------


def test_a_treating_provider_on_the_care_team_sees_the_part2_record_for_treatment(
    client, maria, designated
):
    assert designated["general_designation"] == "treating_provider_relationship"
    assert designated["intermediary"] == "caseops" and designated["recipients"] == []
    assert join_care_team(client, "cchc.case_worker", maria).status_code == 201
    shown = sections(view(client, "cchc.case_worker", maria, "treatment"))[("rrp", "substance_use")]
    assert shown["status"] == "shown" and shown["basis"] == "consent"
    assert "42 CFR part 2" in shown["notice"]
    assert shown["data"]["substances"] == ["opioids"]
    entry = db.session.scalar(
        select(AccessEvent)
        .where(AccessEvent.action == "client.view", AccessEvent.actor == "cchc.case_worker")
        .order_by(AccessEvent.seq.desc())
    )
    assert entry.detail["designation"] == {"rrp/substance_use": designated["id"]}
    # other purposes: the single consent is for TPO only, and the section is not listed
    other = sections(view(client, "cchc.case_worker", maria, "care_coordination"))
    assert ("rrp", "substance_use") not in other


def test_withheld_from_an_agency_without_the_relationship_or_not_a_treating_provider(
    client, maria, designated
):
    # cchc is a treating provider, but its worker is not on the care team
    assert ("rrp", "substance_use") not in sections(
        view(client, "cchc.case_worker", maria, "treatment")
    )
    # hha's worker is on the care team, but hha is not a treating provider
    assert join_care_team(client, "hha.case_worker", maria).status_code == 201
    assert ("rrp", "substance_use") not in sections(
        view(client, "hha.case_worker", maria, "treatment")
    )
    # once the system administrator records hha as a treating provider, the next request
    # is decided on the new fact; and undone, the one after that too
    set_facts(client, "hha", treating_provider=True)
    assert (
        sections(view(client, "hha.case_worker", maria, "treatment"))[("rrp", "substance_use")][
            "status"
        ]
        == "shown"
    )
    set_facts(client, "hha", treating_provider=False)
    assert ("rrp", "substance_use") not in sections(
        view(client, "hha.case_worker", maria, "treatment")
    )


def test_the_relationship_ending_ends_the_disclosure_on_the_next_request(client, maria, designated):
    until = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    assert join_care_team(client, "cchc.case_worker", maria, until=until).status_code == 201
    before = sections(view(client, "cchc.case_worker", maria, "treatment"))
    assert before[("rrp", "substance_use")]["status"] == "shown"
    time.sleep(2.2)
    after = sections(view(client, "cchc.case_worker", maria, "treatment"))
    assert ("rrp", "substance_use") not in after


def test_a_covered_entity_needs_the_hipaa_statement(client, maria):
    set_facts(client, "cchc", treating_provider=True, covered_entity=True)
    refused = client.post(
        f"/api/v1/clients/{maria}/consents",
        json=tpo_body(hipaa_redisclosure_statement=False),
        headers=as_("rrp.consent_officer"),
    )
    assert refused.status_code == 422
    [message] = refused.get_json()["error"]["details"]["hipaa_redisclosure_statement"]
    assert message.endswith("(42 CFR 2.31(a)(4)(iii)).")
    # named recipient that is a covered entity, for treatment: the statement is required
    named = client.post(
        f"/api/v1/clients/{maria}/consents",
        json=tpo_body(
            recipients=["cchc"],
            intermediary=None,
            general_designation=None,
            recipient_description=None,
            hipaa_redisclosure_statement=False,
            purposes=["treatment"],
        ),
        headers=as_("rrp.consent_officer"),
    )
    assert named.status_code == 422
    [message] = named.get_json()["error"]["details"]["hipaa_redisclosure_statement"]
    assert "cchc is a covered entity or business associate" in message


def test_recording_names_each_missing_element_citing_the_amended_paragraphs(client, maria):
    response = client.post(
        f"/api/v1/clients/{maria}/consents",
        json=tpo_body(
            intermediary="Somebody Else HIE",
            general_designation="all_participants",
            recipient_description=None,
            purposes=["treatment", "eligibility"],
        ),
        headers=as_("rrp.consent_officer"),
    )
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    cites = {
        "intermediary": "(42 CFR 2.31(a)(4)(ii))",
        "general_designation": "(42 CFR 2.31(a)(4)(ii)(B))",
        "recipient_description": "(42 CFR 2.31(a)(4)(i))",
        "purposes": "(42 CFR 2.31(a)(4)(i), 2.31(a)(5))",
    }
    for field, cite in cites.items():
        assert any(cite in message for message in details[field]), (field, details[field])


def test_fhir_carries_the_designation(client, maria, designated):
    officer = as_("rrp.consent_officer")
    fhir_id = designated["id"].replace("_", "-")
    resource = client.get(f"/fhir/Consent/{fhir_id}", headers=officer).get_json()
    extensions = {e["url"].rsplit("/", 1)[-1]: e for e in resource["extension"]}
    assert extensions["intermediary"]["valueString"] == "caseops"
    assert extensions["general-designation"]["valueCode"] == "treating_provider_relationship"
    assert extensions["recipient-description"]["valueString"] == TPO_CLASS
    assert extensions["hipaa-redisclosure-statement"]["valueBoolean"] is True
    # and back: the resource read is recorded again as the same single TPO consent
    posted = client.post("/fhir/Consent", json=resource, headers=officer)
    assert posted.status_code == 201, posted.get_json()
    again = posted.get_json()
    assert again["id"] != resource["id"]
    listed = client.get(f"/api/v1/clients/{maria}/consents", headers=officer).get_json()
    copy = next(c for c in listed["consents"] if c["id"] == again["id"].replace("-", "_"))
    for field in (
        "intermediary",
        "general_designation",
        "recipient_description",
        "hipaa_redisclosure_statement",
        "recipients",
        "purposes",
    ):
        assert copy[field] == designated[field], field


# --- the 2.24 list -------------------------------------------------------------------------


def test_the_list_equals_an_independent_computation_from_the_exported_log(
    client, maria, designated
):
    join_care_team(client, "cchc.case_worker", maria)
    for purpose in ("treatment", "payment", "care_coordination", "treatment"):
        view(client, "cchc.case_worker", maria, purpose)
    set_facts(client, "hha", treating_provider=True)
    join_care_team(client, "hha.case_worker", maria)
    view(client, "hha.case_worker", maria, "operations")
    officer = as_("rrp.consent_officer")
    # no written request yet: the list is given upon a request made in writing
    early = client.get(f"/api/v1/clients/{maria}/part2-list", headers=officer)
    assert early.status_code == 409 and "2.24(a)(1)" in early.get_json()["error"]["message"]
    received = date.today() - timedelta(days=2)
    recorded = client.post(
        f"/api/v1/clients/{maria}/part2-list-requests",
        json={"received_on": received.isoformat(), "note": "letter"},
        headers=officer,
    )
    assert recorded.status_code == 201
    assert recorded.get_json()["due_on"] == (received + timedelta(days=30)).isoformat()
    [waiting] = client.get("/api/v1/part2-list-requests", headers=officer).get_json()
    assert waiting["id"] == recorded.get_json()["id"] and waiting["days_left"] == 28
    seal_once(db.engine, log_key())

    produced = client.get(f"/api/v1/clients/{maria}/part2-list", headers=officer)
    assert produced.status_code == 200
    result = produced.get_json()
    assert result["intermediary"] == "caseops"
    listed = [(i["seq"], i["date"], i["recipient_agency"], i["sections"]) for i in result["items"]]

    # The independent computation: the exported log alone (lines as hashed), read by an
    # auditor with organisation-wide scope.
    factories.grant_organisation_scope("privacy_officer", "hha", "audit")
    lines = client.get("/api/v1/audit/export", headers=as_("hha.privacy_officer")).get_data()
    entries = [json.loads(line) for line in lines.splitlines()]
    designations = {
        e["target_id"]
        for e in entries
        if e["action"] in ("consent.recorded", "consent.amended")
        and e["client_id"] == maria
        and e["detail"]["scope"].get("general_designation")
    }
    three_years_before = received.replace(year=received.year - 3)
    expected = [
        (
            e["seq"],
            e["occurred_at"],
            e["actor_agency"],
            sorted(k for k, cid in e["detail"]["designation"].items() if cid in designations),
        )
        for e in entries
        if e["action"] == "client.view"
        and e["outcome"] == "success"
        and e["client_id"] == maria
        and e["occurred_at"][:10] >= three_years_before.isoformat()
        and any(cid in designations for cid in e["detail"].get("designation", {}).values())
    ]
    assert listed == expected
    assert [agency for _, _, agency, _ in listed] == ["cchc", "cchc", "cchc", "hha"]
    for item in result["items"]:
        assert item["recipient_name"] in ("Community Health Center", "Harbor Housing Authority")
        assert (
            item["description"]
            == [
                "substance use disorder treatment record from Riverside Recovery, with the "
                "patient's identity"
            ]
            or "substance use disorder" in item["description"][0]
        )

    # Each listed entry is proven against the signed checkpoint, from its exported bytes.
    by_seq = {json.loads(line)["seq"]: line for line in lines.splitlines()}
    root = bytes.fromhex(result["checkpoint"]["root_hash"])
    size = result["checkpoint"]["tree_size"]
    for item in result["items"]:
        assert item["sealed"]
        leaf = leaf_hash(leaf_bytes_from_export_line(by_seq[item["seq"]]))
        assert leaf.hex() == item["proof"]["leaf_hash"]
        path = [bytes.fromhex(p) for p in item["proof"]["audit_path"]]
        assert verify_inclusion(leaf, item["proof"]["leaf_index"], size, path, root)

    # answered: it leaves the home page's list; the CSV says the same
    assert client.get("/api/v1/part2-list-requests", headers=officer).get_json() == []
    csv_text = client.get(f"/api/v1/clients/{maria}/part2-list.csv", headers=officer)
    assert csv_text.status_code == 200 and csv_text.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(csv_text.get_data(as_text=True))))
    assert [(int(r["seq"]), r["recipient_agency"]) for r in rows] == [
        (seq, agency) for seq, _, agency, _ in listed
    ]
    logged = db.session.scalars(
        select(AccessEvent).where(AccessEvent.action == "part2.list_produced")
    ).all()
    assert len(logged) == 2 and logged[0].detail["returned"] == 4


def test_only_consent_officers_of_a_serving_agency_and_hidden_is_unknown(client, maria, designated):
    body = {"received_on": date.today().isoformat()}
    path = f"/api/v1/clients/{maria}/part2-list-requests"
    assert client.post(path, json=body, headers=as_("cchc.case_worker")).status_code == 403
    unknown = client.post(
        "/api/v1/clients/cl_doesnotexist00000000/part2-list-requests",
        json=body,
        headers=as_("rrp.consent_officer"),
    )
    assert unknown.status_code == 404
    future = {"received_on": (date.today() + timedelta(days=2)).isoformat()}
    refused = client.post(path, json=future, headers=as_("rrp.consent_officer"))
    assert refused.status_code == 422 and "received_on" in refused.get_json()["error"]["details"]


def test_the_new_tables_are_append_only_and_consents_stay_so(app, client, maria, designated):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    client.post(
        f"/api/v1/clients/{maria}/part2-list-requests",
        json={"received_on": date.today().isoformat()},
        headers=as_("rrp.consent_officer"),
    )
    client.get(f"/api/v1/clients/{maria}/part2-list", headers=as_("rrp.consent_officer"))
    for statement in (
        "UPDATE agency_fact_changes SET after = false",
        "DELETE FROM agency_fact_changes",
        "UPDATE part2_list_requests SET due_on = received_on",
        "DELETE FROM part2_list_answers",
        # 0017 added columns in place: the consents' own guard is still there
        "UPDATE consents SET general_designation = NULL",
        "DELETE FROM consents",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()


def test_the_sharing_matrix_shows_whom_the_designation_reaches(client, maria, designated):
    officer = as_("rrp.consent_officer")
    cells = client.get(
        f"/api/v1/clients/{maria}/sharing", query_string={"purpose": "treatment"}, headers=officer
    ).get_json()["cells"]
    by_recipient = {c["recipient"]: c for c in cells if c["category"] == "substance_use"}
    [source] = by_recipient["cchc"]["sources"]
    assert source == {
        "agency": "rrp",
        "consent_id": designated["id"],
        "agreement": "waived",  # an upgraded installation (docs/agreements.md)
        "notice": True,
        "designation": True,  # shared only while a worker has a treating relationship
    }
    assert by_recipient["hha"]["sources"] == []
    assert by_recipient["hha"]["withheld_reasons"] == ["part2_not_treating_provider"]
