"""The client page's notes and tasks, and "My tasks" (issue 18), through a browser session
(forms with CSRF, post/redirect/get)."""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, timedelta

from caseops.tasks import service as tasks_service
from tests import factories
from tests.fixtures.notes import maria_at, note_written, task_created
from tests.fixtures.pages import csrf_of, signed_in, text_of
from tests.fixtures.records import MARIA, put


def _client_page(maria) -> str:
    return f"/clients/{maria}"


def test_a_worker_adds_a_note_and_reads_it_in_its_section(app, world, client, maria_for_notes):
    browser = signed_in(app, world, "hha.case_worker")
    page = browser.get(_client_page(maria_for_notes))
    assert page.status_code == 200
    assert f"/clients/{maria_for_notes}/notes/new" in page.get_data(as_text=True)
    form = browser.get(f"/clients/{maria_for_notes}/notes/new")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert 'name="category"' in html and "Substance use (42 CFR Part 2)" in html
    response = browser.post(
        f"/clients/{maria_for_notes}/notes",
        data={
            "csrf_token": factories.csrf_token(html),
            "category": "housing",
            "text": "Keys handed over at Shelter C",
        },
    )
    assert response.status_code == 302
    shown = text_of(browser.get(_client_page(maria_for_notes)))
    assert "Housing note" in shown and "Keys handed over at Shelter C" in shown
    assert "Note added." in shown


def test_an_amended_note_says_amended_with_why_and_keeps_the_original(
    app, world, client, maria_for_notes
):
    note_id = note_written(client, "hha.case_worker", maria_for_notes, "housing", "Shelter B")
    browser = signed_in(app, world, "hha.case_worker")
    token = csrf_of(browser, _client_page(maria_for_notes))
    response = browser.post(
        f"/notes/{note_id}/amend",
        data={"csrf_token": token, "text": "Shelter C", "reason": "Wrong shelter named"},
    )
    assert response.status_code == 302
    page = browser.get(_client_page(maria_for_notes))
    html = page.get_data(as_text=True)
    assert 'data-testid="amended"' in html
    text = text_of(page)
    assert "Shelter C" in text and "Wrong shelter named" in text
    assert "Original text: Shelter B" in text


def test_another_agency_sees_a_withheld_note_section_without_words(
    app, world, client, maria_for_notes
):
    note_written(client, "hha.case_worker", maria_for_notes, "behavioral_health", "Panic attacks")
    browser = signed_in(app, world, "cchc.supervisor")
    text = text_of(browser.get(_client_page(maria_for_notes)))
    assert "Behavioral health notes from Harbor Housing Authority" in text
    assert "Panic attacks" not in text


def test_tasks_on_the_client_page_and_my_tasks_with_overdue_marked(
    app, world, client, maria_for_notes, monkeypatch
):
    browser = signed_in(app, world, "hha.case_worker")
    html = browser.get(_client_page(maria_for_notes)).get_data(as_text=True)
    due = (date.today() + timedelta(days=1)).isoformat()
    response = browser.post(
        f"/clients/{maria_for_notes}/tasks",
        data={
            "csrf_token": factories.csrf_token(html),
            "title": "Bring the lease",
            "assignee": "hha.case_worker",
            "due_on": due,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = browser.get(_client_page(maria_for_notes)).get_data(as_text=True)
    assert "Bring the lease" in page and "Overdue" not in page
    mine = browser.get("/tasks")
    assert mine.status_code == 200
    assert "Bring the lease" in text_of(mine)
    # three days on, the task is overdue: said in words, and the row is marked
    later = datetime.now(UTC) + timedelta(days=3)
    monkeypatch.setattr(tasks_service, "utcnow", lambda: later)
    mine = browser.get("/tasks").get_data(as_text=True)
    assert re.search(r'data-overdue="yes"', mine)
    assert "1 overdue." in text_of_html(mine) and "Overdue" in text_of_html(mine)


def text_of_html(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_task_is_done_and_cancelled_from_the_pages(app, world, client, maria_for_notes):
    first = task_created(client, "hha.case_worker", maria_for_notes, "First task")
    second = task_created(client, "hha.case_worker", maria_for_notes, "Second task")
    browser = signed_in(app, world, "hha.case_worker")
    token = csrf_of(browser, "/tasks")
    assert browser.post(f"/tasks/{first}/done", data={"csrf_token": token}).status_code == 302
    refused = browser.post(f"/tasks/{second}/cancel", data={"csrf_token": token, "note": ""})
    assert refused.status_code == 302
    assert "Second task" in text_of(browser.get("/tasks"))
    cancelled = browser.post(
        f"/tasks/{second}/cancel", data={"csrf_token": token, "note": "Client moved away"}
    )
    assert cancelled.status_code == 302
    assert "No open tasks." in text_of(browser.get("/tasks"))
    done = text_of(browser.get("/tasks", query_string={"status": "done"}))
    assert "First task" in done and "Second task" not in done


def test_another_agencys_task_is_a_404_page(app, world, client, maria_for_notes):
    task_id = task_created(client, "hha.case_worker", maria_for_notes)
    browser = signed_in(app, world, "cchc.supervisor")
    token = csrf_of(browser, "/tasks")
    response = browser.post(f"/tasks/{task_id}/done", data={"csrf_token": token})
    unknown = browser.post("/tasks/tsk_00000000000000000000/done", data={"csrf_token": token})
    assert response.status_code == unknown.status_code == 404


def test_a_redirect_never_leaves_the_site(app, world, client, maria_for_notes):
    task_id = task_created(client, "hha.case_worker", maria_for_notes)
    browser = signed_in(app, world, "hha.case_worker")
    token = csrf_of(browser, "/tasks")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
        response = browser.post(
            f"/tasks/{task_id}/done", data={"csrf_token": token, "next": target}
        )
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/tasks"), target


def test_the_note_form_answers_a_hidden_client_as_an_unknown_one(app, world, client):
    known = maria_at(client, rrp=False)  # also makes rrp's accounts
    treatment = copy.deepcopy(MARIA) | {"category": "substance_use", "data": {"program": "x"}}
    treatment["person"] = treatment["person"] | {"given_name": "Quinn", "ssn": "999-11-2222"}
    feed = factories.token_for("rrp.integration")
    hidden = put(client, feed, treatment, agency="rrp", srid="R-9").get_json()["client_id"]
    assert hidden != known
    browser = signed_in(app, world, "hha.case_worker")
    assert browser.get(f"/clients/{hidden}/notes/new").status_code == 404
    assert browser.get("/clients/f00dfacef00dfacef00dfacef00dface/notes/new").status_code == 404
    officer = signed_in(app, world, "hha.consent_officer")
    assert officer.get(f"/clients/{known}/notes/new").status_code == 403


def test_my_tasks_is_for_workers_only(app, world):
    browser = signed_in(app, world, "hha.consent_officer")
    assert browser.get("/tasks").status_code == 404
    worker = signed_in(app, world, "hha.case_worker")
    nav = re.search(
        r'<nav aria-label="Main">(.*?)</nav>', worker.get("/").get_data(as_text=True), re.S
    )
    assert "My tasks" in nav.group(1)
