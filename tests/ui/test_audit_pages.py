"""The privacy officer's pages through the Flask test client: who may open them, what
they show (never record contents), the CSV link, reviews with CSRF, verification."""

from __future__ import annotations

import csv
import io
import re

import pytest

from caseops.audit.keys import log_key
from caseops.audit.seal import seal_once
from caseops.extensions import db
from tests import factories
from tests.fixtures.pages import CONTENTS, csrf_of, signed_in, text_of, worker_views


@pytest.fixture
def viewed(client, maria):
    worker_views(client, maria)
    return maria


def pages(client_id):
    return [
        "/audit/",
        f"/audit/?client_id={client_id}",
        f"/audit/clients/{client_id}/disclosures",
        "/audit/break-glass",
        "/audit/activity",
        "/audit/verification",
    ]


@pytest.mark.parametrize(
    "role", ["case_worker", "supervisor", "consent_officer", "agency_admin", "system_admin"]
)
def test_only_privacy_officers_open_the_audit_pages(app, world, viewed, role):
    browser = signed_in(app, world, f"hha.{role}")
    for path in pages(viewed):
        response = browser.get(path)
        assert response.status_code == 403, (path, role)
        assert not any(word in response.get_data(as_text=True) for word in CONTENTS)
    nav = browser.get("/").get_data(as_text=True)
    assert ">Audit<" not in nav


def test_logged_out_visitors_are_sent_to_sign_in(client, viewed):
    for path in pages(viewed):
        assert client.get(path).status_code == 302, path


def test_privacy_officer_sees_who_viewed_a_client_without_contents(app, world, viewed):
    browser = signed_in(app, world, "hha.privacy_officer")
    assert ">Audit<" in browser.get("/").get_data(as_text=True)
    for path in pages(viewed):
        response = browser.get(path)
        assert response.status_code == 200, path
        assert not any(word in response.get_data(as_text=True) for word in CONTENTS), path
    page = text_of(browser.get("/audit/", query_string={"client_id": viewed}))
    assert "cchc.case_worker" in page and "hha.supervisor" in page
    assert "hha/housing" in page and "break-the-glass" in page
    searches = [e for e in factories.events("audit.search") if e.client_id == viewed]
    assert searches and searches[-1].actor == "hha.privacy_officer"


def test_disclosures_page_and_its_csv_link(app, world, viewed):
    browser = signed_in(app, world, "hha.privacy_officer")
    html = browser.get(f"/audit/clients/{viewed}/disclosures").get_data(as_text=True)
    assert "2 disclosures" in html
    link = re.search(r'href="([^"]+)" download', html).group(1).replace("&amp;", "&")
    response = browser.get(link)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["recipient_person"] for r in rows] == ["cchc.case_worker", "hha.supervisor"]
    assert [e.detail["format"] for e in factories.events("audit.disclosures")] == ["json", "csv"]


def test_review_form_acknowledges_with_a_note_and_needs_csrf(app, world, viewed):
    browser = signed_in(app, world, "hha.privacy_officer")
    html = browser.get("/audit/break-glass").get_data(as_text=True)
    grant = re.search(r'data-grant="(\d+)"', html).group(1)
    path = f"/audit/break-glass/{grant}/review"
    no_csrf = browser.post(path, data={"decision": "acknowledge", "note": "Confirmed"})
    assert no_csrf.status_code in (400, 403)
    token = csrf_of(browser, "/audit/break-glass")
    short = browser.post(path, data={"decision": "acknowledge", "note": "ok", "csrf_token": token})
    assert short.status_code == 302
    assert factories.events("audit.break_glass_review") == []
    done = browser.post(
        path,
        data={"decision": "escalate", "note": "Not on ER roster", "csrf_token": token},
        follow_redirects=True,
    )
    assert "Escalated break-the-glass grant" in text_of(done)
    assert "data-grant=" not in done.get_data(as_text=True)  # left the open queue
    reviewed = text_of(browser.get("/audit/break-glass?status=reviewed"))
    assert "Not on ER roster" in reviewed and "escalate" in reviewed
    [entry] = factories.events("audit.break_glass_review")
    assert entry.actor == "hha.privacy_officer" and entry.detail["decision"] == "escalate"


def test_activity_page_draws_bars_without_inline_styles(app, world, viewed):
    browser = signed_in(app, world, "hha.privacy_officer")
    html = browser.get("/audit/activity").get_data(as_text=True)
    assert 'class="bar-fill"' in html and "style=" not in html
    assert 'data-kind="unreviewed_break_glass"' in html
    assert "hha.supervisor" in html


def test_verification_page_shows_checkpoint_and_verifies(app, world, viewed):
    browser = signed_in(app, world, "hha.privacy_officer")
    assert "has not been sealed yet" in text_of(browser.get("/audit/verification"))
    size = seal_once(db.engine, log_key()).tree_size
    page = text_of(browser.get("/audit/verification"))
    assert f"Entries sealed {size}" in page
    token = csrf_of(browser, "/audit/verification")
    result = text_of(browser.post("/audit/verification", data={"csrf_token": token}))
    assert "Verified: the log is intact" in result
    assert factories.events("audit.verify")[-1].actor == "hha.privacy_officer"


def test_every_page_says_whose_part_of_the_log_it_shows(app, world, viewed):
    """An officer of one agency reads "Your agency: hha"; once the operator grants
    organisation-wide scope, "Organisation-wide" (the same services decide both)."""
    browser = signed_in(app, world, "hha.privacy_officer")
    for path in pages(viewed)[1:]:
        assert "Showing: Your agency: hha" in text_of(browser.get(path)), path
    factories.grant_organisation_scope("privacy_officer", "hha", "audit")
    for path in pages(viewed)[1:]:
        assert "Showing: Organisation-wide" in text_of(browser.get(path)), path


def test_pages_show_only_the_officers_agency_part(app, world, viewed):
    """cchc's officer: the break-the-glass grant is hha's supervisor's on a client whose
    health record cchc holds, so it is listed; hha's worker's housing view is not cchc's
    business, and hha's own housing section is not listed in cchc's rows."""
    browser = signed_in(app, world, "cchc.privacy_officer")
    page = text_of(browser.get("/audit/", query_string={"client_id": viewed}))
    assert "cchc.case_worker" in page and "hha.supervisor" in page
    assert "hha/housing" in page  # shown to cchc's own worker: cchc knows
    queue = text_of(browser.get("/audit/break-glass"))
    assert "hha.supervisor" in queue and "cchc/health" in queue
    assert "hha/housing" not in queue  # hha's section shown to hha's supervisor
    disclosures = text_of(browser.get(f"/audit/clients/{viewed}/disclosures"))
    assert "2 disclosures" in disclosures


def test_privacy_officers_home_shows_the_last_verification(app, world, viewed):
    """The scheduled verification (cron, the CLI, the API) reaches the people who must act
    on it: the privacy officer's home says when the log was last found intact, or that it
    was not, naming the entry."""
    from caseops.audit.service import record
    from caseops.authz.actor import Actor

    browser = signed_in(app, world, "hha.privacy_officer")
    assert "has not been verified yet" in text_of(browser.get("/"))
    token = csrf_of(browser, "/audit/verification")
    browser.post("/audit/verification", data={"csrf_token": token})
    size = factories.events("audit.verify")[-1].detail["verified_size"]
    assert f"Intact: {size} entries verified on" in text_of(browser.get("/"))
    record(
        "audit.verify",
        actor=Actor.operator(),
        detail={"ok": False, "verified_size": 3, "first_bad_seq": 4},
    )
    home = text_of(browser.get("/"))
    assert "Verification failed" in home and "entry 4 does not match" in home
    worker = signed_in(app, world, "hha.case_worker")
    assert "Access log integrity" not in text_of(worker.get("/"))
