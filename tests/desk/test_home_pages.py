"""Every persona's home says what needs them now, from the services that own the data,
with agencies by name and times in the deployment's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from caseops.ui import display
from tests import factories
from tests.fixtures.access import join_care_team, view
from tests.fixtures.consents import break_glass, consent_for
from tests.fixtures.pages import csrf_of, maria_records, signed_in, text_of
from tests.fixtures.records import bearer


@pytest.fixture
def maria(world, client):
    """Maria: housing and economic security at hha, health at cchc."""
    return maria_records(client)


def home(app, world, username) -> str:
    """The home page of ``username`` in a fresh browser session."""
    factories.forget_last_totp_step(username)  # a second sign-in in the same test
    response = signed_in(app, world, username).get("/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_case_worker_sees_caseload_with_changed_mark(app, world, client, maria):
    join_care_team(client, "cchc.case_worker", maria)
    page = home(app, world, "cchc.case_worker")
    assert 'data-testid="caseload-client"' in page
    text = " ".join(page.split())
    assert "Maria Lopez" in text and "1984-03-12" in text
    assert 'data-testid="changed"' in page  # never opened
    view(client, "cchc.case_worker", maria)
    assert 'data-testid="changed"' not in home(app, world, "cchc.case_worker")


def test_the_caseload_on_the_home_page_is_logged(app, world, client, maria):
    join_care_team(client, "cchc.case_worker", maria)
    home(app, world, "cchc.case_worker")
    (listing,) = factories.events("desk.caseload")
    assert listing.detail["result_client_ids"] == [maria]


def test_a_task_a_supervisor_assigns_shows_on_the_workers_desk(app, world, client, maria):
    join_care_team(client, "cchc.case_worker", maria)
    created = client.post(
        f"/api/v1/clients/{maria}/tasks",
        json={"title": "Call about the inhaler refill", "assignee": "cchc.case_worker"},
        headers=bearer(factories.token_for("cchc.supervisor")),
    )
    assert created.status_code == 201, created.get_json()
    assert "Call about the inhaler refill" in text_of_html(home(app, world, "cchc.case_worker"))
    # the task's agency only: hha's worker on the same care team does not see it
    join_care_team(client, "hha.case_worker", maria)
    assert "inhaler refill" not in text_of_html(home(app, world, "hha.case_worker"))


def test_supervisor_sees_the_agency_caseload_and_assigns_a_care_team(app, world, client, maria):
    join_care_team(client, "cchc.supervisor", maria)
    browser = signed_in(app, world, "cchc.supervisor")
    page = browser.get("/").get_data(as_text=True)
    assert 'data-testid="agency-caseload"' in page and 'data-testid="assign-care-team"' in page
    response = browser.post(
        "/desk/care-team",
        data={
            "client_id": maria,
            "username": "cchc.case_worker",
            "csrf_token": csrf_of(browser, "/"),
        },
    )
    assert response.status_code == 302
    entries = factories.events("care_team.added")
    assert [e.target_id for e in entries][-1] == "cchc.case_worker"
    text = text_of(browser.get("/"))
    assert "cchc.case_worker (1 client)" in text


def test_consent_officer_home_lists_consents_by_date_and_grantor(app, world, client, maria):
    consent_id = consent_for(client, maria)
    officer = factories.token_for("cchc.consent_officer")
    revoked = client.post(
        f"/api/v1/consents/{consent_id}/revoke",
        json={"reason": "client asked"},
        headers=bearer(officer),
    )
    assert revoked.status_code == 200, revoked.get_json()
    page = home(app, world, "cchc.consent_officer")
    text = " ".join(text_of_html(page).split())
    assert "Recent revocations" in text
    assert "Consent signed" in text and "by Maria Lopez" in text
    assert f">{consent_id}<" not in page  # no bare consent ids as link text


def test_consent_officer_lists_name_each_client_by_name_and_birth_date(app, world, client, maria):
    # Recorded by cchc, naming hha's housing as a source: it waits for hha to attest, and
    # it expires in 10 days. Signed by a guardian, so the client's name is not the grantor's.
    consent_for(
        client,
        maria,
        attest=False,
        expires_at=(datetime.now(UTC) + timedelta(days=10)).isoformat(),
        grantor={"kind": "guardian", "name": "Rosa Lopez"},
    )
    page = home(app, world, "hha.consent_officer")
    for panel in ("to-attest", "expiring"):
        shown = " ".join(text_of_html(section(page, panel)).split())
        assert "Maria Lopez (born 1984-03-12): Consent signed" in shown, shown
        assert maria[:8] not in shown  # the link holds the id; the text names her
    # naming clients is logged, under its own action: not a search the officer typed
    assert factories.events("client.search") == []
    (listing,) = factories.events("consent.clients_named")
    assert listing.actor == "hha.consent_officer" and listing.outcome == "success"
    assert listing.detail["result_client_ids"] == [maria]
    assert listing.detail["lists"] == [
        "consents_expiring",
        "consents_revoked",
        "consents_to_attest",
    ]

    # The full lists the home links to name the client the same way.
    factories.forget_last_totp_step("hha.consent_officer")  # a second sign-in
    browser = signed_in(app, world, "hha.consent_officer")
    for path in ("/consents/attestations", "/consents/expiring"):
        shown = text_of(browser.get(path))
        assert "Maria Lopez (born 1984-03-12)" in shown, shown
        assert maria[:8] not in shown


def section(page: str, testid: str) -> str:
    """The HTML of the home page's ``<section data-testid=...>``."""
    start = page.index(f'data-testid="{testid}"')
    return page[start : page.index("</section>", start)]


def text_of_html(html: str) -> str:
    import re
    from html import unescape

    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_privacy_officer_finds_a_client_by_name_and_birth_date(app, world, client, maria):
    browser = signed_in(app, world, "cchc.privacy_officer")
    response = browser.get("/", query_string={"q": "maria lopez", "birth_date": "1984-03-12"})
    page = response.get_data(as_text=True)
    assert 'data-testid="found-client"' in page
    assert f"/audit/?client_id={maria}" in page or f"client_id={maria}" in page
    (search,) = factories.events("client.search")
    assert search.detail["result_client_ids"] == [maria]


def test_privacy_officer_home_shows_open_break_glass(app, world, client, maria):
    break_glass(client, "hha.case_worker", maria)
    text = " ".join(text_of_html(home(app, world, "hha.privacy_officer")).split())
    assert "Break-the-glass to review" in text and "hha.case_worker" in text


def test_admin_home_lists_locked_accounts(app, world, client):
    from datetime import timedelta

    from caseops.db_types import utcnow
    from caseops.extensions import db
    from caseops.users.models import User

    user = db.session.query(User).filter_by(username="cchc.case_worker").one()
    user.locked_until = utcnow() + timedelta(minutes=10)
    db.session.commit()
    page = home(app, world, "cchc.agency_admin")
    assert 'data-testid="locked-account"' in page


def test_agencies_are_named_and_times_follow_the_time_zone(app, world, client, maria):
    join_care_team(client, "cchc.case_worker", maria)
    app.config["CASEOPS_TIME_ZONE"] = "America/Chicago"
    try:
        text = text_of(signed_in(app, world, "cchc.case_worker").get("/"))
    finally:
        app.config["CASEOPS_TIME_ZONE"] = "UTC"
    agency = display_name(app, "cchc")
    assert f"signed in for {agency}" in text
    assert "Times are shown in America/Chicago" in text


def display_name(app, code: str) -> str:
    with app.test_request_context():
        return display.agency_name(code)
