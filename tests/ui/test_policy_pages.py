"""The policy page through the Flask test client: the rules in words, a draft carried by
the forms, the impact before saving, and the explicit, logged confirmation a disclosing
change needs (issue 19, items 6 and 8)."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from tests import factories
from tests.fixtures.pages import csrf_of, signed_in, text_of
from tests.fixtures.policies import (
    HOUSING_DENY,
    PART2_DENY,
    hha_worker_saw_housing,
    hha_worker_saw_rrp_part2,
    policy_version,
    stored_rules,
    withhold_first,
)

REASON = "Reinstating housing access after the pilot"


def draft_of(*items: tuple[str, dict]) -> str:
    return json.dumps([{"change": change} | rule for change, rule in items])


def hidden(response, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', response.get_data(as_text=True))
    assert match, f"no hidden {name}"
    return unescape(match.group(1))


@pytest.mark.parametrize("role", ["case_worker", "supervisor", "consent_officer", "agency_admin"])
def test_only_administrators_and_privacy_officers_open_the_page(app, world, role):
    browser = signed_in(app, world, f"hha.{role}")
    assert browser.get("/policies").status_code == 403
    assert ">Policy<" not in browser.get("/").get_data(as_text=True)
    [denied] = factories.events("policy.denied")
    assert denied.actor == f"hha.{role}"


def test_the_rules_are_listed_in_words(app, world):
    browser = signed_in(app, world, "hha.system_admin")
    assert ">Policy<" in browser.get("/").get_data(as_text=True)
    page = text_of(browser.get("/policies"))
    assert "Case workers in every agency may read client records of every category." in page
    assert f"policy version {policy_version()}" in page
    assert "The draft is empty." in page


def test_rules_are_drafted_and_taken_out_without_saving_anything(app, world):
    browser = signed_in(app, world, "hha.system_admin")
    token = csrf_of(browser, "/policies")
    rules = stored_rules()
    added = browser.post(
        "/policies/draft",
        data={"csrf_token": token, "draft": "", "change": "add"} | HOUSING_DENY,
    )
    assert added.status_code == 200
    assert "Case workers of hha may not read housing records." in text_of(added)
    draft = hidden(added, "draft")
    assert json.loads(draft) == [{"change": "add"} | HOUSING_DENY]
    again = browser.post(
        "/policies/draft",
        data={"csrf_token": token, "draft": draft, "change": "add"} | HOUSING_DENY,
    )
    assert "The draft has this rule already." in text_of(again)
    dropped = browser.post("/policies/draft/0/drop", data={"csrf_token": token, "draft": draft})
    assert "The draft is empty." in text_of(dropped)
    bad = browser.post(
        "/policies/draft",
        data={"csrf_token": token, "draft": "", "change": "add"}
        | HOUSING_DENY
        | {"sub": "privacy_officer", "eft": "allow"},
    )
    assert bad.status_code == 422 and "Separation of duties" in text_of(bad)
    garbled = browser.post("/policies/preview", data={"csrf_token": token, "draft": "[{"})
    assert "The draft could not be read" in text_of(garbled)
    assert stored_rules() == rules


def test_a_disclosing_draft_is_saved_only_with_the_box_ticked_and_a_reason(
    app, world, client, maria_at_three_agencies
):
    hha_worker_saw_housing(client, maria_at_three_agencies)
    withhold_first(client)
    browser = signed_in(app, world, "hha.system_admin")
    token = csrf_of(browser, "/policies")
    draft = draft_of(("remove", HOUSING_DENY))
    preview = browser.post("/policies/preview", data={"csrf_token": token, "draft": draft})
    assert preview.status_code == 200
    page = text_of(preview)
    assert "1 section newly shown, 0 newly withheld" in page
    assert "I understand this change newly discloses 1 section of client records" in page
    assert "Counts only" in page and maria_at_three_agencies not in page
    confirm = hidden(preview, "token")
    version = policy_version()

    unticked = browser.post(
        "/policies/save",
        data={"csrf_token": token, "draft": draft, "token": confirm, "reason": REASON},
    )
    assert unticked.status_code == 409 and "tick the box" in text_of(unticked)
    short = browser.post(
        "/policies/save",
        data={"csrf_token": token, "draft": draft, "token": confirm, "understood": "y"},
    )
    assert short.status_code == 422 and "Give the reason" in text_of(short)
    assert policy_version() == version

    saved = browser.post(
        "/policies/save",
        data={
            "csrf_token": token,
            "draft": draft,
            "token": confirm,
            "understood": "y",
            "reason": REASON,
        },
        follow_redirects=True,
    )
    page = text_of(saved)
    assert f"Saved: the policy is now at version {version + 1}." in page
    assert "Your confirmation of 1 newly shown section(s) is in the access log." in page
    [entry] = factories.events("policy.rule_removed")
    assert entry.actor == "hha.system_admin"
    assert entry.detail["confirmed_disclosure"]["reason"] == REASON
    assert entry.detail["confirmed_disclosure"]["newly_shown"] == [
        {"agency": "hha", "category": "housing", "count": 1}
    ]


def test_a_withholding_draft_is_saved_without_confirmation(
    app, world, client, maria_at_three_agencies
):
    hha_worker_saw_housing(client, maria_at_three_agencies)
    browser = signed_in(app, world, "hha.system_admin")
    token = csrf_of(browser, "/policies")
    draft = draft_of(("add", HOUSING_DENY))
    preview = browser.post("/policies/preview", data={"csrf_token": token, "draft": draft})
    page = text_of(preview)
    assert "0 sections newly shown, 1 newly withheld" in page
    assert "it needs no confirmation" in page and "I understand" not in page
    saved = browser.post(
        "/policies/save", data={"csrf_token": token, "draft": draft}, follow_redirects=True
    )
    assert "Saved: the policy is now at version" in text_of(saved)
    [entry] = factories.events("policy.rule_added")
    assert "confirmed_disclosure" not in entry.detail


def test_a_confirmation_from_another_preview_does_not_save(
    app, world, client, maria_at_three_agencies
):
    """The box ticked on a stale preview (the impact grew since): refused, shown again."""
    factories.make_user("hha.case_worker2", "hha", ["case_worker"])
    hha_worker_saw_housing(client, maria_at_three_agencies)
    withhold_first(client)
    browser = signed_in(app, world, "hha.system_admin")
    token = csrf_of(browser, "/policies")
    draft = draft_of(("remove", HOUSING_DENY))
    confirm = hidden(
        browser.post("/policies/preview", data={"csrf_token": token, "draft": draft}), "token"
    )
    hha_worker_saw_housing(client, maria_at_three_agencies, "hha.case_worker2", shown=False)
    data = {"csrf_token": token, "draft": draft, "token": confirm, "understood": "y"}
    stale = browser.post("/policies/save", data=data | {"reason": REASON})
    assert stale.status_code == 409
    assert "2 sections newly shown" in text_of(stale)
    assert factories.events("policy.rule_removed") == []


def test_privacy_officers_preview_with_examples_in_their_scope_and_cannot_save(
    app, world, client, maria_at_three_agencies
):
    """hha's worker was shown rrp's Part 2 record: hha's officer sees the example; cchc's
    officer (in scope: cchc holds Maria's records) is told nothing of it."""
    hha_worker_saw_rrp_part2(client, maria_at_three_agencies)
    draft = draft_of(("add", PART2_DENY))
    hha = signed_in(app, world, "hha.privacy_officer")
    page = hha.post(
        "/policies/preview", data={"csrf_token": csrf_of(hha, "/policies"), "draft": draft}
    )
    assert page.status_code == 200
    text = text_of(page)
    assert "rrp/substance_use" in text and "hha.case_worker" in text
    assert "Save the change" not in text and "Rules in force" not in text
    cchc = signed_in(app, world, "cchc.privacy_officer")
    page = cchc.post(
        "/policies/preview", data={"csrf_token": csrf_of(cchc, "/policies"), "draft": draft}
    )
    text = text_of(page)
    assert "rrp" not in text and "hha.case_worker" not in text
    assert "0 sections newly shown, 0 newly withheld" in text
    assert "No examples within your oversight." in text
    assert (
        cchc.post(
            "/policies/save", data={"csrf_token": csrf_of(cchc, "/policies"), "draft": draft}
        ).status_code
        == 403
    )
