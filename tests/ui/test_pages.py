"""The worker, consent officer and data steward pages through the Flask test client:
who may open what, CSRF, error display, and that the pages show what the services say."""

from __future__ import annotations

import copy
import hashlib
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from caseops.ui.clients import WITHHELD_REASONS
from consent import Reason
from tests import factories
from tests.fixtures.consents import record_consent
from tests.fixtures.pages import PDF, csrf_of, queue_a_pair, signed_in, text_of
from tests.fixtures.records import MARIA, bearer, put

# --- who may open what ------------------------------------------------------------------

PAGES = {
    "search": ("/clients", {"case_worker", "supervisor", "consent_officer", "privacy_officer"}),
    "client": ("/clients/{id}", {"case_worker", "supervisor"}),
    "break_glass": ("/clients/{id}/break-glass", {"case_worker", "supervisor"}),
    "consents": ("/clients/{id}/consents", {"consent_officer", "privacy_officer"}),
    "record": ("/clients/{id}/consents/new", {"consent_officer"}),
    "sharing": ("/clients/{id}/sharing", {"consent_officer"}),
    "print": ("/clients/{id}/consents/print", {"consent_officer", "privacy_officer"}),
    "expiring": ("/consents/expiring", {"consent_officer"}),
    "review": ("/linkage/review", {"data_steward"}),
}
ROLES = [
    "case_worker",
    "supervisor",
    "consent_officer",
    "privacy_officer",
    "data_steward",
    "agency_admin",
    "system_admin",
]


@pytest.mark.parametrize("role", ROLES)
def test_each_page_opens_for_its_personas_and_is_refused_to_the_others(app, world, maria, role):
    browser = signed_in(app, world, f"cchc.{role}")
    for name, (path, allowed) in PAGES.items():
        response = browser.get(path.format(id=maria))
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, (name, role, response.status_code)
        if expected == 403:
            body = response.get_data(as_text=True)
            assert "asthma" not in body and "SNAP" not in body and "sheltered" not in body


def test_logged_out_visitors_are_sent_to_sign_in(client, maria):
    for path, _ in PAGES.values():
        response = client.get(path.format(id=maria))
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next="), path


@pytest.mark.parametrize(
    ("role", "present", "absent"),
    [
        ("case_worker", ["Clients"], ["Consents expiring", "Review queue"]),
        ("consent_officer", ["Clients", "Consents expiring"], ["Review queue"]),
        ("data_steward", ["Review queue"], ["Clients", "Consents expiring"]),
        ("privacy_officer", [], ["Clients", "Consents expiring", "Review queue"]),
    ],
)
def test_navigation_offers_each_persona_its_pages(app, world, role, present, absent):
    browser = signed_in(app, world, f"cchc.{role}")
    nav = re.search(
        r'<nav aria-label="Main">(.*?)</nav>', browser.get("/").get_data(as_text=True), re.S
    )
    labels = re.findall(r">([^<>]+)</a>", nav.group(1))
    for label in present:
        assert label in labels, (role, labels)
    for label in absent:
        assert label not in labels, (role, labels)


def test_every_withheld_reason_code_is_explained():
    codes = {str(r) for r in Reason} - {"consent_permit"} | {"policy", "no_relationship"}
    assert codes <= set(WITHHELD_REASONS)
    for what, todo in WITHHELD_REASONS.values():
        assert what and todo


# --- the worker's pages -----------------------------------------------------------------


def test_search_lists_minimal_demographics_and_links_each_persona_to_its_page(app, world, maria):
    worker = signed_in(app, world, "cchc.case_worker")
    page = worker.get("/clients", query_string={"q": "maria lopez"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Maria Lopez" in html and "1984-03-12" in html
    assert f'href="/clients/{maria}"' in html
    assert f'href="/clients/{maria}/consents"' not in html
    for leak in ("hha", "HHA", "housing", "Housing", "economic"):
        assert leak not in text_of(page).split("Every view")[0].split("Find a client", 1)[1], leak
    officer = signed_in(app, world, "cchc.consent_officer")
    html = officer.get("/clients", query_string={"birth_date": "1984-03-12"}).get_data(as_text=True)
    assert f'href="/clients/{maria}/consents"' in html
    assert f'href="/clients/{maria}"' not in html


def test_a_search_without_a_usable_name_shows_the_services_reason_by_the_field(app, world):
    worker = signed_in(app, world, "cchc.case_worker")
    html = worker.get("/clients", query_string={"q": "x"}).get_data(as_text=True)
    assert 'id="q-errors"' in html
    assert 'aria-invalid="true"' in html
    assert "two letters or more" in html


def test_client_page_shows_sections_and_explains_each_withheld_one(app, world, maria, client):
    record_consent(client, maria)
    worker = signed_in(app, world, "cchc.case_worker")
    before = worker.get(f"/clients/{maria}")
    assert before.status_code == 200
    text = text_of(before)
    assert "You are not on this client's care team." in text
    assert "Join care team" in text
    assert "asthma" not in text

    token = csrf_of(worker, f"/clients/{maria}")
    joined = worker.post(
        f"/clients/{maria}/care-team",
        data={"csrf_token": token, "purpose": "care_coordination"},
    )
    assert joined.status_code == 302
    after = worker.get(joined.headers["Location"])
    text = text_of(after)
    assert "You joined this client's care team." in text
    assert "asthma" in text and "Dr. Reyes" in text  # own agency's health record
    assert "sheltered" in text and "Shared under the client's consent" in text  # consent
    assert "SNAP" not in text  # hha's economic security: no consent
    assert "Ask a consent officer for a consent naming your agency for this category." in text
    html = after.get_data(as_text=True)
    assert 'data-reason="no_consent"' in html
    assert (
        f'data-fingerprint-url="/api/v1/clients/{maria}/record/fingerprint?purpose=care_coordination"'
        in html
    )
    assert 'data-poll-seconds="20"' in html
    assert "Join care team" not in text


def test_the_purpose_changes_what_the_consent_releases(app, world, maria, client):
    record_consent(client, maria)
    factories_join(client, maria, "cchc.case_worker")
    worker = signed_in(app, world, "cchc.case_worker")
    text = text_of(worker.get(f"/clients/{maria}", query_string={"purpose": "payment"}))
    assert "Viewed for Payment" in text
    assert "sheltered" not in text and "asthma" in text


def factories_join(client, client_id, username):
    token = factories.token_for(username)
    response = client.post(
        f"/api/v1/clients/{client_id}/care-team", json={"username": username}, headers=bearer(token)
    )
    assert response.status_code == 201, response.get_json()


def test_revoked_consent_is_explained_as_revoked(app, world, maria, client):
    consent_id = record_consent(client, maria)
    factories_join(client, maria, "cchc.case_worker")
    officer = factories.token_for("cchc.consent_officer")
    client.post(
        f"/api/v1/consents/{consent_id}/revoke",
        json={"reason": "Client asked"},
        headers=bearer(officer),
    )
    worker = signed_in(app, world, "cchc.case_worker")
    html = worker.get(f"/clients/{maria}").get_data(as_text=True)
    assert 'data-reason="consent_revoked"' in html
    assert "revoked the consent" in html
    assert "sheltered" not in html


def test_part2_section_carries_the_redisclosure_notice(app, world, maria, client):
    factories.make_user("rrp.integration", "rrp", ["integration"])
    factories.make_user("rrp.consent_officer", "rrp", ["consent_officer"])  # attests (issue 14)
    treatment = copy.deepcopy(MARIA) | {
        "category": "substance_use",
        "data": {"program": "outpatient", "substances": ["opioids"]},
    }
    rrp = factories.token_for("rrp.integration")
    put(client, rrp, treatment, agency="rrp", srid="R-1")
    worker = signed_in(app, world, "cchc.case_worker")
    factories_join(client, maria, "cchc.case_worker")
    assert "Substance use" not in text_of(worker.get(f"/clients/{maria}"))  # not even listed
    record_consent(
        client,
        maria,
        source_agencies=["rrp"],
        categories=["substance_use"],
        recipients=["cchc"],
        purposes=["care_coordination"],
    )
    text = text_of(worker.get(f"/clients/{maria}"))
    assert "Redisclosure notice — 42 CFR Part 2" in text
    assert "opioids" in text


def test_break_glass_asks_for_a_justification_then_shows_with_the_badge(app, world, maria):
    worker = signed_in(app, world, "hha.case_worker")
    page = worker.get(f"/clients/{maria}/break-glass")
    assert "At least 20 characters." in text_of(page)
    token = factories.csrf_token(page.get_data(as_text=True))
    short = worker.post(
        f"/clients/{maria}/break-glass",
        data={
            "csrf_token": token,
            "justification": "too short",
            "purpose": "emergency",
            "minutes": "30",
        },
    )
    assert short.status_code == 422
    html = short.get_data(as_text=True)
    assert 'id="justification-errors"' in html and "At least 20 characters." in html
    granted = worker.post(
        f"/clients/{maria}/break-glass",
        data={
            "csrf_token": token,
            "justification": "Client unconscious at the shelter, need medication history.",
            "purpose": "emergency",
            "minutes": "30",
        },
    )
    assert granted.status_code == 302
    text = text_of(worker.get(granted.headers["Location"]))
    assert "Break-the-glass access is active" in text
    assert "Shown under break-the-glass" in text
    assert "asthma" in text  # cchc's health record, no consent, no care team


def test_posts_without_a_csrf_token_are_refused(app, world, maria, client):
    consent_id = record_consent(client, maria)
    worker = signed_in(app, world, "cchc.case_worker")
    officer = signed_in(app, world, "cchc.consent_officer")
    attempts = [
        (worker, f"/clients/{maria}/care-team", {"purpose": "care_coordination"}),
        (
            worker,
            f"/clients/{maria}/break-glass",
            {"justification": "x" * 40, "purpose": "emergency"},
        ),
        (
            officer,
            f"/clients/{maria}/consents/{consent_id}/revoke",
            {f"revoke-{consent_id}-reason": "asked", f"revoke-{consent_id}-confirm": "y"},
        ),
        (officer, f"/clients/{maria}/consents/new", {"provision": "permit"}),
    ]
    for browser, path, data in attempts:
        response = browser.post(path, data=data)
        assert response.status_code == 400, path
        assert "CSRF" in response.get_data(as_text=True), path
    assert factories.events("care_team.added") == []
    assert factories.events("client.break_glass") == []
    assert factories.events("consent.revoked") == []


# --- the consent officer's pages --------------------------------------------------------


def consent_form(token: str, **changes) -> dict:
    data = {
        "csrf_token": token,
        "provision": "permit",
        "source_agencies": ["hha"],
        "categories": ["housing"],
        "recipients": ["cchc"],
        "purposes": ["care_coordination"],
        "effective_from": "2026-01-01T09:00",
        "expires_at": "2030-01-01T09:00",
        "grantor_kind": "self",
        "grantor_name": "Maria Lopez",
        "signed_at": "2026-01-01T08:30",
        "evidence_method": "written",
        "revocation_right_acknowledged": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_record_a_consent_with_its_signed_form_and_see_the_hash(app, world, maria):
    officer = signed_in(app, world, "cchc.consent_officer")
    page = officer.get(f"/clients/{maria}/consents/new")
    html = page.get_data(as_text=True)
    assert "Effective from (UTC)" in html and 'type="datetime-local"' in html
    assert 'value="*"' in html and 'value="hha"' in html
    token = factories.csrf_token(html)
    response = officer.post(
        f"/clients/{maria}/consents/new",
        data=consent_form(token) | {"document": (io.BytesIO(PDF), "signed.pdf", "application/pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, text_of(response)
    digest = hashlib.sha256(PDF).hexdigest()
    listing = officer.get(response.headers["Location"])
    text = text_of(listing)
    assert f"SHA-256 {digest}" in text  # the flash after recording
    assert "Active" in text and "Maria Lopez" in text
    assert f'data-testid="document-hash">{digest}<' in listing.get_data(as_text=True)
    [event] = factories.events("consent.recorded")
    assert event.detail["scope"]["effective_from"] == "2026-01-01T09:00:00+00:00"  # read as UTC


def test_the_services_field_errors_show_next_to_the_fields(app, world, maria):
    officer = signed_in(app, world, "cchc.consent_officer")
    token = csrf_of(officer, f"/clients/{maria}/consents/new")
    response = officer.post(
        f"/clients/{maria}/consents/new",
        data=consent_form(
            token,
            grantor_name="",
            source_agencies=["rrp"],
            categories=["substance_use"],
            recipients=["*"],
        ),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    grantor = re.search(r'id="grantor_name-errors">(.*?)</ul>', html, re.S)
    assert grantor and "42 CFR 2.31(a)(8)" in grantor.group(1)
    recipients = re.search(r'id="recipients-errors">(.*?)</ul>', html, re.S)
    assert recipients and "not enough" in recipients.group(1)
    assert factories.events("consent.recorded") == []
    # What was entered is kept.
    assert 'value="rrp" checked' in html or re.search(r'checked[^>]*value="rrp"', html)


def test_revoke_needs_a_reason_and_a_confirmation_then_the_matrix_changes(
    app, world, maria, client
):
    consent_id = record_consent(client, maria)
    officer = signed_in(app, world, "cchc.consent_officer")
    matrix = officer.get(f"/clients/{maria}/sharing").get_data(as_text=True)
    cell = re.search(r'data-category="housing" data-recipient="cchc"[^>]*>(.*?)</td>', matrix, re.S)
    assert "HHA" in cell.group(1) and consent_id in cell.group(1)

    page = officer.get(f"/clients/{maria}/consents").get_data(as_text=True)
    token = factories.csrf_token(page)
    prefix = f"revoke-{consent_id}-"
    missing = officer.post(
        f"/clients/{maria}/consents/{consent_id}/revoke",
        data={f"{prefix}csrf_token": token, f"{prefix}reason": "", f"{prefix}method": "written"},
    )
    assert missing.status_code == 422
    html = missing.get_data(as_text=True)
    assert "Give the reason." in html and "Tick the box to confirm the revocation." in html
    assert '<details class="revoke" open>' in html
    assert factories.events("consent.revoked") == []

    done = officer.post(
        f"/clients/{maria}/consents/{consent_id}/revoke",
        data={
            f"{prefix}csrf_token": token,
            f"{prefix}reason": "Client asked by phone",
            f"{prefix}method": "verbal",
            f"{prefix}confirm": "y",
        },
    )
    assert done.status_code == 302
    text = text_of(officer.get(done.headers["Location"]))
    assert "Sharing under it stopped immediately." in text
    assert "Revoked on" in text and "Client asked by phone" in text
    matrix = officer.get(f"/clients/{maria}/sharing").get_data(as_text=True)
    cell = re.search(r'data-category="housing" data-recipient="cchc"[^>]*>(.*?)</td>', matrix, re.S)
    assert "Not shared" in cell.group(1) and consent_id not in cell.group(1)


def test_amend_prefills_the_current_version_and_records_a_new_one(app, world, maria, client):
    consent_id = record_consent(client, maria)
    officer = signed_in(app, world, "cchc.consent_officer")
    page = officer.get(f"/clients/{maria}/consents/{consent_id}/amend")
    html = page.get_data(as_text=True)
    assert 'value="Maria Lopez"' in html
    data = consent_form(factories.csrf_token(html), categories=["housing", "health"])
    response = officer.post(f"/clients/{maria}/consents/{consent_id}/amend", data=data)
    assert response.status_code == 302, text_of(response)
    text = text_of(officer.get(response.headers["Location"]))
    assert f"superseding {consent_id}" in text
    assert "Superseded" in text and "version 2" in text


def test_print_summary_is_a_plain_page_without_navigation(app, world, maria, client):
    record_consent(client, maria)
    officer = signed_in(app, world, "cchc.consent_officer")
    response = officer.get(f"/clients/{maria}/consents/print")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<nav" not in html and "Sign out" not in html and 'class="topbar"' not in html
    assert "<style" not in html and "style=" not in html  # print CSS lives in the stylesheet
    text = text_of(response)
    assert "Your consents to share information" in text
    assert (  # agencies by name: the client reads this sheet (issue 18)
        "Harbor Housing Authority may share information about your housing with "
        "Community Health Center for care coordination." in text
    )
    assert "Signed by Maria Lopez" in text


def test_expiring_lists_active_consents_ending_within_30_days(app, world, maria, client):
    soon = record_consent(
        client, maria, expires_at=(datetime.now(UTC) + timedelta(days=10)).isoformat()
    )
    later = record_consent(
        client, maria, categories=["health"], source_agencies=["cchc"], recipients=["hha"]
    )
    officer = signed_in(app, world, "cchc.consent_officer")
    html = officer.get("/consents/expiring").get_data(as_text=True)
    assert soon in html and later not in html
    assert f'href="/clients/{maria}/consents"' in html


# --- the data steward's review queue ----------------------------------------------------


@pytest.fixture
def pair(world, client):
    return queue_a_pair(client)


def test_review_queue_shows_each_pair_side_by_side_and_links_it(app, world, pair):
    steward = signed_in(app, world, "hha.data_steward")
    page = steward.get("/linkage/review")
    html = page.get_data(as_text=True)
    text = text_of(page)
    assert "1 pair waiting." in text
    # agencies by name (issue 18), with the agency's own record id
    assert "Community Health Center · C-7" in text and "Harbor Housing Authority · H-1" in text
    assert "Elena Lopez" in text and "Maria Lopez" in text
    assert re.search(r"Name</th>.*?differs", html, re.S)
    assert re.search(r"Birth date</th>.*?same", html, re.S)
    assert "123-45-6780" not in html  # the SSN is masked
    item = re.search(r'data-item="(\d+)"', html).group(1)
    response = steward.post(
        f"/linkage/review/{item}/link", data={"csrf_token": factories.csrf_token(html)}
    )
    assert response.status_code == 302
    text = text_of(steward.get("/linkage/review"))
    assert "No pairs are waiting for review." in text
    assert "Your recent decisions" in text and "Linked" in text
    [event] = factories.events("linkage.link")
    assert event.detail["review_item"] == int(item)


def test_keep_apart_and_csrf(app, world, pair):
    steward = signed_in(app, world, "hha.data_steward")
    html = steward.get("/linkage/review").get_data(as_text=True)
    item = re.search(r'data-item="(\d+)"', html).group(1)
    assert steward.post(f"/linkage/review/{item}/link").status_code == 400
    assert steward.post(f"/linkage/review/{item}/keep-apart").status_code == 400
    assert factories.events("linkage.link") == []
    response = steward.post(
        f"/linkage/review/{item}/keep-apart", data={"csrf_token": factories.csrf_token(html)}
    )
    assert response.status_code == 302
    text = text_of(steward.get("/linkage/review"))
    assert "No pairs are waiting for review." in text and "Kept apart" in text


def test_undo_puts_a_linked_pair_back_in_the_queue(app, world, pair):
    steward = signed_in(app, world, "hha.data_steward")
    html = steward.get("/linkage/review").get_data(as_text=True)
    token = factories.csrf_token(html)
    item = re.search(r'data-item="(\d+)"', html).group(1)
    steward.post(f"/linkage/review/{item}/link", data={"csrf_token": token})
    [event] = factories.events("linkage.link")
    link_event = event.detail["link_event"]
    assert steward.post(f"/linkage/events/{link_event}/undo").status_code == 400  # no CSRF
    response = steward.post(f"/linkage/events/{link_event}/undo", data={"csrf_token": token})
    assert response.status_code == 302
    text = text_of(steward.get("/linkage/review"))
    assert "1 pair waiting." in text
    again = steward.post(f"/linkage/events/{link_event}/undo", data={"csrf_token": token})
    assert "already undone" in text_of(steward.get(again.headers["Location"]))


def test_the_last_link_offers_undo(app, world, pair):
    steward = signed_in(app, world, "hha.data_steward")
    html = steward.get("/linkage/review").get_data(as_text=True)
    item = re.search(r'data-item="(\d+)"', html).group(1)
    steward.post(f"/linkage/review/{item}/link", data={"csrf_token": factories.csrf_token(html)})
    assert ">Undo</button>" in steward.get("/linkage/review").get_data(as_text=True)


def test_the_stewards_home_says_how_many_pairs_wait(app, world, pair):
    """Issue 21: the review queue's size on the steward's home page; nobody else's."""
    steward = signed_in(app, world, "hha.data_steward")
    assert "1 possible match waits for your review." in text_of(steward.get("/"))
    worker = signed_in(app, world, "hha.case_worker")
    assert "possible match" not in text_of(worker.get("/"))
