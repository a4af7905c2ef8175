"""A privacy officer finds who viewed a client, downloads the accounting of disclosures
as CSV, reviews a break-the-glass event and sees the verification status.

Every audit page the journey visits (who viewed, with results; the accounting of
disclosures; break-the-glass review, open and reviewed; access activity; verification,
before and after a check) is checked with axe-core for WCAG 2.1 AA: no violations."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from caseops.audit.keys import log_key
from caseops.audit.seal import seal_once
from caseops.extensions import db
from tests.fixtures.browser import assert_accessible, sign_in
from tests.fixtures.pages import CONTENTS, maria_records, worker_views

pytestmark = pytest.mark.browser


def test_privacy_officer_audits_a_client(live_server, page, world, client):
    maria = maria_records(client)
    worker_views(client, maria)
    seal_once(db.engine, log_key())
    sign_in(page, live_server, world["hha.privacy_officer"])

    # Who viewed the client.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", name="Who viewed a client")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Client id").fill(maria)
    page.get_by_role("button", name="Show access").click()
    events = page.get_by_test_id("access-events")
    expect(events).to_contain_text("cchc.case_worker")
    expect(events).to_contain_text("hha.supervisor")
    expect(events).to_contain_text("hha/housing")
    for word in CONTENTS:
        expect(page.locator("main")).not_to_contain_text(word)
    assert_accessible(page)

    # The accounting of disclosures, and its CSV.
    page.get_by_role("link", name="Accounting of disclosures").click()
    expect(page.get_by_role("heading", name="2 disclosures")).to_be_visible()
    rows = page.get_by_test_id("disclosure")
    expect(rows.first).to_contain_text("cchc.case_worker")
    expect(rows.first).to_contain_text("hha/housing")
    assert_accessible(page)
    with page.expect_download() as download_info:
        page.get_by_test_id("disclosures-csv").click()
    download = download_info.value
    assert download.suggested_filename == f"disclosures-{maria}.csv"
    lines = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert [r["recipient_person"] for r in lines] == ["cchc.case_worker", "hha.supervisor"]
    assert lines[1]["basis"] == "break_glass"

    # Review the break-the-glass event.
    page.get_by_role("navigation", name="Audit").get_by_role(
        "link", name="Break-the-glass review"
    ).click()
    expect(page.get_by_text("1 grant (open).")).to_be_visible()
    grant = page.get_by_test_id("grant")
    expect(grant).to_contain_text("hha.supervisor")
    expect(grant).to_contain_text("Client unconscious in ER")
    assert_accessible(page)
    grant.get_by_label("Note").fill("Confirmed with the ER admission log")
    grant.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status").first).to_contain_text("Acknowledged break-the-glass grant")
    expect(page.get_by_test_id("grant")).to_have_count(0)
    assert_accessible(page)
    page.get_by_role("link", name="Reviewed").click()
    expect(page.get_by_test_id("reviews")).to_contain_text("Confirmed with the ER admission log")
    assert_accessible(page)

    # Access activity over the period, with its flags.
    page.get_by_role("navigation", name="Audit").get_by_role("link", name="Activity").click()
    expect(page.get_by_role("heading", name="Access activity")).to_be_visible()
    assert_accessible(page)

    # Verification status.
    page.get_by_role("navigation", name="Audit").get_by_role("link", name="Verification").click()
    expect(page.get_by_test_id("checkpoint")).to_contain_text("Entries sealed")
    assert_accessible(page)
    page.get_by_role("button", name="Verify now").click()
    expect(page.get_by_test_id("verify-result")).to_contain_text("Verified: the log is intact")
    assert_accessible(page)
