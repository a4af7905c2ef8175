"""A system administrator drafts a change that would newly disclose a section of a client
record, previews its impact (counts only), confirms it explicitly with a reason, and the
change is saved; the access log holds the confirmation, and the worker sees the section
again (issue 19, item 6).

Every page the journey visits (the policy page, with a draft, with the impact and its
confirmation, after saving) is checked with axe-core for WCAG 2.1 AA: no violations."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.fixtures.access import sections, view
from tests.fixtures.browser import assert_accessible, sign_in
from tests.fixtures.pages import maria_records
from tests.fixtures.policies import hha_worker_saw_housing, policy_version, withhold_first
from tests.fixtures.records import bearer

pytestmark = pytest.mark.browser

REASON = "Pilot ended; housing staff need the record back"


def test_system_admin_confirms_a_disclosing_change(live_server, page, world, client):
    maria = maria_records(client)
    hha_worker_saw_housing(client, maria)
    withhold_first(client)  # hha's case workers may not read housing: withholds only
    version = policy_version()
    sign_in(page, live_server, world["hha.system_admin"])

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policy").click()
    expect(page.get_by_role("heading", name="Policy", exact=True)).to_be_visible()
    expect(page.get_by_test_id("draft-empty")).to_be_visible()
    assert_accessible(page)

    # Draft the removal of the deny, in words.
    deny = page.get_by_test_id("rule").filter(
        has_text="Case workers of hha may not read housing records."
    )
    deny.get_by_role("button", name="Draft removal").click()
    draft = page.get_by_test_id("draft-item")
    expect(draft).to_have_count(1)
    expect(draft).to_contain_text("Remove")
    expect(draft).to_contain_text("Case workers of hha may not read housing records.")
    assert_accessible(page)

    # Its impact before anything is saved: counts only, by agency and category.
    page.get_by_role("button", name="Preview impact").click()
    expect(page.get_by_test_id("impact-summary")).to_contain_text("1 section newly shown")
    shown = page.get_by_test_id("newly-shown")
    expect(shown.get_by_role("row").nth(1)).to_contain_text("hha")
    expect(shown.get_by_role("row").nth(1)).to_contain_text("Housing")
    expect(page.locator("main")).not_to_contain_text(maria)
    expect(page.get_by_test_id("confirmation")).to_be_visible()
    assert_accessible(page)
    assert policy_version() == version  # a preview saves nothing

    # Explicit confirmation, with a reason.
    page.get_by_label("I understand this change newly discloses 1 section").check()
    page.get_by_label("Reason for the disclosure").fill(REASON)
    page.get_by_role("button", name="Save the change").click()
    expect(page.get_by_role("status").first).to_contain_text(
        f"Saved: the policy is now at version {version + 1}."
    )
    expect(page.get_by_role("status").first).to_contain_text("Your confirmation of 1 newly shown")
    expect(
        page.get_by_test_id("rule").filter(
            has_text="Case workers of hha may not read housing records."
        )
    ).to_have_count(0)
    expect(page.get_by_test_id("draft-empty")).to_be_visible()
    assert_accessible(page)

    # The access log shows the confirmation (as the privacy officer reads it).
    officer = bearer(factories.token_for("hha.privacy_officer"))
    logged = client.get(
        "/api/v1/audit/events", query_string={"action": "policy.rule_removed"}, headers=officer
    )
    assert logged.status_code == 200, logged.get_json()
    [entry] = logged.get_json()["items"]
    assert entry["actor"] == "hha.system_admin"
    confirmed = entry["detail"]["confirmed_disclosure"]
    assert confirmed["reason"] == REASON
    assert confirmed["newly_shown"] == [{"agency": "hha", "category": "housing", "count": 1}]
    # ...and the worker sees the section again.
    assert sections(view(client, "hha.case_worker", maria))[("hha", "housing")]["status"] == "shown"
