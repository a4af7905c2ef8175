"""The break-the-glass review queue: who may use it, what it shows, append-only reviews."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from caseops.extensions import db
from tests import factories
from tests.fixtures.access import view
from tests.fixtures.consents import break_glass
from tests.fixtures.records import bearer

QUEUE = "/api/v1/audit/break-glass"


def officer() -> dict[str, str]:
    return bearer(factories.token_for("hha.privacy_officer"))


@pytest.fixture
def grant(client, maria):
    grant_id = break_glass(client, "hha.supervisor", maria)
    assert view(client, "hha.supervisor", maria).status_code == 200
    return grant_id


def review(client, grant_id, headers=None, **body):
    body = {"decision": "acknowledge", "note": "Confirmed with the ER"} | body
    return client.post(f"{QUEUE}/{grant_id}/review", json=body, headers=headers or officer())


@pytest.mark.parametrize(
    "username",
    [
        "hha.case_worker",
        "hha.supervisor",
        "hha.agency_admin",
        "hha.system_admin",
        "hha.consent_officer",
    ],
)
def test_only_privacy_officers_see_and_review_the_queue(client, grant, username):
    headers = bearer(factories.token_for(username))
    assert client.get(QUEUE, headers=headers).status_code == 403
    assert review(client, grant, headers=headers).status_code == 403
    assert client.get(QUEUE).status_code == 401
    assert factories.events("audit.break_glass_review") == []
    assert len([e for e in factories.events("audit.denied") if e.actor == username]) == 2


def test_open_grant_lists_its_events_without_record_contents(client, grant, maria):
    response = client.get(QUEUE, headers=officer())
    assert response.status_code == 200
    [item] = response.get_json()["items"]
    assert item["id"] == grant and item["client_id"] == maria
    assert item["username"] == "hha.supervisor" and item["agency"] == "hha"
    assert item["status"] == "open" and item["reviews"] == []
    assert "unconscious" in item["justification"]
    actions = [e["action"] for e in item["events"]]
    assert actions == ["client.break_glass", "client.view"]
    assert "cchc/health" in item["events"][1]["disclosed"]
    assert "asthma" not in response.get_data(as_text=True)
    assert (
        client.get(QUEUE, query_string={"status": "reviewed"}, headers=officer()).get_json()[
            "items"
        ]
        == []
    )
    logged = [e.detail for e in factories.events("audit.break_glass_queue")]
    scope = {"organisation": False, "agency": "hha"}  # hha's supervisor: hha's own grant
    assert logged == [
        {"status": "open", "returned": 1, "scope": scope},
        {"status": "reviewed", "returned": 0, "scope": scope},
    ]


def test_review_moves_the_grant_and_is_logged_in_the_same_transaction(client, grant):
    response = review(client, grant, decision="escalate", note="Not an emergency per ER log")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "reviewed" and body["latest_decision"] == "escalate"
    [entry] = factories.events("audit.break_glass_review")
    assert entry.actor == "hha.privacy_officer"
    assert entry.target_id == str(grant)
    assert entry.detail["decision"] == "escalate"
    row = db.session.execute(
        text("SELECT access_event_seq, reviewed_by FROM break_glass_reviews")
    ).one()
    assert row == (entry.seq, "hha.privacy_officer")
    assert client.get(QUEUE, headers=officer()).get_json()["items"] == []
    [reviewed] = client.get(
        QUEUE, query_string={"status": "reviewed"}, headers=officer()
    ).get_json()["items"]
    assert reviewed["id"] == grant
    # A second note is added, nothing is replaced.
    assert review(client, grant).status_code == 201
    every = client.get(QUEUE, query_string={"status": "all"}, headers=officer()).get_json()
    assert [r["decision"] for r in every["items"][0]["reviews"]] == ["escalate", "acknowledge"]
    assert every["items"][0]["latest_decision"] == "acknowledge"


def test_review_needs_a_decision_and_a_note(client, grant):
    assert review(client, grant, note="ok").status_code == 422
    assert review(client, grant, note="     ok     ").status_code == 422
    assert review(client, grant, decision="ignore").status_code == 422
    assert review(client, grant + 1000).status_code == 404
    assert client.get(QUEUE, query_string={"status": "x"}, headers=officer()).status_code == 422
    assert factories.events("audit.break_glass_review") == []


def test_reviews_are_append_only(client, grant):
    assert review(client, grant).status_code == 201
    for statement in (
        "UPDATE break_glass_reviews SET note = 'x'",
        "DELETE FROM break_glass_reviews",
    ):
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
