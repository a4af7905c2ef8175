"""The administrators' agreements page and the homes' "agreements ending" block."""

from __future__ import annotations

import io
from datetime import timedelta

from caseops.db_types import utcnow
from tests.fixtures.agreements import PDF, active_agreement
from tests.fixtures.pages import csrf_of, signed_in, text_of


def test_an_admin_records_the_other_accepts_and_one_terminates(app, world, client):
    hha = signed_in(app, world, "hha.agency_admin")
    today = utcnow().date()
    response = hha.post(
        "/agreements",
        data={
            "csrf_token": csrf_of(hha, "/agreements"),
            "title": "Harbor and health MOU",
            "parties": "hha, cchc",
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=200)).isoformat(),
            "categories": ["housing", "health"],
            "purposes": ["care_coordination"],
            "document": (io.BytesIO(PDF), "mou.pdf", "application/pdf"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    page = text_of(response)
    assert response.status_code == 200 and "recorded" in page, page
    assert "Harbor and health MOU" in page
    assert "awaiting Community Health Center, Harbor Housing Authority" in page
    cchc = signed_in(app, world, "cchc.agency_admin")
    listing = cchc.get("/agreements").get_data(as_text=True)
    agreement_id = listing.split('data-agreement="')[1].split('"')[0]
    accepted = cchc.post(
        f"/agreements/{agreement_id}/accept",
        data={"csrf_token": csrf_of(cchc, "/agreements")},
        follow_redirects=True,
    )
    assert "Your agency accepted" in text_of(accepted) and "pending" in text_of(accepted)
    hha.post(
        f"/agreements/{agreement_id}/accept",
        data={"csrf_token": csrf_of(hha, "/agreements")},
        follow_redirects=True,
    )
    assert f'data-agreement="{agreement_id}" data-status="active"' in hha.get(
        "/agreements"
    ).get_data(as_text=True)
    ended = hha.post(
        f"/agreements/{agreement_id}/terminate",
        data={"csrf_token": csrf_of(hha, "/agreements"), "reason": "Programme closed."},
        follow_redirects=True,
    )
    assert "terminated" in text_of(ended)
    assert f'data-agreement="{agreement_id}" data-status="terminated"' in ended.get_data(
        as_text=True
    )


def test_a_bad_record_is_refused_with_the_reason_and_nothing_is_kept(app, world, client):
    hha = signed_in(app, world, "hha.agency_admin")
    today = utcnow().date()
    response = hha.post(
        "/agreements",
        data={
            "csrf_token": csrf_of(hha, "/agreements"),
            "title": "Lonely MOU",
            "parties": "hha",
            "starts_on": today.isoformat(),
            "ends_on": today.isoformat(),
            "categories": ["housing"],
            "purposes": ["care_coordination"],
            "document": (io.BytesIO(PDF), "mou.pdf", "application/pdf"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "parties: Name at least two agencies." in text_of(response)
    assert "No agreements yet." in text_of(response)


def test_homes_of_admins_and_privacy_officers_list_agreements_ending_soon(app, world, client):
    today = utcnow().date()
    active_agreement(client, ["hha", "cchc"], ends_on=(today + timedelta(days=12)).isoformat())
    for username in ("hha.agency_admin", "cchc.privacy_officer", "hha.system_admin"):
        home = signed_in(app, world, username).get("/").get_data(as_text=True)
        assert 'data-testid="expiring-agreements"' in home, username
        assert "MOU hha / cchc" in home
    worker = signed_in(app, world, "hha.case_worker").get("/").get_data(as_text=True)
    assert 'data-testid="expiring-agreements"' not in worker


def test_an_agreement_ending_later_is_not_listed_as_ending(app, world, client):
    today = utcnow().date()
    active_agreement(client, ["hha", "cchc"], ends_on=(today + timedelta(days=45)).isoformat())
    home = signed_in(app, world, "hha.agency_admin").get("/").get_data(as_text=True)
    assert 'data-testid="expiring-agreements"' not in home
