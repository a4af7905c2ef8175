"""/fhir/Consent: FHIR R4 in and out, with per-element answers and nothing half-stored."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from caseops.extensions import db
from caseops.registry.models import ConsentRecord
from tests import factories
from tests.fixtures.consents import NOW, iso, permit
from tests.fixtures.records import MARIA, bearer, put

FIXTURES = Path(__file__).resolve().parent.parent / "consent" / "fixtures" / "fhir"


@pytest.fixture
def maria(world, client):
    feed = factories.token_for("hha.integration")
    return put(client, feed, MARIA, srid="H-1").get_json()["client_id"]


@pytest.fixture
def officer(world):
    """hha's consent officer: hha holds Maria's record, so it serves her."""
    return factories.token_for("hha.consent_officer")


def fhir_post(client, token, resource):
    return client.post(
        "/fhir/Consent",
        data=json.dumps(resource),
        headers=bearer(token) | {"Content-Type": "application/fhir+json"},
    )


def test_round_trip_a_recorded_consent_through_fhir(client, maria, officer):
    recorded = client.post(
        f"/api/v1/clients/{maria}/consents", json=permit(), headers=bearer(officer)
    ).get_json()
    out = client.get(f"/fhir/Consent/{recorded['id']}", headers=bearer(officer))
    assert out.status_code == 200 and out.mimetype == "application/fhir+json"
    resource = out.get_json()
    assert resource["resourceType"] == "Consent" and resource["status"] == "active"
    assert resource["patient"]["reference"] == f"Patient/{maria}"
    created = fhir_post(client, officer, resource)
    assert created.status_code == 201, created.get_json()
    again = created.get_json()
    for field in ("provision", "policyRule", "patient", "dateTime"):
        assert again[field] == resource[field]
    assert db.session.query(ConsentRecord).count() == 2
    assert created.headers["Location"].startswith("/fhir/Consent/")


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_the_hl7_examples_get_a_specific_answer_and_nothing_is_stored(client, maria, officer, name):
    resource = json.loads((FIXTURES / name).read_text())
    response = fhir_post(client, officer, resource)
    assert response.status_code == 422
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    expressions = [issue["expression"][0] for issue in outcome["issue"]]
    assert "Consent.patient" in expressions
    assert all(issue["diagnostics"] for issue in outcome["issue"])
    assert db.session.query(ConsentRecord).count() == 0


def test_recording_time_rules_come_back_in_fhir_terms(client, maria, officer):
    recorded = client.post(
        f"/api/v1/clients/{maria}/consents", json=permit(), headers=bearer(officer)
    ).get_json()
    resource = client.get(f"/fhir/Consent/{recorded['id']}", headers=bearer(officer)).get_json()
    resource["dateTime"] = iso(NOW.replace(year=NOW.year + 1))  # signed in the future
    response = fhir_post(client, officer, resource)
    assert response.status_code == 422
    assert any(i["expression"] == ["Consent.dateTime"] for i in response.get_json()["issue"])
    assert db.session.query(ConsentRecord).count() == 1


def test_fhir_needs_a_consent_officer_and_answers_errors_as_operation_outcomes(client, maria):
    worker = factories.token_for("cchc.case_worker")
    response = fhir_post(client, worker, {"resourceType": "Consent"})
    assert response.status_code == 403
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert client.get("/fhir/Consent/nope").status_code == 401


R4_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def test_consents_come_back_with_r4_ids_and_either_form_reads_them(client, maria, officer):
    recorded = client.post(
        f"/api/v1/clients/{maria}/consents", json=permit(), headers=bearer(officer)
    ).get_json()
    caseops_id = recorded["id"]
    assert caseops_id.startswith("cns_")
    r4_id = caseops_id.replace("_", "-")
    for asked in (r4_id, caseops_id):
        out = client.get(f"/fhir/Consent/{asked}", headers=bearer(officer))
        assert out.status_code == 200
        assert out.get_json()["id"] == r4_id and R4_ID.fullmatch(r4_id)
        assert out.get_json()["identifier"][0]["value"] == caseops_id
    # The sealed log names the consent by the id caseops knows it by, whichever form was asked.
    views = factories.events("consent.viewed")
    assert [e.target_id for e in views][-2:] == [caseops_id, caseops_id]

    created = fhir_post(client, officer, out.get_json())
    assert created.status_code == 201, created.get_json()
    new_id = created.get_json()["id"]
    assert R4_ID.fullmatch(new_id) and new_id != r4_id
    assert created.headers["Location"] == f"/fhir/Consent/{new_id}"
    stored = db.session.get(ConsentRecord, new_id.replace("-", "_"))
    assert stored is not None and stored.client_id == maria
    again = client.get(created.headers["Location"], headers=bearer(officer))
    assert again.status_code == 200 and again.get_json()["id"] == new_id


def test_an_unknown_consent_is_404_in_either_form(client, maria, officer):
    answers = [
        client.get(f"/fhir/Consent/{asked}", headers=bearer(officer))
        for asked in ("cns-00000000000000000000", "cns_00000000000000000000", "nope")
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert answers[0].get_json() == answers[1].get_json()
