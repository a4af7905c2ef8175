"""The worker's desk in the browser (issue 18): a case worker's home shows a referral
addressed to them arriving while the page is open (no reload: the event stream, or the
notifications poll where a stream cannot be held), a task a supervisor assigns, and
marks a client whose record changed since the worker last opened it; a privacy officer
finds a client by name and birth date and sees who looked; the sharing matrix of a
client known to thirty agencies fits a 1280-pixel screen.

Every page the journeys visit is checked with axe-core for WCAG 2.1 AA."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.fixtures.access import join_care_team
from tests.fixtures.browser import assert_accessible, sign_in
from tests.fixtures.consents import source_consent
from tests.fixtures.pages import maria_records, worker_views
from tests.fixtures.records import bearer
from tests.fixtures.referrals import refer

pytestmark = pytest.mark.browser


def desk(page, live_server) -> None:
    page.goto(live_server.url_for("/"))
    expect(page.get_by_role("heading", name="My clients")).to_be_visible()


def test_a_referral_and_a_task_reach_the_workers_open_desk(live_server, page, world, client):
    maria = maria_records(client)  # housing and economic security at hha, health at cchc
    assert join_care_team(client, "cchc.case_worker", maria).status_code == 201
    assert join_care_team(client, "hha.case_worker", maria).status_code == 201
    source_consent(client, maria, categories=["housing", "behavioral_health"])

    sign_in(page, live_server, world["cchc.case_worker"])
    desk(page, live_server)
    caseload = page.get_by_test_id("caseload-client")
    expect(caseload).to_have_count(1)
    expect(caseload).to_contain_text("Maria Lopez")
    expect(caseload).to_contain_text("1984-03-12")
    expect(caseload.get_by_test_id("changed")).to_be_visible()  # never opened yet
    expect(page.get_by_test_id("incoming-referral")).to_have_count(0)
    assert_accessible(page)

    # hha's worker refers Maria to cchc, addressed to this worker, while the desk is open
    sent = refer(
        client,
        maria,
        by="hha.case_worker",
        service="behavioral_health_care",
        shared=("housing",),
        to_user="cchc.case_worker",
    )
    assert sent.status_code == 201, sent.get_json()
    referral_id = sent.get_json()["id"]
    notice = page.get_by_test_id("notification").filter(has_text="New referral")
    expect(notice).to_have_count(1)  # arrived without a reload
    row = page.locator(f'[data-testid="incoming-referral"][data-referral="{referral_id}"]')
    expect(row).to_contain_text("Behavioral health care for Maria Lopez")
    expect(row).to_contain_text("Harbor Housing Authority")
    assert_accessible(page)

    # cchc's supervisor gives the worker a task on Maria; it is announced on the desk
    task = client.post(
        f"/api/v1/clients/{maria}/tasks",
        json={"title": "Call Maria about the intake", "assignee": "cchc.case_worker"},
        headers=bearer(factories.token_for("cchc.supervisor")),
    )
    assert task.status_code == 201, task.get_json()
    assigned = page.get_by_test_id("notification").filter(has_text="A task was assigned to you")
    expect(assigned).to_contain_text("Maria Lopez")
    assert_accessible(page)
    page.reload()
    mine = page.get_by_test_id("task").filter(has_text="Call Maria about the intake")
    expect(mine).to_have_count(1)
    assert_accessible(page)

    # opening the record clears the mark; the worker's look is logged as every view is
    page.get_by_test_id("caseload-client").get_by_role("link", name="Maria Lopez").click()
    expect(page.get_by_role("heading", name="Client record")).to_be_visible()
    expect(page.get_by_text("Maria Lopez").first).to_be_visible()  # name on the record page
    desk(page, live_server)
    expect(page.get_by_test_id("caseload-client").get_by_test_id("changed")).to_have_count(0)
    assert_accessible(page)


def test_a_privacy_officer_finds_a_client_by_name_and_birth_date(live_server, page, world, client):
    maria = maria_records(client)
    worker_views(client, maria)
    sign_in(page, live_server, world["hha.privacy_officer"])
    search = page.get_by_test_id("privacy-search")
    expect(search.get_by_role("heading", name="Find a client")).to_be_visible()
    assert_accessible(page)
    search.get_by_label("Name").fill("Maria Lopez")
    search.get_by_label("Birth date").fill("1984-03-12")
    search.get_by_role("button", name="Search").click()
    found = page.get_by_test_id("found-client")
    expect(found).to_have_count(1)
    expect(found).to_contain_text("Maria Lopez")
    expect(found).not_to_contain_text(maria)  # no ids to paste
    assert_accessible(page)
    found.get_by_role("link", name="Who looked at Maria Lopez").click()
    expect(page.get_by_test_id("access-events")).to_contain_text("hha.supervisor")
    assert_accessible(page)


def test_the_sharing_matrix_fits_1280_pixels_with_thirty_agencies(live_server, page, world, client):
    for n in range(27):
        factories.make_agency(f"ag{n:02d}", name=f"Agency number {n:02d} of the county")
    maria = maria_records(client)
    source_consent(client, maria)
    sign_in(page, live_server, world["hha.consent_officer"])
    # Thirty agencies make the first matrix of each gunicorn worker slow today (the
    # agreement waivers ask the policy once per agency pair, uncached): wait for it.
    page.set_default_timeout(90_000)
    page.goto(live_server.url_for(f"/clients/{maria}/sharing"))
    matrix = page.get_by_test_id("sharing-matrix")
    expect(matrix).to_be_visible()
    assert matrix.locator("tbody tr").count() >= 30  # a row per recipient agency
    widths = page.evaluate(
        """() => ({
            page: document.documentElement.scrollWidth,
            viewport: document.documentElement.clientWidth,
            table: document.querySelector('[data-testid=sharing-matrix]').scrollWidth,
            card: document.querySelector('.matrix-card').clientWidth,
        })"""
    )
    assert widths["page"] <= widths["viewport"], widths
    assert widths["table"] <= widths["card"], widths
    assert_accessible(page)
    # one recipient at a time
    page.get_by_label("Show what may go to").select_option("cchc")
    page.get_by_role("button", name="Show").last.click()
    expect(matrix.get_by_role("row")).to_have_count(2)
    expect(matrix).to_contain_text(re.compile("Community Health Center"))
    assert_accessible(page)


@pytest.mark.parametrize(
    "username", ["cchc.supervisor", "cchc.consent_officer", "cchc.agency_admin"]
)
def test_every_personas_home_is_accessible(live_server, page, world, client, username):
    maria = maria_records(client)
    assert join_care_team(client, "cchc.case_worker", maria).status_code == 201
    source_consent(client, maria, categories=["housing", "behavioral_health"])
    assert join_care_team(client, "hha.case_worker", maria).status_code == 201
    sent = refer(client, maria, by="hha.case_worker", service="behavioral_health_care")
    assert sent.status_code == 201, sent.get_json()  # requested, nobody assigned yet
    sign_in(page, live_server, world[username])
    page.goto(live_server.url_for("/"))
    expect(page.get_by_role("heading", name=f"Welcome, {username}")).to_be_visible()
    if username == "cchc.supervisor":
        expect(page.get_by_test_id("agency-caseload")).to_contain_text("cchc.case_worker")
        expect(page.get_by_test_id("unassigned-referral")).to_have_count(1)
    elif username == "cchc.consent_officer":
        expect(page.get_by_test_id("expiring")).to_be_visible()
        expect(page.get_by_test_id("revocations")).to_be_visible()
    else:
        expect(page.get_by_test_id("admin-accounts")).to_be_visible()
    assert_accessible(page)
