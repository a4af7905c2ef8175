"""Notes and tasks in the browser (issue 18): hha's worker writes a note on Maria's record
page, reads it in its section, amends it (the page says "Amended", why, and keeps the
original), creates a task for tomorrow, finds it under My tasks and marks it done.

Every page the journey visits is checked with axe-core for WCAG 2.1 AA: no violations."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.fixtures.access import join_care_team
from tests.fixtures.browser import assert_accessible, sign_in
from tests.fixtures.pages import maria_records

pytestmark = pytest.mark.browser


def test_a_worker_writes_and_amends_a_note_and_keeps_a_task(live_server, page, world, client):
    maria = maria_records(client)
    assert join_care_team(client, "hha.case_worker", maria).status_code == 201
    sign_in(page, live_server, world["hha.case_worker"])
    page.goto(live_server.url_for(f"/clients/{maria}"))
    expect(page.get_by_role("heading", name="Client record")).to_be_visible()
    assert_accessible(page)

    # a note, in the housing category: it appears as a section of hha
    page.get_by_role("link", name="Add a note…").click()
    expect(page.get_by_role("heading", name="Add a note")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Category").select_option("housing")
    page.get_by_label("Note", exact=True).fill("Keys handed over at Shelter B.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("status").first).to_have_text("Note added.")
    note = page.get_by_test_id("note")
    expect(note).to_contain_text("Keys handed over at Shelter B.")
    expect(page.get_by_role("heading", name="Housing note")).to_be_visible()
    assert_accessible(page)

    # amended: the page says so, and why, and keeps the original
    note.get_by_text("Amend this note").click()
    note.get_by_label("Amended text").fill("Keys handed over at Shelter C.")
    note.get_by_label("Why amend?").fill("Wrong shelter named")
    note.get_by_role("button", name="Save amendment").click()
    expect(page.get_by_role("status").first).to_have_text("Note amended; the original is kept.")
    note = page.get_by_test_id("note")
    expect(note.get_by_test_id("amended")).to_have_text("Amended")
    expect(note).to_contain_text("Keys handed over at Shelter C.")
    note.get_by_text("Amendments (1) and the original").click()
    expect(note).to_contain_text("Wrong shelter named")
    expect(note).to_contain_text("Original text: Keys handed over at Shelter B.")
    assert_accessible(page)

    # a task for tomorrow, then done from My tasks
    tasks = page.get_by_test_id("client-tasks")
    tasks.get_by_label("Task", exact=True).fill("Bring the lease to Shelter C")
    tasks.get_by_label("Due by (optional)").fill((date.today() + timedelta(days=1)).isoformat())
    tasks.get_by_role("button", name="Create task").click()
    expect(page.get_by_role("status").first).to_have_text("Task created.")
    expect(page.get_by_test_id("task")).to_contain_text("Bring the lease to Shelter C")
    assert_accessible(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My tasks").click()
    expect(page.get_by_role("heading", name="My tasks")).to_be_visible()
    row = page.get_by_test_id("task-row")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-overdue", "no")
    assert_accessible(page)
    row.get_by_role("button", name="Mark done").click()
    expect(page.get_by_role("status").first).to_have_text("Task marked done.")
    expect(page.get_by_test_id("task-row")).to_have_count(0)
    assert_accessible(page)
