"""A case worker finds a client and reads the consented record: shown and withheld
sections with their reasons, a revocation taking effect on the next view, the "updated"
notice while the page is open, and break-the-glass.

Every page the journeys visit, in each state (search results, withheld and shown sections,
the "updated" notice, the break-the-glass form with its error), is checked with axe-core
for WCAG 2.1 AA: no violations."""

from __future__ import annotations

import copy
import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.fixtures.browser import assert_accessible, sign_in
from tests.fixtures.consents import record_consent
from tests.fixtures.pages import maria_records
from tests.fixtures.records import MARIA, bearer, put

pytestmark = pytest.mark.browser


def shown(page, category: str):
    return page.get_by_test_id("section-shown").filter(
        has=page.get_by_role("heading", name=category, exact=True)
    )


def withheld(page, category: str):
    return page.get_by_test_id("section-withheld").filter(
        has=page.get_by_role("heading", name=re.compile(f"^{category}"))
    )


def test_case_worker_reads_what_consent_allows_and_sees_changes(live_server, page, world, client):
    maria = maria_records(client)
    consent_id = record_consent(client, maria)
    page.clock.install()  # lets the test move the page's polling timer forward

    sign_in(page, live_server, world["cchc.case_worker"])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Clients").click()
    expect(page.get_by_role("heading", name="Find a client")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Name").fill("maria lopez")
    page.get_by_role("button", name="Search").click()
    results = page.get_by_role("table")
    expect(results).to_contain_text("1984-03-12")
    assert_accessible(page)
    results.get_by_role("link", name="Maria Lopez").click()

    # Not on the care team yet: even the agency's own record is withheld, with the reason.
    expect(page.get_by_role("heading", name="Client record")).to_be_visible()
    expect(withheld(page, "Health")).to_contain_text("You are not on this client's care team.")
    assert_accessible(page)
    page.get_by_role("button", name="Join care team").click()
    expect(page.get_by_role("status").first).to_have_text("You joined this client's care team.")

    expect(shown(page, "Health")).to_contain_text("asthma")
    expect(shown(page, "Health")).to_contain_text("Your agency's record")
    expect(shown(page, "Housing")).to_contain_text("sheltered")
    expect(shown(page, "Housing")).to_contain_text("Shared under the client's consent")
    benefits = withheld(page, "Economic security")
    expect(benefits).to_contain_text("Withheld")
    expect(benefits).to_contain_text(
        "Ask a consent officer for a consent naming your agency for this category."
    )
    expect(benefits).not_to_contain_text("SNAP")
    assert_accessible(page)

    # A consent officer revokes (through the API): the next view withholds the section.
    officer = factories.token_for("cchc.consent_officer")
    revoked = client.post(
        f"/api/v1/consents/{consent_id}/revoke",
        json={"reason": "Client asked"},
        headers=bearer(officer),
    )
    assert revoked.status_code == 200
    page.reload()
    expect(withheld(page, "Housing")).to_contain_text("revoked the consent")
    expect(page.get_by_text("sheltered")).to_have_count(0)

    # While the page is open, the health center updates a section the worker sees.
    watch = page.locator("[data-record-watch]")
    expect(watch).to_have_attribute("data-watch", "ready")
    notice = page.locator("[data-updated-notice]")
    expect(notice).to_be_hidden()
    update = copy.deepcopy(MARIA) | {
        "category": "health",
        "source_version": 2,
        "data": {"conditions": ["asthma", "hypertension"], "primary_care_provider": "Dr. Reyes"},
    }
    feed = factories.token_for("cchc.integration")
    assert put(client, feed, update, agency="cchc", srid="C-1").status_code == 200
    page.clock.fast_forward("00:21")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("This client's record was updated")
    assert_accessible(page)
    notice.get_by_role("link", name="reload to see the changes").click()
    expect(shown(page, "Health")).to_contain_text("hypertension")


def test_break_the_glass_asks_for_a_justification_then_shows_with_the_badge(
    live_server, page, world, client
):
    maria = maria_records(client)
    sign_in(page, live_server, world["hha.case_worker"])
    page.goto(live_server.url_for(f"/clients/{maria}"))
    expect(withheld(page, "Health")).to_contain_text("No consent on file")
    assert_accessible(page)

    page.get_by_role("link", name="Break the glass…").click()
    expect(page.get_by_role("heading", name="Break the glass")).to_be_visible()
    expect(page.get_by_text("Emergency access only.")).to_be_visible()
    justification = page.get_by_label("Why is this an emergency?")
    expect(page.get_by_text("At least 20 characters.")).to_be_visible()
    assert_accessible(page)
    justification.fill("urgent")
    page.get_by_role("button", name="Break the glass and open the record").click()
    expect(justification).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#justification-errors")).to_contain_text("At least 20 characters.")
    assert_accessible(page)

    justification.fill("Client collapsed at the shelter; need current medication history.")
    page.get_by_label("Access lasts").select_option("30")
    page.get_by_role("button", name="Break the glass and open the record").click()

    expect(page.get_by_text("Break-the-glass access is active")).to_be_visible()
    health = shown(page, "Health")
    expect(health).to_contain_text("asthma")
    expect(health).to_contain_text("Shown under break-the-glass")
    expect(shown(page, "Housing")).to_contain_text("Shown under break-the-glass")
    assert_accessible(page)
