"""The referral pages through the Flask test client (issue 17, item 8): refer from the
client page seeing what the consents allow before sending, the incoming and outgoing
lists with their status filter, a referral's page with its history and exactly the moves
the signed-in worker may make, moves and assignments posted through the forms (CSRF
required), the record page naming the referral it shows a section through, and a third
agency's 404."""

from __future__ import annotations

import re

import pytest

from tests import factories
from tests.fixtures.access import join_care_team
from tests.fixtures.consents import source_consent
from tests.fixtures.pages import csrf_of, signed_in, text_of
from tests.fixtures.records import bearer, put
from tests.fixtures.referrals import accepted_referral, assign, move, refer, referral_id_of

CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="[^"]+"')


@pytest.fixture
def maria(maria, client):
    """Maria with hha's worker on her care team (a sender must work with the client)."""
    assert join_care_team(client, "hha.case_worker", maria).status_code == 201
    return maria


def session(app, world, username: str):
    """``signed_in``, as often as the test needs: one TOTP code may sign in only once."""
    factories.forget_last_totp_step(username)
    return signed_in(app, world, username)


def signed_in_new(app, username: str, agency: str, roles: list[str]):
    """A browser session for a person made for this test (beyond the standard world)."""
    person = factories.make_user(username, agency, roles)
    browser = app.test_client()
    assert factories.login(browser, person).status_code == 302
    return browser


def moves_offered(html: str) -> list[str]:
    """The moves the page offers: the targets of its move forms, in page order."""
    return re.findall(r'action="/referrals/[^/"]+/moves/([a-z-]+)"', html)


def rows(html: str) -> list[str]:
    return re.findall(r'data-testid="referral-row" data-status="([^"]+)"', html)


# --- referring ----------------------------------------------------------------------------


def test_the_refer_page_shows_what_the_consents_allow_before_sending(app, world, maria, client):
    source_consent(client, maria)  # hha's housing to cchc, naming it
    worker = session(app, world, "hha.case_worker")
    record = worker.get(f"/clients/{maria}")
    assert f'href="/clients/{maria}/refer' in record.get_data(as_text=True)

    page = worker.get(f"/clients/{maria}/refer")
    assert page.status_code == 200
    assert "Check what the consents allow" in text_of(page)
    assert 'data-testid="preview"' not in page.get_data(as_text=True)

    previewed = worker.get(
        f"/clients/{maria}/refer",
        query_string={"to_agency": "cchc", "service": "housing_assistance"},
    )
    assert previewed.status_code == 200
    html = previewed.get_data(as_text=True)
    allowed = dict(re.findall(r'data-category="([a-z_]+)" data-allowed="(yes|no)"', html))
    assert allowed["housing"] == "yes"
    assert allowed["economic_security"] == "no"
    assert allowed["health"] == "yes"  # cchc's own record: nothing to consent to
    text = text_of(previewed)
    assert "The referral itself is covered" in text
    assert "HHA's records: no consent on file covers it" in text  # economic security
    assert "Send referral" in text
    assert [e.detail["to_agency"] for e in factories.events("referral.preview")] == ["cchc"]

    # a service whose category no consent covers: the referral itself is refused, and why
    blocked = worker.get(
        f"/clients/{maria}/refer",
        query_string={"to_agency": "cchc", "service": "behavioral_health_care"},
    )
    assert "The referral itself is not covered: no consent on file covers it." in text_of(blocked)


def test_sending_from_the_page_goes_through_the_gate(app, world, maria, client):
    source_consent(client, maria)
    worker = session(app, world, "hha.case_worker")
    path = f"/clients/{maria}/refer"
    token = csrf_of(worker, f"{path}?to_agency=cchc&service=housing_assistance")
    form = {
        "csrf_token": token,
        "to_agency": "cchc",
        "service": "housing_assistance",
        "purpose": "care_coordination",
        "note": "Needs a stable address before treatment.",
        "urgency": "urgent",
        "action": "send",
    }
    refused = worker.post(path, data=form | {"shared_categories": ["housing", "economic_security"]})
    assert refused.status_code == 422
    text = text_of(refused)
    assert "The client's consents do not cover this referral." in text
    assert "economic_security from hha: no_consent" in text
    assert factories.events("referral.created") == []

    sent = worker.post(path, data=form | {"shared_categories": ["housing"]})
    assert sent.status_code == 302, text_of(sent)
    referral_id = sent.headers["Location"].rsplit("/", 1)[-1]
    page = worker.get(sent.headers["Location"])
    text = text_of(page)
    assert "Referral sent." in text
    assert "Requested" in text and "Urgent" in text
    assert "Needs a stable address before treatment." in text
    [created] = factories.events("referral.created")
    assert created.target_id == referral_id and created.detail["status"] == "requested"

    draft = worker.post(
        path, data=form | {"shared_categories": ["economic_security"], "action": "draft"}
    )
    assert draft.status_code == 302  # a draft passes no gate until it is sent
    assert "Draft" in text_of(worker.get(draft.headers["Location"]))


def test_only_workers_of_a_client_they_may_know_open_the_refer_page(app, world, maria, client):
    officer = session(app, world, "hha.consent_officer")
    assert officer.get(f"/clients/{maria}/refer").status_code == 403
    # Jordan is known only to a Part 2 program: to hha he does not exist, on this page too
    factories.make_user("rrp.integration", "rrp", ["integration"])
    jordan = {
        "category": "substance_use",
        "person": {
            "given_name": "Jordan",
            "family_name": "Vale",
            "birth_date": "1991-02-03",
            "ssn": "321-54-9870",
            "sex": "M",
            "address": {"street_number": "40", "street": "Harbor Rd", "city": "Bayview"},
        },
        "data": {"program": "outpatient"},
        "source_version": 1,
    }
    feed = factories.token_for("rrp.integration")
    written = put(client, feed, jordan, agency="rrp", srid="R-7")
    assert written.status_code == 201, written.get_json()
    hidden = written.get_json()["client_id"]
    unknown_id = "0" * len(hidden)
    worker = session(app, world, "hha.case_worker")
    for query in ("", "?to_agency=cchc&service=housing_assistance"):
        seen = worker.get(f"/clients/{hidden}/refer{query}")
        unknown = worker.get(f"/clients/{unknown_id}/refer{query}")
        assert seen.status_code == unknown.status_code == 404
        assert _strip(seen.get_data(as_text=True), hidden) == _strip(
            unknown.get_data(as_text=True), unknown_id
        )
    token = csrf_of(worker, "/referrals/outgoing")
    posted = worker.post(
        f"/clients/{hidden}/refer",
        data={
            "csrf_token": token,
            "to_agency": "cchc",
            "service": "housing_assistance",
            "purpose": "care_coordination",
            "shared_categories": ["substance_use"],
        },
    )
    assert posted.status_code == 404
    assert factories.events("referral.preview") == factories.events("referral.created") == []


def test_logged_out_visitors_are_sent_to_sign_in(client, maria):
    for path in (
        "/referrals/incoming",
        "/referrals/outgoing",
        "/referrals/ref_00000000000000000000",
        f"/clients/{maria}/refer",
    ):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next="), path


# --- lists --------------------------------------------------------------------------------


def test_lists_show_each_sides_referrals_with_a_status_filter(app, world, maria, client):
    source_consent(client, maria)
    open_id = referral_id_of(refer(client, maria))
    cancelled_id = referral_id_of(refer(client, maria))
    assert move(client, cancelled_id, "hha.case_worker", "cancelled", reason="Moved").status_code
    draft_id = referral_id_of(refer(client, maria, send=False))

    sender = session(app, world, "hha.case_worker")
    nav = sender.get("/").get_data(as_text=True)
    assert "Incoming referrals" in nav and "Outgoing referrals" in nav
    outgoing = sender.get("/referrals/outgoing").get_data(as_text=True)
    assert sorted(rows(outgoing)) == ["cancelled", "draft", "requested"]
    for referral_id in (open_id, cancelled_id, draft_id):
        assert f"/referrals/{referral_id}" in outgoing
    assert rows(sender.get("/referrals/outgoing?status=cancelled").get_data(as_text=True)) == [
        "cancelled"
    ]
    assert sorted(rows(sender.get("/referrals/outgoing?status=open").get_data(as_text=True))) == [
        "requested"
    ]
    assert rows(sender.get("/referrals/incoming").get_data(as_text=True)) == []
    bad = sender.get("/referrals/outgoing?status=lost")
    assert bad.status_code == 422 and "One of: open, closed" in text_of(bad)

    supervisor = session(app, world, "cchc.supervisor")
    incoming = supervisor.get("/referrals/incoming").get_data(as_text=True)
    assert sorted(rows(incoming)) == ["cancelled", "requested"]  # never the draft
    assert draft_id not in incoming
    worker = session(app, world, "cchc.case_worker")
    assert rows(worker.get("/referrals/incoming").get_data(as_text=True)) == []  # not assigned
    assert assign(client, open_id, "cchc.case_worker").status_code == 200
    assert rows(worker.get("/referrals/incoming").get_data(as_text=True)) == ["requested"]


def test_the_lists_are_for_workers_only(app, world):
    officer = session(app, world, "cchc.consent_officer")
    assert "Incoming referrals" not in officer.get("/").get_data(as_text=True)
    assert officer.get("/referrals/incoming").status_code == 403


# --- one referral -------------------------------------------------------------------------


def test_the_page_offers_exactly_the_moves_the_signed_in_worker_may_make(app, world, maria, client):
    source_consent(client, maria)
    referral_id = referral_id_of(refer(client, maria))
    path = f"/referrals/{referral_id}"
    sender = session(app, world, "hha.case_worker")
    supervisor = session(app, world, "cchc.supervisor")
    worker = session(app, world, "cchc.case_worker")

    assert moves_offered(sender.get(path).get_data(as_text=True)) == [
        "cancelled",
        "entered-in-error",
    ]
    html = supervisor.get(path).get_data(as_text=True)
    assert moves_offered(html) == ["accepted", "rejected", "cancelled"]
    assert f'action="/referrals/{referral_id}/assign"' in html
    assert '<option value="cchc.case_worker">' in html
    assert "hha.case_worker" not in html  # another agency's staff stay unnamed
    assert worker.get(path).status_code == 404  # not assigned: it does not exist for them

    # a colleague of the sender sees the referral but may not move it
    colleague = signed_in_new(app, "hha.worker2", "hha", ["case_worker"])
    seen = colleague.get(path)
    assert seen.status_code == 200 and moves_offered(seen.get_data(as_text=True)) == []

    assert assign(client, referral_id, "cchc.case_worker").status_code == 200
    assert moves_offered(worker.get(path).get_data(as_text=True)) == [
        "accepted",
        "rejected",
        "cancelled",
    ]
    assert move(client, referral_id, "cchc.case_worker", "accepted").status_code == 200
    html = worker.get(path).get_data(as_text=True)
    assert moves_offered(html) == ["in-progress", "on-hold", "completed", "failed", "cancelled"]
    assert f'action="/referrals/{referral_id}/assign"' not in html  # workers do not assign
    assert move(client, referral_id, "cchc.case_worker", "on-hold", reason="Away").status_code
    html = worker.get(path).get_data(as_text=True)
    assert moves_offered(html) == ["in-progress", "completed", "failed", "cancelled"]
    assert "Resume work" in html

    history = text_of(worker.get(path))
    for step in ("Created", "Assigned", "Accepted", "On hold", "Away", "cchc.supervisor"):
        assert step in history, step
    sender_view = text_of(sender.get(path))
    assert "Away" in sender_view and "On hold" in sender_view
    assert "cchc.supervisor" not in sender_view and "cchc.case_worker" not in sender_view
    assert "someone at Community Health Center" in sender_view  # by name (issue 18)

    assert move(client, referral_id, "cchc.case_worker", "completed", outcome="Housed").status_code
    closed = worker.get(path).get_data(as_text=True)
    assert moves_offered(closed) == []
    assert "This referral is closed: no further moves." in text_of(worker.get(path))
    assert moves_offered(sender.get(path).get_data(as_text=True)) == ["entered-in-error"]


def test_moves_posted_through_the_form_need_their_words_and_a_csrf_token(app, world, maria, client):
    source_consent(client, maria)
    referral_id = accepted_referral(client, maria)
    path = f"/referrals/{referral_id}"
    worker = session(app, world, "cchc.case_worker")
    token = csrf_of(worker, path)

    forged = worker.post(f"{path}/moves/completed", data={"move-completed-outcome": "Done"})
    assert forged.status_code == 400 and "CSRF" in forged.get_data(as_text=True)
    assert [e.detail["to"] for e in factories.events("referral.moved")] == ["accepted"]

    no_outcome = worker.post(f"{path}/moves/completed", data={"csrf_token": token})
    assert no_outcome.status_code == 422
    [outcome_field] = re.findall(
        r"<textarea[^>]*id=\"move-completed-outcome\"[^>]*>", no_outcome.get_data(as_text=True)
    )
    assert 'aria-invalid="true"' in outcome_field
    assert "Say what was provided." in text_of(no_outcome)

    not_a_move = worker.post(f"{path}/moves/requested", data={"csrf_token": token})
    assert not_a_move.status_code == 409
    assert "Allowed from accepted: in-progress, on-hold, completed, failed, cancelled." in (
        text_of(not_a_move)
    )

    done = worker.post(
        f"{path}/moves/completed",
        data={"csrf_token": token, "move-completed-outcome": "Housing plan made"},
    )
    assert done.status_code == 302
    assert "The referral is now completed." in text_of(worker.get(done.headers["Location"]))
    sender = session(app, world, "hha.case_worker")
    seen = sender.get(path)
    assert 'data-testid="referral-outcome"' in seen.get_data(as_text=True)
    assert "Outcome: Housing plan made" in text_of(seen)


def test_the_recipient_supervisor_assigns_through_the_form(app, world, maria, client):
    source_consent(client, maria)
    referral_id = referral_id_of(refer(client, maria))
    path = f"/referrals/{referral_id}"
    supervisor = session(app, world, "cchc.supervisor")
    token = csrf_of(supervisor, path)
    assert supervisor.post(f"{path}/assign", data={"username": "cchc.case_worker"}).status_code == (
        400
    )
    assigned = supervisor.post(
        f"{path}/assign", data={"csrf_token": token, "username": "cchc.case_worker"}
    )
    assert assigned.status_code == 302
    page = text_of(supervisor.get(path))
    assert "Assigned to cchc.case_worker." in page
    [event] = factories.events("referral.assigned")
    assert event.detail["assigned_to"] == "cchc.case_worker"
    # a name the page does not offer (another agency's worker) is refused by the form
    foreign = supervisor.post(
        f"{path}/assign", data={"csrf_token": token, "username": "hha.case_worker"}
    )
    assert foreign.status_code == 422
    assert len(factories.events("referral.assigned")) == 1


def test_the_record_page_names_the_referral_it_shows_a_section_through(app, world, maria, client):
    """cchc's supervisor holds no care-team place: the accepted referral is the basis for
    hha's housing, and the page links it; economic security stays withheld."""
    consent_id = source_consent(client, maria)
    referral_id = accepted_referral(client, maria)
    supervisor = session(app, world, "cchc.supervisor")
    html = supervisor.get(f"/clients/{maria}").get_data(as_text=True)
    assert f'via referral <a href="/referrals/{referral_id}">' in html
    assert "sheltered" in html and "SNAP" not in html

    revoked = client.post(
        f"/api/v1/consents/{consent_id}/revoke",
        json={"reason": "Client asked"},
        headers=bearer(factories.token_for("hha.consent_officer")),
    )
    assert revoked.status_code == 200
    after = supervisor.get(f"/clients/{maria}").get_data(as_text=True)
    assert "via referral" not in after and "sheltered" not in after
    for username in ("cchc.supervisor", "hha.case_worker"):
        page = session(app, world, username).get(f"/referrals/{referral_id}")
        assert 'data-testid="consent-lapsed"' in page.get_data(as_text=True)
        assert "consent revoked" in text_of(page)


def test_a_third_agency_gets_the_unknown_referrals_404_page(app, world, maria, client):
    source_consent(client, maria)
    referral_id = accepted_referral(client, maria)
    unknown_id = "ref_00000000000000000000"
    outsider = signed_in_new(app, "rrp.case_worker", "rrp", ["case_worker"])
    hidden = outsider.get(f"/referrals/{referral_id}")
    unknown = outsider.get(f"/referrals/{unknown_id}")
    assert hidden.status_code == unknown.status_code == 404
    assert _strip(hidden.get_data(as_text=True), referral_id) == _strip(
        unknown.get_data(as_text=True), unknown_id
    )
    assert "Housing" not in text_of(hidden)
    token = csrf_of(outsider, "/referrals/incoming")
    for path in (f"/referrals/{referral_id}/moves/cancelled", f"/referrals/{referral_id}/assign"):
        tried = outsider.post(
            path,
            data={"csrf_token": token, "move-cancelled-reason": "x", "username": "x"},
        )
        assert tried.status_code == 404, path
    for direction in ("incoming", "outgoing"):
        assert rows(outsider.get(f"/referrals/{direction}").get_data(as_text=True)) == []
    assert [e.detail["to"] for e in factories.events("referral.moved")] == ["accepted"]


def _strip(html: str, *ids: str) -> str:
    html = CSRF_FIELD.sub("", html)
    for value in ids:
        html = html.replace(value, "ID")
    return html


# --- the demo -----------------------------------------------------------------------------


def test_the_demo_has_referrals_in_every_state_made_through_the_service(app):
    from caseops.auth.service import actor_for
    from caseops.demo.clients import seed_clients
    from caseops.demo.referrals import seed_referrals
    from caseops.demo.seed import seed
    from caseops.referrals import service as referrals
    from caseops.referrals.machine import Status
    from caseops.users.service import get_user

    seed()
    seed_clients()
    assert "one in every state" in seed_referrals()
    hha = actor_for(get_user("hha.worker"))
    outgoing = referrals.list_referrals(hha, "outgoing", None)
    assert sorted(r["status"] for r in outgoing) == sorted(s.value for s in Status)
    assert all(r["flags"] == [] for r in outgoing)  # every send passed the gate
    completed = next(r for r in outgoing if r["status"] == "completed")
    assert completed["outcome"].startswith("Intake assessment done")
    incoming = referrals.list_referrals(actor_for(get_user("hha.supervisor")), "incoming", None)
    assert [r["status"] for r in incoming] == ["requested"]
    created = factories.events("referral.created")
    assert len(created) == len(outgoing) + 1
    assert seed_referrals() == "demo referrals already present"
