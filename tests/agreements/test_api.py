"""Data sharing agreements through the API, on a new installation (no waivers): recording,
acceptance, who knows of them, the document, termination, amendment, the log; and the
record view, the sharing matrix, the referral gate and the simulator naming the agreement
behind each cross-agency flow."""

from __future__ import annotations

import base64
import hashlib

from caseops.audit.models import AccessEvent
from caseops.extensions import db
from tests import factories
from tests.fixtures.access import join_care_team, sections, view
from tests.fixtures.agreements import (
    PDF,
    accept,
    active_agreement,
    agreement_body,
    record_agreement,
    terminate,
)
from tests.fixtures.consents import consent_for
from tests.fixtures.records import bearer
from tests.fixtures.referrals import refer


def _get(client, agreement_id, username):
    return client.get(
        f"/api/v1/agreements/{agreement_id}", headers=bearer(factories.token_for(username))
    )


def _actions(agreement_id):
    return [
        e.action
        for e in db.session.scalars(
            db.select(AccessEvent)
            .where(AccessEvent.target_id == agreement_id)
            .order_by(AccessEvent.seq)
        )
    ]


def test_an_agreement_is_pending_until_every_party_accepts_then_active(client, new_install):
    agreement_id = record_agreement(client, ["hha", "cchc"])
    body = _get(client, agreement_id, "hha.agency_admin").get_json()
    assert body["status"] == "pending" and body["awaiting"] == ["cchc", "hha"]
    assert body["document"]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert accept(client, agreement_id, "hha")["status"] == "pending"
    accepted = accept(client, agreement_id, "cchc")
    assert accepted["status"] == "active" and accepted["awaiting"] == []
    again = client.post(
        f"/api/v1/agreements/{agreement_id}/accept",
        headers=bearer(factories.token_for("cchc.agency_admin")),
    )
    assert again.status_code == 409
    assert _actions(agreement_id) == [
        "agreement.recorded",
        "agreement.accepted",
        "agreement.accepted",
    ]


def test_only_parties_know_of_an_agreement_and_only_their_admins_accept(client, new_install):
    agreement_id = record_agreement(client, ["hha", "cchc"])
    unknown = _get(client, "agr_0000000000000000", "rrp.agency_admin")
    hidden = _get(client, agreement_id, "rrp.agency_admin")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.get_json()["error"]["code"] == unknown.get_json()["error"]["code"]
    assert _get(client, agreement_id, "cchc.privacy_officer").status_code == 200
    assert _get(client, agreement_id, "cchc.case_worker").status_code == 404
    by_officer = client.post(
        f"/api/v1/agreements/{agreement_id}/accept",
        headers=bearer(factories.token_for("cchc.privacy_officer")),
    )
    assert by_officer.status_code == 403
    listed = client.get(
        "/api/v1/agreements", headers=bearer(factories.token_for("rrp.agency_admin"))
    )
    assert listed.status_code == 200 and listed.get_json() == []


def test_an_agency_admin_records_only_agreements_their_agency_is_party_to(client, new_install):
    response = client.post(
        "/api/v1/agreements",
        json=agreement_body(["hha", "cchc"]),
        headers=bearer(factories.token_for("rrp.agency_admin")),
    )
    assert response.status_code == 403


def test_bad_agreements_are_refused_naming_each_field(client, new_install):
    body = agreement_body(["hha", "nope"]) | {
        "trust": [{"agency": "rrp", "partner": "hha", "categories": ["substance_use"]}],
        "ends_on": "2001-01-01",
        "document": {"content_type": "application/pdf", "content_base64": "not base64!"},
    }
    response = client.post(
        "/api/v1/agreements", json=body, headers=bearer(factories.token_for("hha.agency_admin"))
    )
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    assert {
        "parties",
        "ends_on",
        "trust.0.categories",
        "trust.0",
        "document.content_base64",
    } <= set(details)
    listed = client.get(
        "/api/v1/agreements", headers=bearer(factories.token_for("hha.agency_admin"))
    )
    assert listed.get_json() == []  # nothing half-written


def test_the_document_is_stored_encrypted_and_read_by_the_parties_only(client, new_install):
    agreement_id = record_agreement(client, ["hha", "cchc"])
    from caseops.agreements.models import AgreementRecord

    row = db.session.get(AgreementRecord, agreement_id)
    assert base64.b64encode(PDF).decode() not in row.document_encrypted
    assert PDF.decode() not in row.document_encrypted
    got = client.get(
        f"/api/v1/agreements/{agreement_id}/document",
        headers=bearer(factories.token_for("cchc.privacy_officer")),
    )
    assert got.status_code == 200 and got.data == PDF
    other = client.get(
        f"/api/v1/agreements/{agreement_id}/document",
        headers=bearer(factories.token_for("rrp.privacy_officer")),
    )
    assert other.status_code == 404


def test_termination_ends_sharing_and_is_final(client, new_install):
    maria = new_install
    join_care_team(client, "cchc.case_worker", maria)
    consent_for(client, maria, by="hha", recipients=["cchc"])
    assert sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]["reason"] == (
        "no_agreement"
    )
    agreement_id = active_agreement(client, ["hha", "cchc"])
    shown = sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]
    assert shown["status"] == "shown"
    logged = db.session.scalars(
        db.select(AccessEvent)
        .where(AccessEvent.action == "client.view", AccessEvent.outcome == "success")
        .order_by(AccessEvent.seq.desc())
    ).first()
    assert logged.detail["agreements"] == {"hha/housing": agreement_id}
    assert terminate(client, agreement_id, "rrp.agency_admin").status_code == 404
    short = terminate(client, agreement_id, "cchc.agency_admin", reason="no")
    assert short.status_code == 422 and "reason" in short.get_json()["error"]["details"]
    ended = terminate(client, agreement_id, "cchc.agency_admin")
    assert ended.status_code == 200 and ended.get_json()["status"] == "terminated"
    after = sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]
    assert after == {"agency": "hha", "category": "housing", "status": "withheld"} | {
        k: after[k] for k in after if k not in ("agency", "category", "status")
    }
    assert after["reason"] == "no_agreement"
    assert terminate(client, agreement_id, "hha.agency_admin").status_code == 409
    assert "agreement.terminated" in _actions(agreement_id)


def test_the_sharing_matrix_names_the_agreement_or_the_missing_one(client, new_install):
    maria = new_install
    consent_for(client, maria, by="hha", recipients=["cchc"])
    officer = factories.token_for("hha.consent_officer")

    def cell():
        matrix = client.get(f"/api/v1/clients/{maria}/sharing", headers=bearer(officer)).get_json()
        return next(
            c for c in matrix["cells"] if c["category"] == "housing" and c["recipient"] == "cchc"
        )

    before = cell()
    assert before["sources"] == [] and before["withheld_reasons"] == ["no_agreement"]
    agreement_id = active_agreement(client, ["hha", "cchc"])
    after = cell()
    assert [(s["agency"], s["agreement"]) for s in after["sources"]] == [("hha", agreement_id)]


def test_sending_a_referral_needs_an_agreement(client, new_install):
    maria = new_install
    join_care_team(client, "hha.case_worker", maria)
    consent_for(client, maria, by="hha", recipients=["cchc"])
    refused = refer(client, maria)
    assert refused.status_code == 422, refused.get_json()
    assert "no_agreement" in str(refused.get_json()["error"]["details"])
    active_agreement(client, ["hha", "cchc"])
    sent = refer(client, maria)
    assert sent.status_code == 201, sent.get_json()
    assert sent.get_json()["status"] == "requested"


def test_the_simulator_names_the_agreement_behind_each_section(client, new_install):
    maria = new_install
    join_care_team(client, "cchc.case_worker", maria)
    consent_for(client, maria, by="hha", recipients=["cchc"])
    agreement_id = active_agreement(client, ["hha", "cchc"])
    response = client.post(
        "/api/v1/simulate/view",
        json={"username": "cchc.case_worker", "client_id": maria, "purpose": "care_coordination"},
        headers=bearer(factories.token_for("cchc.privacy_officer")),
    )
    assert response.status_code == 200, response.get_json()
    found = {(s["agency"], s["category"]): s for s in response.get_json()["sections"]}
    assert found[("hha", "housing")]["agreement"] == agreement_id
    assert found[("hha", "housing")]["would_show"] is True
    assert found[("cchc", "health")]["agreement"] is None  # own agency: none needed


def test_a_waiver_is_a_policy_rule_managed_through_the_policies_api(client, new_install):
    maria = new_install
    join_care_team(client, "cchc.case_worker", maria)
    consent_for(client, maria, by="hha", recipients=["cchc"])
    admin = bearer(factories.token_for("hha.system_admin"))
    bad = client.post(
        "/api/v1/policies",
        json={"sub": "agency:nope", "dom": "*", "obj": "agreement_waiver:hha", "act": "waive"},
        headers=admin,
    )
    assert bad.status_code == 422 and "sub" in bad.get_json()["error"]["details"]
    rule = {"sub": "agency:cchc", "dom": "*", "obj": "agreement_waiver:hha", "act": "waive"}
    added = client.post("/api/v1/policies", json=rule, headers=admin)
    if added.status_code == 409 and "token" in str(added.get_json()):  # confirm a disclosure
        token = added.get_json()["error"]["details"]["confirmation"][0]
        added = client.post("/api/v1/policies", json=rule | {"confirm": token}, headers=admin)
    assert added.status_code in (200, 201), added.get_json()
    shown = sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]
    assert shown["status"] == "shown"
