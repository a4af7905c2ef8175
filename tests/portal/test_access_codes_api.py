"""Consent officers issue, list and revoke clients' access codes through /api/v1."""

from __future__ import annotations

from sqlalchemy import select

from caseops.extensions import db
from caseops.portal.models import ClientAccessCode
from tests import factories
from tests.fixtures.portal import issue_code
from tests.fixtures.records import bearer


def _as(username: str) -> dict:
    return bearer(factories.token_for(username))


def test_a_code_is_shown_once_and_stored_only_as_a_hash(client, maria_code):
    maria, issued = maria_code
    assert issued["state"] == "active" and issued["issued_by_agency"] == "hha"
    assert issued["code"].replace("-", "").startswith(issued["id"])
    assert issued["expires_at"] > issued["issued_at"]
    row = db.session.scalar(
        select(ClientAccessCode).where(ClientAccessCode.code_id == issued["id"])
    )
    secret = issued["code"].replace("-", "")[len(issued["id"]) :]
    assert secret not in row.secret_hash and row.secret_hash.startswith("$argon2id$")
    listed = client.get(f"/api/v1/clients/{maria}/access-codes", headers=_as("hha.consent_officer"))
    assert listed.status_code == 200
    assert [c["id"] for c in listed.get_json()] == [issued["id"]]
    assert "code" not in listed.get_json()[0] and secret not in listed.get_data(as_text=True)
    [entry] = factories.events("portal.code_issued")
    assert entry.target_id == issued["id"] and entry.client_id == maria
    assert secret not in str(entry.detail)


def test_expiry_is_bounded(client, maria_code):
    maria, _ = maria_code
    for days in (0, 366):
        response = client.post(
            f"/api/v1/clients/{maria}/access-codes",
            json={"expires_in_days": days},
            headers=_as("hha.consent_officer"),
        )
        assert response.status_code == 422
        assert "expires_in_days" in str(response.get_json())
    ok = issue_code(client, maria, expires_in_days=365)
    assert ok["state"] == "active"


def test_only_consent_officers_issue_and_unknown_clients_are_not_found(client, maria_code):
    maria, _ = maria_code
    refused = client.post(
        f"/api/v1/clients/{maria}/access-codes", json={}, headers=_as("hha.case_worker")
    )
    assert refused.status_code == 403
    assert factories.events("portal.denied")[-1].detail["attempted"] == "issue"
    unknown = client.post(
        "/api/v1/clients/f00dfacef00dfacef00dfacef00dface/access-codes",
        json={},
        headers=_as("hha.consent_officer"),
    )
    assert unknown.status_code == 404


def test_revoking_a_code_and_another_agencys_code_is_unknown(client, maria_code):
    maria, issued = maria_code
    other = client.post(
        f"/api/v1/access-codes/{issued['id']}/revoke", headers=_as("cchc.consent_officer")
    )
    unknown = client.post(
        "/api/v1/access-codes/ZZZZZZZZ/revoke", headers=_as("cchc.consent_officer")
    )
    assert other.status_code == unknown.status_code == 404
    assert other.get_json()["error"]["code"] == unknown.get_json()["error"]["code"] == "not_found"
    cchc_list = client.get(
        f"/api/v1/clients/{maria}/access-codes", headers=_as("cchc.consent_officer")
    )
    assert cchc_list.get_json() == []
    revoked = client.post(
        f"/api/v1/access-codes/{issued['id']}/revoke", headers=_as("hha.consent_officer")
    )
    assert revoked.status_code == 200 and revoked.get_json()["state"] == "revoked"
    again = client.post(
        f"/api/v1/access-codes/{issued['id']}/revoke", headers=_as("hha.consent_officer")
    )
    assert again.status_code == 409
    assert [e.target_id for e in factories.events("portal.code_revoked")] == [issued["id"]]
