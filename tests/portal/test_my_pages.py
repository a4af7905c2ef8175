"""The client's own pages: sign-in with code and birth date (lockout per code and per
address, one answer for every failure), a session that is the client's only (no staff
endpoint, no other client), who accessed my record, revoking my consent, my referrals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from caseops.auth.service import LOCKOUT_THRESHOLD
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.portal import codes
from caseops.portal.models import ClientAccessCode, PortalAddressFailure
from caseops.portal.service import GENERIC_SIGN_IN_MESSAGE
from caseops.webhooks.models import WebhookEvent
from tests import factories
from tests.fixtures.access import join_care_team, sections, view
from tests.fixtures.consents import break_glass, consent_for
from tests.fixtures.pages import text_of
from tests.fixtures.portal import MARIA_BIRTH_DATE, my_sign_in, signed_in_client
from tests.fixtures.records import MARIA, bearer, put


def _wrong(code: str) -> str:
    """The same public id, another secret."""
    flat = code.replace("-", "")
    last = codes.ALPHABET[(codes.ALPHABET.index(flat[-1]) + 1) % len(codes.ALPHABET)]
    return flat[:-1] + last


def _hha_reads_cchc_health(client, maria) -> str:
    """cchc's health to hha under a consent cchc recorded; hha's worker joins and reads."""
    consent_id = consent_for(
        client,
        maria,
        by="cchc",
        source_agencies=["cchc"],
        categories=["health"],
        recipients=["hha"],
    )
    assert join_care_team(client, "hha.case_worker", maria).status_code == 201
    read = view(client, "hha.case_worker", maria)
    assert sections(read)[("cchc", "health")]["status"] == "shown"
    return consent_id


# --- signing in ------------------------------------------------------------------------------


def test_sign_in_with_code_and_birth_date_opens_my_pages(app, maria_code):
    maria, issued = maria_code
    browser = app.test_client()
    assert browser.get("/my").status_code == 302
    response = my_sign_in(browser, issued["code"].lower().replace("-", " "))
    assert response.status_code == 302 and response.headers["Location"].endswith("/my")
    cookie = response.headers["Set-Cookie"]
    assert "caseops_my=" in cookie and "Path=/my" in cookie
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie
    page = browser.get("/my")
    assert page.status_code == 200
    assert "Who looked at your record" in text_of(page)
    [entry] = [e for e in factories.events("portal.sign_in") if e.outcome == "success"]
    assert entry.client_id == maria and entry.actor == f"client:{issued['id']}"
    assert entry.actor_roles == [] and entry.actor_agency is None


@pytest.mark.parametrize("how", ["wrong_secret", "wrong_birth_date", "unknown", "malformed"])
def test_every_wrong_sign_in_gets_the_one_answer(app, maria_code, how):
    _, issued = maria_code
    typed, birth = {
        "wrong_secret": (_wrong(issued["code"]), MARIA_BIRTH_DATE),
        "wrong_birth_date": (issued["code"], "1984-03-13"),
        "unknown": ("2222-2222-2222-2222-2222-2222", MARIA_BIRTH_DATE),
        "malformed": ("not a code", MARIA_BIRTH_DATE),
    }[how]
    response = my_sign_in(app.test_client(), typed, birth)
    assert response.status_code == 401
    assert GENERIC_SIGN_IN_MESSAGE in text_of(response)
    assert factories.events("portal.sign_in")[-1].outcome == "failure"


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_a_revoked_or_expired_code_is_refused_like_a_wrong_one(app, client, maria_code, state):
    _, issued = maria_code
    if state == "revoked":
        token = factories.token_for("hha.consent_officer")
        client.post(f"/api/v1/access-codes/{issued['id']}/revoke", headers=bearer(token))
    else:
        db.session.execute(
            update(ClientAccessCode)
            .where(ClientAccessCode.code_id == issued["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    wrong = my_sign_in(app.test_client(), _wrong(issued["code"]))
    refused = my_sign_in(app.test_client(), issued["code"])
    assert refused.status_code == wrong.status_code == 401
    assert text_of(refused) == text_of(wrong)
    assert factories.events("portal.sign_in")[-1].detail["reason"] == state


def test_a_code_locks_after_repeated_failures_even_from_many_addresses(app, maria_code):
    _, issued = maria_code
    for attempt in range(LOCKOUT_THRESHOLD):
        browser = app.test_client()
        page = browser.get("/my/sign-in")
        browser.post(
            "/my/sign-in",
            data={
                "code": _wrong(issued["code"]),
                "birth_date": MARIA_BIRTH_DATE,
                "csrf_token": factories.csrf_token(page.get_data(as_text=True)),
            },
            environ_base={"REMOTE_ADDR": f"10.0.0.{attempt + 1}"},
        )
    [lock] = factories.events("portal.lockout")
    assert lock.target_type == "access_code" and lock.target_id == issued["id"]
    # Now even the right code and birth date are refused, with the same answer.
    refused = my_sign_in(app.test_client(), issued["code"])
    assert refused.status_code == 401 and GENERIC_SIGN_IN_MESSAGE in text_of(refused)
    assert factories.events("portal.sign_in")[-1].detail["reason"] == "code_locked"
    # Once the lock has passed, the right code works again (and clears the count).
    db.session.execute(
        update(ClientAccessCode)
        .where(ClientAccessCode.code_id == issued["id"])
        .values(locked_until=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    assert my_sign_in(app.test_client(), issued["code"]).status_code == 302
    row = db.session.scalar(
        select(ClientAccessCode).where(ClientAccessCode.code_id == issued["id"])
    )
    db.session.refresh(row)
    assert row.failed_attempts == 0


def test_an_address_locks_after_guessing_across_codes(app, client, maria_code):
    _, issued = maria_code
    browser = app.test_client()
    for _ in range(LOCKOUT_THRESHOLD):
        guess = codes.new_code().text
        assert my_sign_in(browser, guess).status_code == 401
    [lock] = factories.events("portal.lockout")
    assert lock.target_type == "address"
    # The right code from that address is refused too; from another address it works.
    assert my_sign_in(browser, issued["code"]).status_code == 401
    assert factories.events("portal.sign_in")[-1].detail["reason"] == "address_locked"
    other = app.test_client()
    page = other.get("/my/sign-in")
    opened = other.post(
        "/my/sign-in",
        data={
            "code": issued["code"],
            "birth_date": MARIA_BIRTH_DATE,
            "csrf_token": factories.csrf_token(page.get_data(as_text=True)),
        },
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert opened.status_code == 302
    assert db.session.get(PortalAddressFailure, "127.0.0.1").failures >= LOCKOUT_THRESHOLD


def test_sign_in_needs_the_csrf_token(app, maria_code):
    _, issued = maria_code
    response = app.test_client().post(
        "/my/sign-in", data={"code": issued["code"], "birth_date": MARIA_BIRTH_DATE}
    )
    assert response.status_code == 400
    assert not [e for e in factories.events("portal.sign_in") if e.outcome == "success"]


# --- the session is the client's, and only theirs ---------------------------------------------


STAFF_PATHS = [
    "/api/v1/me/caseload",
    "/api/v1/referrals",
    "/api/v1/consents/expiring",
    "/api/v1/audit/events",
    "/",
    "/consents/expiring",
]


def test_a_client_session_grants_no_staff_endpoint_or_page(app, maria_code):
    maria, issued = maria_code
    browser = signed_in_client(app, issued["code"])
    for path in [*STAFF_PATHS, f"/api/v1/clients/{maria}/record", f"/clients/{maria}"]:
        response = browser.get(path, headers={"Accept": "application/json"})
        assert response.status_code in (401, 302), (path, response.status_code)
        if response.status_code == 302:
            assert "/login" in response.headers["Location"], path
    # Even sent by hand to a staff path, the client cookie authenticates nothing.
    token = browser.get_cookie("caseops_my", path="/my").value
    bare = app.test_client()
    bare.set_cookie("caseops_my", token, path="/")
    assert bare.get("/api/v1/referrals").status_code == 401


def test_no_staff_route_accepts_a_client_session(app, maria_code):
    """Every route of the app but the public ones and /my, each of its methods, called with
    the client's cookie sent everywhere: 401, or the staff login."""
    import re as regex

    from caseops.auth.current import PUBLIC_ATTR, PUBLIC_ENDPOINTS

    _, issued = maria_code
    token = signed_in_client(app, issued["code"]).get_cookie("caseops_my", path="/my").value
    caller = app.test_client()
    caller.set_cookie("caseops_my", token, path="/")
    checked = 0
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint.startswith("my.") or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        if getattr(view, PUBLIC_ATTR, False):
            continue
        path = regex.sub(r"<(?:[^:>]+:)?([^>]+)>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = caller.open(path, method=method, headers={"Accept": "application/json"})
            login = response.status_code == 302 and "/login" in response.headers["Location"]
            assert response.status_code == 401 or login, (method, rule.rule, response.status_code)
            checked += 1
    assert checked > 100


def test_client_a_never_sees_client_b(app, client, world, maria_code):
    maria, issued = maria_code
    ana = MARIA | {
        "person": MARIA["person"]
        | {
            "given_name": "Ana",
            "family_name": "Ortiz",
            "birth_date": "1990-01-01",
            "ssn": "987-65-4320",
        }
    }
    feed = factories.token_for("hha.integration")
    ana_id = put(client, feed, ana, srid="H-ANA").get_json()["client_id"]
    assert ana_id != maria
    consent_id = consent_for(client, ana_id, by="hha", recipients=["cchc"])
    browser = signed_in_client(app, issued["code"])
    consents = text_of(browser.get("/my/consents"))
    assert consent_id not in consents
    # Ana's consent id in a /my URL is unknown to Maria's session, and nothing is revoked.
    assert browser.get(f"/my/consents/{consent_id}/revoke").status_code == 404
    page = browser.get("/my/consents")
    token = factories.csrf_token(page.get_data(as_text=True))
    posted = browser.post(f"/my/consents/{consent_id}/revoke", data={"csrf_token": token})
    assert posted.status_code == 404
    assert not factories.events("consent.revoked")
    # A client id in the URL or query changes nothing: the session names the client.
    assert ana_id not in text_of(browser.get(f"/my?client_id={ana_id}"))


def test_signing_out_ends_the_session(app, maria_code):
    _, issued = maria_code
    browser = signed_in_client(app, issued["code"])
    token = browser.get_cookie("caseops_my", path="/my").value
    page = browser.get("/my")
    out = browser.post(
        "/my/sign-out", data={"csrf_token": factories.csrf_token(page.get_data(as_text=True))}
    )
    assert out.status_code == 302
    replay = app.test_client()
    replay.set_cookie("caseops_my", token, path="/my")
    assert replay.get("/my").status_code == 302
    assert factories.events("portal.sign_out")


def test_revoking_the_code_ends_its_sessions(app, client, maria_code):
    _, issued = maria_code
    browser = signed_in_client(app, issued["code"])
    token = factories.token_for("hha.consent_officer")
    client.post(f"/api/v1/access-codes/{issued['id']}/revoke", headers=bearer(token))
    assert browser.get("/my").status_code == 302


# --- what the client sees ----------------------------------------------------------------------


def test_who_accessed_my_record(app, client, maria_code):
    maria, issued = maria_code
    _hha_reads_cchc_health(client, maria)
    break_glass(client, "cchc.supervisor", maria)
    assert view(client, "cchc.supervisor", maria).status_code == 200
    browser = signed_in_client(app, issued["code"])
    text = text_of(browser.get("/my"))
    assert "Harbor Housing Authority" in text and "Health (from Community Health Center)" in text
    assert "A case worker" in text and "To coordinate your care" in text
    assert "Your consent of" in text
    assert "An emergency (break-the-glass), under review by a privacy officer" in text
    assert "Emergency access (break-the-glass)" in text
    assert "hha.case_worker" not in text  # names are off by default
    [look] = factories.events("portal.viewed")
    assert look.client_id == maria and look.detail["page"] == "accesses"
    app.config["CASEOPS_TRANSPARENCY_NAMES"] = True
    assert "hha.case_worker" in text_of(browser.get("/my"))


def test_revoking_my_consent_is_my_act_effective_at_once_and_announced(app, client, maria_code):
    maria, issued = maria_code
    consent_id = _hha_reads_cchc_health(client, maria)
    hooked = client.post(
        "/api/v1/agencies/hha/webhooks",
        json={"url": "https://hha.example/hook", "events": ["consent.revoked"]},
        headers=bearer(factories.token_for("hha.agency_admin")),
    )
    assert hooked.status_code == 201, hooked.get_json()
    browser = signed_in_client(app, issued["code"])
    listing = browser.get("/my/consents")
    assert consent_id in text_of(listing)
    confirm = browser.get(f"/my/consents/{consent_id}/revoke")
    assert confirm.status_code == 200 and "Revoke this consent?" in text_of(confirm)
    # Without the CSRF token nothing happens.
    assert browser.post(f"/my/consents/{consent_id}/revoke").status_code == 400
    assert not factories.events("consent.revoked")
    token = factories.csrf_token(confirm.get_data(as_text=True))
    done = browser.post(f"/my/consents/{consent_id}/revoke", data={"csrf_token": token})
    assert done.status_code == 302
    [revoked] = factories.events("consent.revoked")
    assert revoked.actor == f"client:{issued['id']}" and revoked.actor_roles == []
    assert revoked.detail["method"] == "electronic" and revoked.target_id == consent_id
    announced = db.session.scalars(select(WebhookEvent)).all()
    assert [(e.kind, e.agency_code, e.data) for e in announced] == [
        ("consent.revoked", "hha", {"consent_id": consent_id})
    ]
    again = view(client, "hha.case_worker", maria)
    withheld = sections(again)[("cchc", "health")]
    assert withheld["status"] == "withheld" and withheld["reason"] == "consent_revoked"
    after = text_of(browser.get("/my/consents"))
    assert "No longer in force" in after and "Revoked on" in after


def test_my_referrals_show_status_in_words_and_no_notes(app, client, maria_code):
    maria, issued = maria_code
    consent_for(client, maria, by="hha", recipients=["cchc"])
    worker = factories.token_for("hha.case_worker")
    assert join_care_team(client, "hha.case_worker", maria).status_code == 201
    made = client.post(
        f"/api/v1/clients/{maria}/referrals",
        json={
            "to_agency": "cchc",
            "service": "housing_assistance",
            "shared_categories": ["housing"],
            "note": "NOTE-SECRET-for-cchc-only",
            "send": True,
        },
        headers=bearer(worker),
    )
    assert made.status_code == 201, made.get_json()
    text = text_of(signed_in_client(app, issued["code"]).get("/my/referrals"))
    assert "Housing assistance" in text and "Sent, waiting for an answer" in text
    assert "NOTE-SECRET" not in text


# --- the verifiable statement --------------------------------------------------------------------


def test_my_statement_downloads_and_prints_with_the_checkpoint(app, client, maria_code):
    from caseops.audit.keys import log_key
    from caseops.audit.seal import seal_once
    from caseops.audit.statement import FORMAT

    maria, issued = maria_code
    _hha_reads_cchc_health(client, maria)
    seal_once(db.engine, log_key())
    browser = signed_in_client(app, issued["code"])
    download = browser.get("/my/statement.json")
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    statement = download.get_json()
    assert statement["format"] == FORMAT and statement["client_id"] == maria
    [viewed] = [e for e in statement["entries"] if e["agency"] == "hha"]
    assert "cchc/health" in viewed["categories"] and viewed["proof_status"] == "proven"
    assert "staff" not in viewed and "hha.case_worker" not in download.get_data(as_text=True)
    assert "127.0.0.1" not in download.get_data(as_text=True)  # no addresses in a statement
    printable = browser.get("/my/statement")
    assert printable.status_code == 200
    text = text_of(printable)
    assert "Signed checkpoint" in text and statement["checkpoint"]["root_hash"] in text
    logged = factories.events("portal.statement")
    assert [e.detail["how"] for e in logged] == ["download", "print"]
    assert all(e.client_id == maria and e.actor == f"client:{issued['id']}" for e in logged)


def test_my_pages_use_the_deployment_time_zone_and_no_staff_shell(app, world, maria_code):
    from tests import factories as made

    _, issued = maria_code
    browser = signed_in_client(app, issued["code"])
    assert made.login(browser, world["hha.case_worker"]).status_code == 302  # same browser
    app.config["CASEOPS_TIME_ZONE"] = "America/Chicago"
    page = browser.get("/my")
    html = page.get_data(as_text=True)
    assert "Times are shown in America/Chicago" in text_of(page)
    assert 'aria-label="Main"' not in html and "hha.case_worker" not in html
    assert 'aria-label="Your pages"' in html
