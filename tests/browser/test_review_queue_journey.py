"""A data steward works the linkage review queue: compares a pair, links it, and the
pair leaves the queue.

The queue, with a pair and empty, is checked with axe-core for WCAG 2.1 AA: no
violations."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import assert_accessible, sign_in
from tests.fixtures.pages import queue_a_pair

pytestmark = pytest.mark.browser


def test_data_steward_links_a_pair_and_it_leaves_the_queue(live_server, page, world, client):
    queue_a_pair(client)
    sign_in(page, live_server, world["hha.data_steward"])

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review queue").click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    expect(page.get_by_text("1 pair waiting.")).to_be_visible()
    pair = page.get_by_test_id("review-item")
    expect(pair).to_have_count(1)
    comparison = pair.get_by_role("table")
    expect(comparison.get_by_role("row", name="Name")).to_contain_text("differs")
    expect(comparison.get_by_role("row", name="Birth date")).to_contain_text("same")
    assert_accessible(page)

    pair.get_by_role("button", name="Link: same person").click()
    expect(page.get_by_role("status").first).to_contain_text("Linked as the same person")
    expect(page.get_by_test_id("review-item")).to_have_count(0)
    expect(page.get_by_test_id("queue-empty")).to_have_text("No pairs are waiting for review.")
    expect(page.get_by_role("table")).to_contain_text("Linked")
    assert_accessible(page)
