"""A consent officer records a consent from a signed paper form (uploaded) and sees its
hash; hha's records wait for hha to stand behind it, so hha's consent officer attests it
from the attestation queue and the sharing matrix fills; then revokes it and it empties.

Every page the journey visits (the client's consents, the consent form, the sharing matrix
before and after, the attestation queue full and empty, the revocation form opened) is
checked with axe-core for WCAG 2.1 AA: no violations. So are the consents page with a
consent in each status (issue 18: text on the faded superseded and expired ones lacked
contrast), the printable summary and the list of consents expiring soon."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.fixtures.browser import assert_accessible, sign_in
from tests.fixtures.consents import NOW, consent_for, iso, permit
from tests.fixtures.pages import PDF, maria_records
from tests.fixtures.records import bearer

pytestmark = pytest.mark.browser


def housing_to_cchc(page):
    return page.get_by_test_id("sharing-matrix").locator(
        'td[data-category="housing"][data-recipient="cchc"]'
    )


def test_consent_officer_records_with_a_document_then_revokes(live_server, page, world, client):
    maria = maria_records(client)
    sign_in(page, live_server, world["cchc.consent_officer"])

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Clients").click()
    page.get_by_label("Birth date").fill("1984-03-12")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("table").get_by_role("link", name="Maria Lopez").click()
    expect(page.get_by_role("heading", name="Consents", exact=True)).to_be_visible()
    expect(page.get_by_text("No consent is recorded for this client.")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Record a consent").click()
    expect(page.get_by_text("Dates and times are in UTC")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("group", name="Agencies whose records may be shared (source)").get_by_label(
        "HHA"
    ).check()
    page.get_by_role("group", name="Kinds of information").get_by_label("Housing").check()
    page.get_by_role("group", name="Agencies that may receive them (recipients)").get_by_label(
        "CCHC"
    ).check()
    page.get_by_role("group", name="Purposes").get_by_label("Care coordination").check()
    page.get_by_label("Expires at (UTC)").fill("2030-06-30T17:00")
    page.get_by_label("Signed by").select_option("self")
    page.get_by_label("Name of the person who signed").fill("Maria Lopez")
    page.get_by_label("How the consent was given").select_option("written")
    page.get_by_label("Signed form (PDF, PNG or JPEG)").set_input_files(
        {"name": "consent-maria.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    page.get_by_label("The client was told they may revoke this consent at any time").check()
    page.get_by_role("button", name="Record consent").click()

    digest = hashlib.sha256(PDF).hexdigest()
    expect(page.get_by_role("status").first).to_contain_text(f"SHA-256 {digest}")
    consent = page.get_by_test_id("consent")
    expect(consent).to_have_count(1)
    expect(consent).to_contain_text("Active")
    expect(consent.get_by_test_id("document-hash")).to_have_text(digest)
    consent_id = consent.get_attribute("id")
    assert_accessible(page)

    page.get_by_role("link", name="Sharing matrix").click()
    expect(page.get_by_role("heading", name="What may be shared with whom")).to_be_visible()
    expect(housing_to_cchc(page)).to_contain_text("Not shared")
    expect(housing_to_cchc(page)).to_contain_text("waiting for the source agency to attest")
    assert_accessible(page)

    # hha speaks for hha's records: its consent officer attests from the queue.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server, world["hha.consent_officer"])
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Consents to attest"
    ).click()
    # consents by when and by whom they were signed, agencies by name (issue 18)
    waiting = page.get_by_role("row").filter(has_text="by Maria Lopez")
    expect(waiting).to_contain_text("cchc.consent_officer (Community Health Center)")
    assert_accessible(page)
    waiting.get_by_role(
        "button", name=re.compile(r"^Attest the consent signed .* by Maria Lopez")
    ).click()
    expect(page.get_by_role("status").first).to_contain_text("by Maria Lopez is attested")
    expect(
        page.get_by_text("Nothing waits for Harbor Housing Authority to attest.")
    ).to_be_visible()
    assert_accessible(page)
    page.goto(live_server.url_for(f"/clients/{maria}/sharing"))
    expect(housing_to_cchc(page)).to_contain_text("from Harbor Housing Authority")
    signed = housing_to_cchc(page).get_by_role("link", name=re.compile(r"by Maria Lopez$"))
    expect(signed).to_have_attribute("href", re.compile(f"#{consent_id}$"))
    assert_accessible(page)
    signed.click()

    page.get_by_text("Revoke this consent…").click()
    expect(page.get_by_label("Reason for the revocation")).to_be_visible()
    assert_accessible(page)  # the revocation form, opened
    page.get_by_label("Reason for the revocation").fill("Client withdrew consent at intake desk")
    page.get_by_label("The client revoked").select_option("verbal")
    page.get_by_label("I confirm: sharing under this consent stops now").check()
    page.get_by_role("button", name="Revoke consent").click()

    expect(page.get_by_role("status").first).to_contain_text(
        "Sharing under it stopped immediately."
    )
    consent = page.get_by_test_id("consent")
    expect(consent).to_contain_text("Revoked")
    expect(consent.get_by_test_id("trust")).to_contain_text("Attested by Harbor Housing Authority")
    expect(consent).to_contain_text("Client withdrew consent at intake desk")
    expect(page.get_by_role("button", name="Revoke consent")).to_have_count(0)
    assert_accessible(page)

    page.get_by_role("link", name="Sharing matrix").click()
    expect(housing_to_cchc(page)).to_contain_text("Not shared")
    expect(housing_to_cchc(page)).to_contain_text("consent revoked")
    expect(housing_to_cchc(page).get_by_role("link")).to_have_count(0)
    assert_accessible(page)


def test_consents_in_every_status_are_readable(live_server, page, world, client):
    maria = maria_records(client)
    officer = bearer(factories.token_for("cchc.consent_officer"))
    first = consent_for(client, maria)
    amended = client.post(
        f"/api/v1/consents/{first}/amend", json=permit(categories=["housing"]), headers=officer
    )
    assert amended.status_code == 201, amended.get_json()  # first is now superseded
    consent_for(client, maria, expires_at=iso(NOW + timedelta(days=10)))  # expiring soon
    consent_for(  # expired
        client,
        maria,
        effective_from=iso(NOW - timedelta(days=60)),
        signed_at=iso(NOW - timedelta(days=60)),
        expires_at=iso(NOW - timedelta(days=1)),
    )
    consent_for(client, maria, effective_from=iso(NOW + timedelta(days=5)))  # not yet
    revoked = consent_for(client, maria)
    answer = client.post(
        f"/api/v1/consents/{revoked}/revoke",
        json={"reason": "Client asked", "method": "verbal"},
        headers=officer,
    )
    assert answer.status_code == 200, answer.get_json()

    sign_in(page, live_server, world["cchc.consent_officer"])
    page.goto(live_server.url_for(f"/clients/{maria}/consents"))
    statuses = page.get_by_test_id("consent")
    expect(statuses).to_have_count(6)
    for status in ("Superseded", "Active", "Expired", "Not yet effective", "Revoked"):
        expect(statuses.filter(has_text=status).first).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Printable summary").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(page)

    page.goto(live_server.url_for("/"))
    main = page.get_by_role("navigation", name="Main")
    main.get_by_role("link", name="Consents expiring").click()
    # the client by name and birth date (issue 18), never a short id
    expect(page.get_by_role("table")).to_contain_text("Maria Lopez")
    expect(page.get_by_role("table")).not_to_contain_text(maria[:8])
    assert_accessible(page)
