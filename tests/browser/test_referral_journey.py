"""A closed-loop referral in the browser (issue 17): hha's worker refers Maria to cchc for
behavioral health care sharing housing, seeing first what the consents allow; cchc's
supervisor assigns it; cchc's worker accepts, reads housing (not economic security) on
the record page "via referral", and completes it with an outcome; hha's worker reads the
outcome. A second referral ends when the consent is revoked: the record withholds housing
again and the referral page flags the lapsed consent.

Every referral page the journey visits (and the record page it reaches through one) is
checked with axe-core for WCAG 2.1 AA: no violations."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.fixtures.access import join_care_team
from tests.fixtures.browser import assert_accessible, sign_in
from tests.fixtures.consents import source_consent
from tests.fixtures.pages import maria_records
from tests.fixtures.records import bearer
from tests.fixtures.referrals import accepted_referral

pytestmark = pytest.mark.browser


def shown(page, category: str):
    return page.get_by_test_id("section-shown").filter(
        has=page.get_by_role("heading", name=category, exact=True)
    )


def withheld(page, category: str):
    return page.get_by_test_id("section-withheld").filter(
        has=page.get_by_role("heading", name=re.compile(f"^{category}"))
    )


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_test_id("current-user")).to_have_count(0)


def as_person(page, server, world, username: str) -> None:
    factories.forget_last_totp_step(username)  # the journey signs some people in twice
    sign_in(page, server, world[username])


def open_from_nav(page, label: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=label).click()
    expect(page.get_by_role("heading", name=label)).to_be_visible()
    assert_accessible(page)


def status(page):
    return page.get_by_test_id("referral-status")


def test_hha_refers_maria_cchc_closes_the_loop_and_hha_reads_the_outcome(
    live_server, page, world, client
):
    maria = maria_records(client)  # housing and economic security at hha, health at cchc
    assert join_care_team(client, "hha.case_worker", maria).status_code == 201
    # hha's consent: its housing, and the fact of a behavioral-health need, to cchc by name
    source_consent(client, maria, categories=["housing", "behavioral_health"])

    # hha's worker refers from the client page, seeing what the consents allow first
    as_person(page, live_server, world, "hha.case_worker")
    page.goto(live_server.url_for(f"/clients/{maria}"))
    page.get_by_role("link", name="Refer…").click()
    expect(page.get_by_role("heading", name="Refer this client")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Refer to agency").select_option("cchc")
    page.get_by_label("Service requested").select_option("behavioral_health_care")
    page.get_by_role("button", name="Check what the consents allow").click()
    preview = page.get_by_test_id("preview")
    expect(preview.get_by_test_id("referral-itself")).to_contain_text(
        "The referral itself is covered"
    )
    housing = preview.locator('[data-testid="preview-category"][data-category="housing"]')
    expect(housing).to_have_attribute("data-allowed", "yes")
    benefits = preview.locator(
        '[data-testid="preview-category"][data-category="economic_security"]'
    )
    expect(benefits).to_have_attribute("data-allowed", "no")
    expect(benefits).to_contain_text("HHA's records: no consent on file covers it")
    assert_accessible(page)
    share = page.get_by_role("group", name="Share with the referral")
    share.get_by_label("Housing", exact=True).check()
    share.get_by_label("Economic security", exact=True).check()
    page.get_by_label("Note to the receiving agency").fill("Stable address needed first.")
    page.get_by_role("button", name="Send referral").click()
    # the gate refuses economic security, naming the pair; nothing was sent
    expect(page.get_by_role("alert")).to_contain_text(
        "The client's consents do not cover this referral."
    )
    expect(page.get_by_text("economic_security from hha: no_consent")).to_be_visible()
    assert_accessible(page)
    share = page.get_by_role("group", name="Share with the referral")
    expect(share.get_by_label("Housing", exact=True)).to_be_checked()
    share.get_by_label("Economic security", exact=True).uncheck()
    page.get_by_role("button", name="Send referral").click()
    expect(page.get_by_role("status").first).to_have_text("Referral sent.")
    expect(status(page)).to_have_text("Requested")
    referral_url = page.url
    assert_accessible(page)
    open_from_nav(page, "Outgoing referrals")
    expect(page.get_by_test_id("referral-row")).to_have_count(1)
    sign_out(page)

    # cchc's supervisor finds it among the incoming ones and assigns a worker
    as_person(page, live_server, world, "cchc.supervisor")
    open_from_nav(page, "Incoming referrals")
    page.get_by_role("link", name="Behavioral health care").click()
    expect(page.get_by_text("Stable address needed first.")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Assign to").select_option("cchc.case_worker")
    page.get_by_role("button", name="Assign").click()
    expect(page.get_by_role("status").first).to_have_text("Assigned to cchc.case_worker.")
    expect(page.get_by_test_id("assigned-to")).to_have_text("cchc.case_worker")
    assert_accessible(page)
    sign_out(page)

    # cchc's worker accepts, reads housing through the referral, and closes the loop
    as_person(page, live_server, world, "cchc.case_worker")
    open_from_nav(page, "Incoming referrals")
    page.get_by_role("link", name="Behavioral health care").click()
    page.get_by_role("button", name="Accept").click()
    expect(status(page)).to_have_text("Accepted")
    assert_accessible(page)
    page.get_by_role("link", name="Open the client's record").click()
    expect(page.get_by_role("heading", name="Client record")).to_be_visible()
    expect(shown(page, "Housing")).to_contain_text("sheltered")
    expect(shown(page, "Housing").get_by_test_id("via-referral")).to_contain_text("via referral")
    expect(withheld(page, "Economic security")).to_contain_text("Withheld")
    expect(page.get_by_text("SNAP")).to_have_count(0)
    assert_accessible(page)
    shown(page, "Housing").get_by_test_id("via-referral").get_by_role("link").click()
    expect(status(page)).to_have_text("Accepted")
    complete = page.get_by_test_id("move-completed")
    complete.get_by_role("button", name="Complete").click()
    expect(complete.get_by_text("Say what was provided.")).to_be_visible()
    assert_accessible(page)
    complete.get_by_label("Outcome: what was provided").fill(
        "Intake done; weekly counselling booked."
    )
    complete.get_by_role("button", name="Complete").click()
    expect(status(page)).to_have_text("Completed")
    expect(page.get_by_test_id("no-moves")).to_be_visible()
    assert_accessible(page)
    sign_out(page)

    # hha's worker reads the outcome on the referral page
    as_person(page, live_server, world, "hha.case_worker")
    page.goto(referral_url)
    expect(status(page)).to_have_text("Completed")
    expect(page.get_by_test_id("referral-outcome")).to_contain_text(
        "Intake done; weekly counselling booked."
    )
    expect(page.get_by_test_id("history-entry")).to_have_count(3)  # created, accepted, done
    expect(page.get_by_text("cchc.case_worker")).to_have_count(0)
    assert_accessible(page)


def test_a_referral_ends_when_the_consent_is_revoked(live_server, page, world, client):
    maria = maria_records(client)
    assert join_care_team(client, "hha.case_worker", maria).status_code == 201
    consent_id = source_consent(client, maria)  # hha's housing to cchc
    referral_id = accepted_referral(client, maria)  # housing assistance, sharing housing

    as_person(page, live_server, world, "cchc.case_worker")
    page.goto(live_server.url_for(f"/clients/{maria}"))
    expect(shown(page, "Housing").get_by_test_id("via-referral")).to_contain_text(referral_id)

    revoked = client.post(
        f"/api/v1/consents/{consent_id}/revoke",
        json={"reason": "Client asked"},
        headers=bearer(factories.token_for("hha.consent_officer")),
    )
    assert revoked.status_code == 200, revoked.get_json()

    page.reload()
    expect(withheld(page, "Housing")).to_contain_text("revoked the consent")
    expect(page.get_by_text("sheltered")).to_have_count(0)
    expect(page.get_by_test_id("via-referral")).to_have_count(0)
    assert_accessible(page)
    page.goto(live_server.url_for(f"/referrals/{referral_id}"))
    expect(page.get_by_test_id("consent-lapsed")).to_contain_text("consent revoked")
    expect(page.get_by_text("Shared categories open to the receiving agency")).to_have_count(0)
    assert_accessible(page)
    sign_out(page)

    as_person(page, live_server, world, "hha.case_worker")
    open_from_nav(page, "Outgoing referrals")
    row = page.get_by_test_id("referral-row")
    expect(row).to_contain_text("Consent lapsed")
    row.get_by_role("link", name="Housing assistance").click()
    expect(page.get_by_test_id("consent-lapsed")).to_be_visible()
    assert_accessible(page)
