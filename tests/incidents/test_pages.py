"""The incident pages: the timeline and the printable letters, with no record contents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from caseops.audit.keys import log_key
from caseops.audit.seal import seal_once
from caseops.extensions import db
from tests import factories
from tests.fixtures.access import join_care_team, view
from tests.fixtures.consents import source_consent
from tests.fixtures.records import bearer

CONTENTS = ("Maria", "Lopez", "1984-03-12", "123-45-6780", "Seacliff", "asthma", "inhaler")


def test_an_officer_prints_the_letters_of_an_incident(app, client, maria):
    start = datetime.now(UTC) - timedelta(minutes=1)
    join_care_team(client, "cchc.case_worker", maria)
    source_consent(client, maria)
    assert view(client, "cchc.case_worker", maria).status_code == 200
    seal_once(db.engine, log_key())
    officer = factories.make_user("ops.privacy", "ops", ["privacy_officer"])
    factories.grant_organisation_scope("privacy_officer", "ops", "audit")
    token = bearer(factories.token_for("ops.privacy"))
    opened = client.post(
        "/api/v1/incidents",
        json={
            "kind": "breach",
            "summary": "A case worker's password was phished.",
            "accounts": ["cchc.case_worker"],
            "window_start": start.isoformat(),
            "window_end": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
        },
        headers=token,
    ).get_json()
    url = f"/api/v1/incidents/{opened['id']}"
    assert (
        client.post(f"{url}/contain", json={"reason": "Phished"}, headers=token).status_code == 200
    )
    assert client.post(f"{url}/notifications", headers=token).status_code == 201

    browser = app.test_client()
    factories.login(browser, officer)
    listing = browser.get("/incidents")
    assert listing.status_code == 200 and f"#{opened['id']}" in listing.get_data(as_text=True)
    timeline = browser.get(f"/incidents/{opened['id']}").get_data(as_text=True)
    assert "contained" in timeline and "Phished" in timeline
    page = browser.get(f"/incidents/{opened['id']}/letters")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('data-testid="letter"') == 2  # hha housing and cchc health
    assert maria in html and "[client name" in html and "[mailing address" in html
    assert "What happened" in html and "What you can do" in html
    for secret in CONTENTS:
        assert secret not in html, secret
    # another agency's officer does not know of it
    hidden = client.get(url, headers=bearer(factories.token_for("hha.privacy_officer")))
    assert hidden.status_code == 404


def test_from_opening_an_incident_to_the_letters_through_the_pages(app, client, maria):
    start = datetime.now(UTC) - timedelta(minutes=5)
    join_care_team(client, "cchc.case_worker", maria)
    source_consent(client, maria)
    assert view(client, "cchc.case_worker", maria).status_code == 200
    seal_once(db.engine, log_key())
    officer = factories.make_user("cchc.privacy2", "cchc", ["privacy_officer"])
    browser = app.test_client()
    factories.login(browser, officer)
    page = browser.get("/incidents")
    assert page.status_code == 200
    end = datetime.now(UTC) + timedelta(minutes=5)
    opened = browser.post(
        "/incidents",
        data={
            "csrf_token": factories.csrf_token(page.get_data(as_text=True)),
            "kind": "breach",
            "summary": "A worker's password was phished.",
            "accounts": "cchc.case_worker, hha.case_worker",
            "window_start": start.strftime("%Y-%m-%dT%H:%M"),
            "window_end": end.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert opened.status_code == 302, opened.get_data(as_text=True)
    timeline_url = opened.headers["Location"]
    page = browser.get(timeline_url)
    html = page.get_data(as_text=True)
    assert "A worker&#39;s password was phished." in html or "password was phished" in html
    token = factories.csrf_token(html)
    incident_id = timeline_url.rstrip("/").rsplit("/", 1)[-1]
    cchc_token = bearer(factories.token_for("cchc.case_worker"))
    assert (
        client.get("/api/v1/clients", query_string={"q": "Maria"}, headers=cchc_token).status_code
        == 200
    )
    contained = browser.post(
        f"/incidents/{incident_id}/contain", data={"csrf_token": token, "reason": "Phished"}
    )
    assert contained.status_code == 302
    assert (
        client.get("/api/v1/clients", query_string={"q": "Maria"}, headers=cchc_token).status_code
        == 401
    )
    html = browser.get(timeline_url).get_data(as_text=True)
    assert "contained" in html
    scope = browser.get(f"/incidents/{incident_id}/scope").get_data(as_text=True)
    assert maria in scope and "checkpoint of tree size" in scope
    notified = browser.post(f"/incidents/{incident_id}/notifications", data={"csrf_token": token})
    assert notified.status_code == 302
    letters = browser.get(f"/incidents/{incident_id}/letters").get_data(as_text=True)
    # cchc's officer: cchc's own health record and what its worker saw of hha's housing
    assert letters.count('data-testid="letter"') >= 1 and maria in letters
    for secret in CONTENTS:
        assert secret not in letters, secret
