"""The consent officer's API: record, amend, revoke, explain; history is append-only."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from caseops.extensions import db
from caseops.registry.models import ConsentDocument
from tests import factories
from tests.fixtures.consents import NOW, iso, permit
from tests.fixtures.records import MARIA, bearer, put


@pytest.fixture
def maria(world, client):
    feed = factories.token_for("hha.integration")
    return put(client, feed, MARIA, srid="H-1").get_json()["client_id"]


@pytest.fixture
def officer(world):
    """hha's consent officer: hha holds Maria's record, so it serves her."""
    return factories.token_for("hha.consent_officer")


def record(client, token, client_id, body):
    return client.post(f"/api/v1/clients/{client_id}/consents", json=body, headers=bearer(token))


def cell(matrix, category, recipient):
    return next(
        c for c in matrix["cells"] if c["category"] == category and c["recipient"] == recipient
    )


def test_record_a_consent_and_see_it_active_in_the_sharing_matrix(client, maria, officer):
    response = record(client, officer, maria, permit())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "active" and body["version"] == 1
    matrix = client.get(f"/api/v1/clients/{maria}/sharing", headers=bearer(officer)).get_json()
    housing = cell(matrix, "housing", "cchc")
    # the standard world is an upgraded installation: the pair is waived (docs/agreements.md)
    assert housing["sources"] == [
        {"agency": "hha", "consent_id": body["id"], "agreement": "waived", "notice": False}
    ]
    assert cell(matrix, "health", "cchc")["sources"] == []
    assert cell(matrix, "housing", "rrp")["sources"] == []


def test_revocation_takes_effect_at_once(client, maria, officer):
    consent_id = record(client, officer, maria, permit()).get_json()["id"]
    response = client.post(
        f"/api/v1/consents/{consent_id}/revoke",
        json={"reason": "Client asked"},
        headers=bearer(officer),
    )
    assert response.status_code == 200
    listing = client.get(f"/api/v1/clients/{maria}/consents", headers=bearer(officer)).get_json()
    assert listing["consents"][0]["status"] == "revoked"
    assert [e["event"] for e in listing["timeline"]] == ["recorded", "revoked"]
    matrix = client.get(f"/api/v1/clients/{maria}/sharing", headers=bearer(officer)).get_json()
    housing = cell(matrix, "housing", "cchc")
    assert housing["sources"] == [] and housing["withheld_reasons"] == ["consent_revoked"]
    again = client.post(
        f"/api/v1/consents/{consent_id}/revoke", json={"reason": "again"}, headers=bearer(officer)
    )
    assert again.status_code == 409


def test_amendment_is_a_new_version_and_the_old_one_is_kept(client, maria, officer):
    first = record(client, officer, maria, permit()).get_json()
    response = client.post(
        f"/api/v1/consents/{first['id']}/amend",
        json=permit(categories=["housing", "health"]),
        headers=bearer(officer),
    )
    assert response.status_code == 201
    second = response.get_json()
    assert second["version"] == 2 and second["supersedes"] == first["id"]
    listing = client.get(f"/api/v1/clients/{maria}/consents", headers=bearer(officer)).get_json()
    statuses = {c["id"]: c["status"] for c in listing["consents"]}
    assert statuses == {first["id"]: "superseded", second["id"]: "active"}
    assert [e["event"] for e in listing["timeline"]] == ["recorded", "amended"]
    stale = client.post(
        f"/api/v1/consents/{first['id']}/amend", json=permit(), headers=bearer(officer)
    )
    assert stale.status_code == 409


def test_part2_consents_must_carry_every_2_31_element(client, maria, officer):
    body = permit(
        source_agencies=["rrp"],
        categories=["substance_use"],
        recipients=["*"],
        purposes=["*"],
        expires_at=None,
        revocation_right_acknowledged=False,
    )
    response = record(client, officer, maria, body)
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    for field in ("recipients", "purposes", "expires_at", "revocation_right_acknowledged"):
        assert field in details, (field, details)
        assert any("2.31" in reason for reason in details[field]), details[field]


def test_unknown_agencies_and_vocabulary_are_named(client, maria, officer):
    response = record(client, officer, maria, permit(recipients=["nowhere"], categories=["gossip"]))
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    assert details["recipients"] == ["Unknown agency code: nowhere."]
    assert "categories" in details


def test_naive_datetimes_are_refused(client, maria, officer):
    response = record(client, officer, maria, permit(signed_at="2026-01-01T10:00:00"))
    assert response.status_code == 422
    assert "signed_at" in response.get_json()["error"]["details"]


@pytest.mark.parametrize(
    ("role", "write", "read"),
    [
        ("consent_officer", 201, 200),
        ("privacy_officer", 403, 200),
        ("case_worker", 403, 403),
        ("supervisor", 403, 403),
        ("system_admin", 403, 403),
        ("agency_admin", 403, 403),
        ("data_steward", 403, 403),
        ("integration", 403, 403),
    ],
)
def test_who_may_record_and_read_consents(client, maria, role, write, read):
    token = factories.token_for(f"hha.{role}")
    assert record(client, token, maria, permit()).status_code == write
    assert (
        client.get(f"/api/v1/clients/{maria}/consents", headers=bearer(token)).status_code == read
    )


def test_every_consent_event_is_logged(client, maria, officer):
    consent_id = record(client, officer, maria, permit()).get_json()["id"]
    client.post(
        f"/api/v1/consents/{consent_id}/revoke",
        json={"reason": "Client asked"},
        headers=bearer(officer),
    )
    client.get(f"/api/v1/clients/{maria}/consents", headers=bearer(officer))
    actions = [e.action for e in factories.events() if e.action.startswith("consent.")]
    assert actions == ["consent.recorded", "consent.revoked", "consent.viewed"]
    assert all(e.client_id == maria for e in factories.events() if e.action.startswith("consent."))


def test_signed_document_is_stored_encrypted_and_named_by_its_hash(client, maria, officer):
    content = b"%PDF-1.4 signed authorization form for Maria Lopez"
    response = client.post(
        f"/api/v1/clients/{maria}/consent-documents",
        data={"file": (io.BytesIO(content), "form.pdf", "application/pdf")},
        headers=bearer(officer),
    )
    assert response.status_code == 201, response.get_json()
    digest = hashlib.sha256(content).hexdigest()
    assert response.get_json()["sha256"] == digest
    stored = db.session.query(ConsentDocument).one()
    assert b"Maria" not in stored.content_encrypted.encode()
    created = record(
        client, officer, maria, permit(evidence={"method": "written", "document_sha256": digest})
    )
    assert created.get_json()["evidence"]["document_stored"] is True
    bad = client.post(
        f"/api/v1/clients/{maria}/consent-documents",
        data={"file": (io.BytesIO(b"MZ..."), "x.exe", "application/octet-stream")},
        headers=bearer(officer),
    )
    assert bad.status_code == 422


def test_expiring_soon_lists_active_consents(client, maria, officer):
    soon = record(client, officer, maria, permit(expires_at=iso(NOW + timedelta(days=10))))
    record(client, officer, maria, permit(expires_at=iso(NOW + timedelta(days=100))))
    listed = client.get("/api/v1/consents/expiring?days=30", headers=bearer(officer)).get_json()
    assert [c["id"] for c in listed] == [soon.get_json()["id"]]


@pytest.mark.parametrize("table", ["consents", "consent_revocations", "consent_documents"])
def test_consent_history_is_append_only_in_the_database(
    client, maria, officer, database_url, table
):
    consent_id = record(client, officer, maria, permit()).get_json()["id"]
    client.post(
        f"/api/v1/consents/{consent_id}/revoke", json={"reason": "asked"}, headers=bearer(officer)
    )
    client.post(
        f"/api/v1/clients/{maria}/consent-documents",
        data={"file": (io.BytesIO(b"%PDF doc"), "f.pdf", "application/pdf")},
        headers=bearer(officer),
    )
    engine = create_engine(database_url)
    for statement in (f"DELETE FROM {table}", f"UPDATE {table} SET id = id"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    engine.dispose()
