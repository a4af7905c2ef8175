"""A privacy officer opens an incident, contains it, reads the affected clients from the
log, makes the notification records and prints the letters (issue 22).

Every page the journey visits is checked with axe-core for WCAG 2.1 AA; none shows record
contents, and the contained account's token is refused on its next request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from caseops.audit.keys import log_key
from caseops.audit.seal import seal_once
from caseops.extensions import db
from tests import factories
from tests.fixtures.browser import assert_accessible, sign_in
from tests.fixtures.pages import CONTENTS, maria_records, worker_views
from tests.fixtures.records import bearer

pytestmark = pytest.mark.browser
MOMENT = "%Y-%m-%dT%H:%M"


def test_privacy_officer_from_opening_an_incident_to_the_letters(live_server, page, world, client):
    start = datetime.now(UTC) - timedelta(minutes=5)
    maria = maria_records(client)
    worker_views(client, maria)
    seal_once(db.engine, log_key())
    suspect = bearer(factories.token_for("hha.supervisor"))
    sign_in(page, live_server, world["hha.privacy_officer"])

    page.goto(live_server.url_for("/incidents"))
    expect(page.get_by_role("heading", name="Open an incident")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Kind").select_option("security_incident")
    page.get_by_label("What is known").fill("The supervisor's laptop was stolen.")
    page.get_by_label("Accounts (user names, comma-separated)").fill("hha.supervisor")
    page.get_by_label("From (UTC)").fill(start.strftime(MOMENT))
    page.get_by_label("Until (UTC)").fill(
        (datetime.now(UTC) + timedelta(minutes=5)).strftime(MOMENT)
    )
    page.get_by_role("button", name="Open incident").click()
    expect(page.get_by_test_id("incident-status")).to_have_text("open")
    assert_accessible(page)

    page.get_by_label("Why contain").fill("Stolen laptop, signed in")
    page.get_by_role("button", name="Contain").click()
    expect(page.get_by_test_id("incident-status")).to_have_text("contained")
    assert (
        client.get("/api/v1/clients", query_string={"q": "Maria"}, headers=suspect).status_code
        == 401
    )

    page.get_by_test_id("scope-link").click()
    expect(page.get_by_test_id("affected-client")).to_contain_text(maria)
    expect(page.get_by_test_id("affected-client")).to_contain_text("Community Health Center")
    for word in CONTENTS:
        expect(page.locator("main")).not_to_contain_text(word)
    assert_accessible(page)

    page.get_by_role("link", name="Timeline").click()
    page.get_by_role("button", name="Make notification records").click()
    expect(page.get_by_test_id("incident-status")).to_have_text("notified")
    page.get_by_test_id("letters-link").click()
    expect(page.get_by_test_id("letter").first).to_contain_text("What happened")
    expect(page.locator("main")).to_contain_text("[mailing address")
    for word in CONTENTS:
        expect(page.locator("main")).not_to_contain_text(word)
    assert_accessible(page)
