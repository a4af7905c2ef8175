"""The consent officer's pages: "Issue access code" from the client's consents shows the
code once on a printable page with plain-language instructions; the list never shows it
again; revoking from the list (CSRF-protected) ends it."""

from __future__ import annotations

from tests import factories
from tests.fixtures.pages import maria_records, signed_in, text_of
from tests.fixtures.portal import my_sign_in


def test_issue_print_once_then_revoke(app, world, client):
    maria = maria_records(client)
    officer = signed_in(app, world, "hha.consent_officer")
    consents = officer.get(f"/clients/{maria}/consents")
    assert f"/clients/{maria}/access-codes" in consents.get_data(as_text=True)
    page = officer.get(f"/clients/{maria}/access-codes")
    assert page.status_code == 200 and "Issue access code" in text_of(page)
    # The button is a form with a CSRF token: without it, nothing is issued.
    assert officer.post(f"/clients/{maria}/access-codes").status_code == 400
    assert not factories.events("portal.code_issued")
    token = factories.csrf_token(page.get_data(as_text=True))
    issued = officer.post(f"/clients/{maria}/access-codes", data={"csrf_token": token})
    assert issued.status_code == 200
    html = issued.get_data(as_text=True)
    [entry] = factories.events("portal.code_issued")
    code_text = html.split('data-testid="access-code-text">', 1)[1].split("<", 1)[0]
    assert code_text.replace("-", "").startswith(entry.target_id)
    words = text_of(issued)
    assert "How to sign in" in words and "/my/sign-in" in words and "shown only once" in words
    # The code works, and the list shows its id only, never the code again.
    assert my_sign_in(app.test_client(), code_text).status_code == 302
    listing = officer.get(f"/clients/{maria}/access-codes")
    assert entry.target_id in text_of(listing) and code_text not in text_of(listing)
    revoke = officer.post(
        f"/access-codes/{entry.target_id}/revoke",
        data={"csrf_token": factories.csrf_token(listing.get_data(as_text=True))},
    )
    assert revoke.status_code == 302
    assert "Revoked" in text_of(officer.get(f"/clients/{maria}/access-codes"))
    assert my_sign_in(app.test_client(), code_text).status_code == 401


def test_a_case_worker_cannot_issue(app, world, client):
    maria = maria_records(client)
    worker = signed_in(app, world, "hha.case_worker")
    page = worker.get(f"/clients/{maria}/access-codes")
    assert page.status_code == 403
    assert "Issue access code" not in text_of(worker.get(f"/clients/{maria}/consents"))
