"""Accounting of disclosures (45 CFR 164.528): who may ask, what counts, CSV, logged."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from tests import factories
from tests.fixtures.access import join_care_team, view
from tests.fixtures.consents import break_glass, source_consent
from tests.fixtures.records import bearer


def officer() -> dict[str, str]:
    return bearer(factories.token_for("hha.privacy_officer"))


@pytest.fixture
def history(client, maria):
    """cchc reads hha housing under consent (a disclosure), hha reads its own housing (a
    use, not a disclosure), hha breaks the glass and reads cchc health (a disclosure)."""
    join_care_team(client, "cchc.case_worker", maria)
    consent_id = source_consent(client, maria)
    assert view(client, "cchc.case_worker", maria).status_code == 200
    join_care_team(client, "hha.case_worker", maria)
    assert view(client, "hha.case_worker", maria).status_code == 200
    assert view(client, "hha.supervisor", maria).status_code == 200  # nothing shown: denied
    grant = break_glass(client, "hha.supervisor", maria)
    assert view(client, "hha.supervisor", maria).status_code == 200
    return {"client_id": maria, "consent_id": consent_id, "grant_id": grant}


def get(client, client_id, **query):
    return client.get(
        f"/api/v1/clients/{client_id}/disclosures", query_string=query, headers=officer()
    )


@pytest.mark.parametrize(
    "username",
    [
        "hha.case_worker",
        "hha.supervisor",
        "hha.agency_admin",
        "hha.system_admin",
        "hha.consent_officer",
        "hha.integration",
    ],
)
def test_only_privacy_officers_get_the_accounting(client, history, username):
    path = f"/api/v1/clients/{history['client_id']}/disclosures"
    for suffix in ("", ".csv"):
        response = client.get(path + suffix, headers=bearer(factories.token_for(username)))
        assert response.status_code == 403
    assert client.get(path).status_code == 401
    denied = [e for e in factories.events("audit.denied") if e.actor == username]
    assert len(denied) == 2


def test_lists_other_agency_disclosures_with_the_164_528_fields(client, history):
    response = get(client, history["client_id"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["client_id"] == history["client_id"]
    first, second = body["items"]
    assert first["recipient_agency"] == "cchc"
    assert first["recipient_person"] == "cchc.case_worker"
    assert first["description"] == ["hha/housing"]  # its own cchc/health is not listed
    assert first["purpose"] == "care_coordination"
    assert first["basis"] == ["consent"]
    assert first["consent_ids"] == [history["consent_id"]]
    assert first["break_glass_grant"] is None
    datetime.fromisoformat(first["date"])
    assert second["recipient_agency"] == "hha"
    assert second["recipient_person"] == "hha.supervisor"
    assert second["description"] == ["cchc/health"]
    assert second["basis"] == ["break_glass"]
    assert second["break_glass_grant"] == history["grant_id"]
    # Nobody's view of their own agency's section, and no record contents anywhere.
    assert all(item["recipient_person"] != "hha.case_worker" for item in body["items"])
    assert "asthma" not in response.get_data(as_text=True)


def test_period_filter(client, history):
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert get(client, history["client_id"], since=later).get_json()["items"] == []
    assert len(get(client, history["client_id"], since=earlier).get_json()["items"]) == 2
    assert get(client, history["client_id"], until=earlier).get_json()["items"] == []
    assert get(client, history["client_id"], since="yesterday").status_code == 422


@pytest.mark.parametrize("how", ["format", "suffix"])
def test_csv_has_a_header_and_one_line_per_disclosure(client, history, how):
    path = f"/api/v1/clients/{history['client_id']}/disclosures"
    if how == "format":
        response = client.get(path, query_string={"format": "csv"}, headers=officer())
    else:
        response = client.get(path + ".csv", headers=officer())
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["recipient_person"] for r in rows] == ["cchc.case_worker", "hha.supervisor"]
    assert rows[0]["description"] == "hha/housing"
    assert rows[0]["consent_ids"] == str(history["consent_id"])
    assert rows[1]["basis"] == "break_glass"
    assert rows[1]["break_glass_grant"] == str(history["grant_id"])


def test_the_request_is_logged_and_unknown_clients_are_404(client, history):
    get(client, history["client_id"])
    [event] = factories.events("audit.disclosures")
    assert event.actor == "hha.privacy_officer"
    assert event.client_id == history["client_id"]
    assert event.detail["returned"] == 2
    assert get(client, "no-such-client").status_code == 404
