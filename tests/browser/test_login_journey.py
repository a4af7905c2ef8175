"""Signing in, enrolling a second factor and signing out, in a real browser.

Every page the journeys visit (the sign-in page, its failure message, the QR-code
enrolment, the recovery codes, the second factor, the home page, the signed-out notice)
is checked with axe-core for WCAG 2.1 AA: no violations."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD, make_agency, make_user
from tests.fixtures.browser import assert_accessible

pytestmark = pytest.mark.browser

GENERIC_FAILURE = "Invalid username, password or code."
FOOTER = "Every view of client data is written to an immutable access log."


def _path_is(server, path: str) -> re.Pattern[str]:
    """Matches the page URL at ``path`` (any query string)."""
    return re.compile(re.escape(server.url_for(path)) + r"(\?.*)?$")


def test_login_page_layout(live_server, page):
    response = page.goto(live_server.url_for("/login"))
    assert response is not None and response.status == 200

    expect(page).to_have_title("Sign in · caseops")
    expect(page.locator("header.topbar .brand")).to_have_text("caseops")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_label("Password")).to_have_attribute("type", "password")
    expect(page.get_by_role("button", name="Continue")).to_be_visible()
    expect(page.locator("footer.footer")).to_have_text(FOOTER)
    # Nobody is signed in: no user, no navigation, no sign-out.
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)

    # The local stylesheet is applied (CSP allows it): the top bar is dark, not transparent.
    topbar = page.locator("header.topbar")
    assert topbar.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(29, 35, 48)"
    assert topbar.evaluate("e => getComputedStyle(e).display") == "flex"
    assert_accessible(page)


def test_new_user_enrols_signs_in_and_out(live_server, page):
    make_agency("hha", name="Harbor Housing Authority", kind="housing")
    make_user("hha.newcomer", "hha", ["case_worker"], enrolled=False)

    # Asking for the home page sends the browser to sign in first.
    page.goto(live_server.url_for("/"))
    expect(page).to_have_url(_path_is(live_server, "/login"))

    page.get_by_label("Username").fill("hha.newcomer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()

    # No second factor yet: enrolment is forced.
    expect(page).to_have_url(_path_is(live_server, "/login/enrol"))
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    assert_accessible(page)
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.get_by_test_id("recovery-codes").locator("li")
    expect(codes).to_have_count(10)
    texts = [text.strip() for text in codes.all_inner_texts()]
    assert len(set(texts)) == 10 and all(texts), texts
    assert_accessible(page)

    # The session cookie is Secure and HttpOnly, and Chromium kept it on http://127.0.0.1.
    cookie = next(c for c in page.context.cookies() if c["name"] == "caseops_session")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    page.get_by_role("link", name="I have stored them — continue").click()
    expect(page).to_have_url(_path_is(live_server, "/"))
    expect(page.get_by_test_id("current-user")).to_have_text("hha.newcomer")
    expect(page.get_by_role("heading", name="Welcome, hha.newcomer")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(_path_is(live_server, "/login"))
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    assert_accessible(page)

    page.goto(live_server.url_for("/"))
    expect(page).to_have_url(_path_is(live_server, "/login"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_failed_sign_in_gives_one_generic_message(live_server, page):
    make_agency("hha")
    worker = make_user("hha.worker", "hha", ["case_worker"])

    def attempt(username: str, password: str) -> str:
        page.goto(live_server.url_for("/login"))
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        with page.expect_response(
            lambda response: (
                response.request.method == "POST"
                and response.url.startswith(live_server.url_for("/login"))
            )
        ) as answer:
            page.get_by_role("button", name="Continue").click()
        assert answer.value.status == 401
        expect(page).to_have_url(_path_is(live_server, "/login"))
        alert = page.get_by_role("alert")
        expect(alert).to_have_count(1)
        expect(alert).to_have_text(GENERIC_FAILURE)
        expect(page.get_by_test_id("current-user")).to_have_count(0)
        assert_accessible(page)  # with the error message shown
        return " ".join(page.locator("main").text_content().split())

    wrong_password = attempt("hha.worker", "not-the-password-at-all")
    unknown_user = attempt("hha.nobody", "not-the-password-at-all")
    # Nothing on the page tells a wrong password from an unknown name.
    assert wrong_password == unknown_user
    for hint in ("unknown", "not found", "no such", "incorrect password", "locked"):
        assert hint not in wrong_password.lower()

    # The right password leads to the second factor; a wrong code gets the same message.
    page.goto(live_server.url_for("/login"))
    page.get_by_label("Username").fill("hha.worker")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    assert_accessible(page)
    valid = {worker.code(step) for step in (-1, 0, 1)}
    wrong = next(code for code in ("000000", "111111", "222222") if code not in valid)
    page.get_by_label("Code").fill(wrong)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(GENERIC_FAILURE)
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    assert_accessible(page)


def test_harness_reports_csp_violations(live_server, page, page_errors):
    """The console check really sees what the Content-Security-Policy blocks."""
    page.goto(live_server.url_for("/login"))
    with page.expect_console_message(
        lambda message: message.type == "error" and "Content Security Policy" in message.text
    ):
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "document.body.dataset.injected = 'yes'";
                document.body.append(script);
            }"""
        )
    assert page.locator("body").get_attribute("data-injected") is None
    seen = page_errors.take()
    assert any("Content Security Policy" in error for error in seen), seen
