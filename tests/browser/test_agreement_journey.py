"""Agency administrators record a data sharing agreement, each accepts it on the Agreements
page, and the privacy officer's home lists it as ending soon (issue 22). Every page the
journey visits is checked with axe-core for WCAG 2.1 AA."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from caseops.db_types import utcnow
from tests.fixtures.browser import assert_accessible, sign_in

pytestmark = pytest.mark.browser
PDF = b"%PDF-1.4\n% signed MOU\n%%EOF\n"


def test_admins_record_and_accept_an_agreement_then_homes_show_it_ending(
    live_server, page, world, tmp_path
):
    document = tmp_path / "mou.pdf"
    document.write_bytes(PDF)
    today = utcnow().date()
    sign_in(page, live_server, world["hha.agency_admin"])
    page.get_by_role("link", name="Agreements").first.click()
    expect(page.get_by_role("heading", name="Data sharing agreements")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Title").fill("Harbor and health MOU")
    page.get_by_label("Parties (agency codes, comma-separated)").fill("hha, cchc")
    page.get_by_label("Starts on").fill(today.isoformat())
    page.get_by_label("Termination date").fill((today + timedelta(days=20)).isoformat())
    page.get_by_label("housing").check()
    page.get_by_label("care coordination").check()
    page.get_by_label("Signed document (PDF or image)").set_input_files(str(document))
    page.get_by_role("button", name="Record").click()
    row = page.get_by_test_id("agreement")
    expect(row).to_have_attribute("data-status", "pending")
    assert_accessible(page)
    page.get_by_role("button", name="Accept for Harbor Housing Authority").click()
    expect(page.get_by_text("Your agency accepted")).to_be_visible()

    page.context.clear_cookies()
    sign_in(page, live_server, world["cchc.agency_admin"])
    page.goto(live_server.url_for("/agreements"))
    page.get_by_role("button", name="Accept for Community Health Center").click()
    expect(page.get_by_test_id("agreement")).to_have_attribute("data-status", "active")
    assert_accessible(page)

    page.context.clear_cookies()
    sign_in(page, live_server, world["cchc.privacy_officer"])
    expect(page.get_by_test_id("expiring-agreement")).to_contain_text("Harbor and health MOU")
    assert_accessible(page)
