"""A client sees who looked and withdraws a consent (issue 19).

A consent officer of hha issues Maria an access code from her consents (shown once on a
printable page). Maria signs in on /my with the code and her birth date and sees the view
an hha case worker made minutes earlier: the organisation, the purpose, the categories
shown and the basis (her consent). She revokes that consent (with a confirmation step),
and the hha worker's next view withholds the section (consent_revoked).

Every page on the way (the officer's access-code list and printable code, the client's
sign-in with and without an error, who looked, the printable statement, my consents, the
confirmation, my referrals) is checked with axe-core for WCAG 2.1 AA: no violations; the
client's pages at a phone's width."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.access import join_care_team, sections, view
from tests.fixtures.browser import assert_accessible, sign_in
from tests.fixtures.consents import consent_for
from tests.fixtures.pages import maria_records
from tests.fixtures.portal import MARIA_BIRTH_DATE

pytestmark = pytest.mark.browser


def test_client_sees_a_view_and_revokes_the_consent_behind_it(live_server, page, world, client):
    maria = maria_records(client)
    consent_id = consent_for(
        client,
        maria,
        by="cchc",
        source_agencies=["cchc"],
        categories=["health"],
        recipients=["hha"],
    )
    assert join_care_team(client, "hha.case_worker", maria).status_code == 201
    assert sections(view(client, "hha.case_worker", maria))[("cchc", "health")]["status"] == "shown"

    # The consent officer issues a code from the client's consents.
    sign_in(page, live_server, world["hha.consent_officer"])
    page.goto(live_server.url_for(f"/clients/{maria}/consents"))
    page.get_by_role("link", name="Issue access code").click()
    expect(page.get_by_role("heading", name="Access codes")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Issue access code").click()
    expect(page.get_by_role("heading", name="Your access code")).to_be_visible()
    expect(page.get_by_role("heading", name="How to sign in")).to_be_visible()
    assert_accessible(page)
    code = page.get_by_test_id("access-code-text").inner_text().strip()
    assert re.fullmatch(r"([2-9A-Z]{4}-){5}[2-9A-Z]{4}", code), code
    page.get_by_role("link", name="Back to the access codes").click()
    expect(page.get_by_test_id("access-code")).to_contain_text("Active")
    expect(page.get_by_text(code)).to_have_count(0)  # never shown again
    page.get_by_role("button", name="Sign out").click()

    # The client, on a phone.
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(live_server.url_for("/my"))
    expect(page.get_by_role("heading", name="See who looked at your record")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Access code").fill(code.lower())
    page.get_by_label("Your birth date").fill("1984-03-13")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    assert_accessible(page)
    page.get_by_label("Access code").fill(code.lower())
    page.get_by_label("Your birth date").fill(MARIA_BIRTH_DATE)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Who looked at your record")).to_be_visible()
    entry = page.get_by_test_id("access-entry").filter(has_text="Harbor Housing Authority")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("A case worker")
    expect(entry).to_contain_text("To coordinate your care")
    expect(entry).to_contain_text("Health (from Community Health Center)")
    expect(entry.get_by_test_id("basis")).to_contain_text("Your consent of")
    expect(entry).not_to_contain_text("hha.case_worker")  # staff names are off by default
    assert_accessible(page)

    page.get_by_role("link", name="Printable statement").click()
    expect(page.get_by_role("heading", name="Signed checkpoint")).to_be_visible()
    printed = page.get_by_test_id("statement-entry").filter(has_text="Harbor Housing Authority")
    expect(printed).to_have_count(1)
    assert_accessible(page)
    page.get_by_role("link", name="Back to your record").click()

    page.get_by_role("navigation", name="Your pages").get_by_role(
        "link", name="My consents"
    ).click()
    mine = page.locator(f"#{consent_id}")
    expect(mine).to_contain_text("Community Health Center may share your health information")
    assert_accessible(page)
    mine.get_by_role("link", name=f"Revoke consent {consent_id}").click()
    expect(page.get_by_role("heading", name="Revoke this consent?")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Yes, revoke this consent").click()
    expect(page.get_by_role("status").first).to_contain_text("You revoked this consent")
    expect(page.get_by_test_id("my-ended-consent")).to_contain_text("Revoked on")
    expect(page.get_by_role("link", name=f"Revoke consent {consent_id}")).to_have_count(0)
    assert_accessible(page)

    page.get_by_role("link", name="My referrals").click()
    expect(page.get_by_text("No agency has referred you to another.")).to_be_visible()
    assert_accessible(page)

    # The hha worker's next view withholds the section: the client's revocation counts.
    after = sections(view(client, "hha.case_worker", maria))[("cchc", "health")]
    assert after["status"] == "withheld" and after["reason"] == "consent_revoked"

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    page.goto(live_server.url_for("/my/consents"))
    expect(page.get_by_role("heading", name="See who looked at your record")).to_be_visible()
