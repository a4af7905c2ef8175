"""Notes in the decision matrix (issue 18): a note is a section of its author's agency in
its category, so the record view decides it exactly as that agency's records.

Reader: cchc's case worker. Cells: the note's category (behavioral health; substance use,
42 CFR Part 2 wherever it is held) x its author's agency (cchc itself; hha; the Part 2
program rrp) x the consent (none; covering the category from the author's agency, naming
cchc; covering another category only; covering, then revoked) x the reader's relationship
(care team; an accepted referral sharing the note's category; none). Every cell goes
through the API and checks the answer, that a note not shown leaves no word of its text,
and the access-log entry (the notes disclosed, by id, and nothing else)."""

from __future__ import annotations

import json

import pytest

from tests import factories
from tests.fixtures.access import join_care_team
from tests.fixtures.consents import permit
from tests.fixtures.notes import (
    AUTHORS,
    add_rrp_record,
    authors_join,
    call,
    maria_at,
    note_sections,
    note_written,
    record_view,
)
from tests.fixtures.referrals import accepted_referral

READER = "cchc.case_worker"
CATEGORIES = ("behavioral_health", "substance_use")
CONSENTS = ("none", "covering", "other_category", "revoked")
RELATIONSHIPS = ("care_team", "referral", "none")
OTHER_CATEGORY = "economic_security"


def _consent(client, client_id: str, author: str, categories: list[str]) -> str:
    """A permit the author's agency records for its own data, naming cchc (so it stands
    without an attestation, and names the recipient as 42 CFR Part 2 asks)."""
    body = permit(source_agencies=[author], categories=categories, recipients=["cchc"])
    answer = call(
        client,
        "POST",
        f"/api/v1/clients/{client_id}/consents",
        f"{author}.consent_officer",
        json=body,
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def _cells():
    for category in CATEGORIES:
        for author in ("cchc", "hha", "rrp"):
            # cchc reads its own agency's notes by the own-agency rule: consent is moot
            for consent in ("none",) if author == "cchc" else CONSENTS:
                for relationship in RELATIONSHIPS:
                    yield category, author, consent, relationship


def _expected(category: str, author: str, consent: str, relationship: str) -> str:
    """shown | withheld:<reason> | hidden, from the rule of DESIGN.md."""
    part2 = author == "rrp" or category == "substance_use"
    consented = author == "cchc" or consent == "covering"
    if not consented:
        if part2:
            return "hidden"
        return "withheld:consent_revoked" if consent == "revoked" else "withheld:no_consent"
    return "shown" if relationship != "none" else "withheld:no_relationship"


def _world(client, category: str, author: str, consent: str, relationship: str):
    # the referral is sent before rrp holds a record, so the consent gate (which asks for
    # a consent from every source holding a shared category) needs only hha's housing
    # consent; the referral relationship then depends on that consent alone
    client_id = maria_at(client, rrp=False)
    authors_join(client, client_id, ("hha", "cchc"))
    if relationship == "referral":
        _consent(client, client_id, "hha", ["housing"])
        accepted_referral(client, client_id, worker=READER, shared=(category,))
    elif relationship == "care_team":
        assert join_care_team(client, READER, client_id).status_code == 201
    add_rrp_record(client, client_id)
    authors_join(client, client_id, ("rrp",))
    text = f"NOTE-{author}-{category}-sensitive words"
    note_id = note_written(client, AUTHORS[author], client_id, category, text)
    if consent in ("covering", "revoked"):
        consent_id = _consent(client, client_id, author, [category])
        if consent == "revoked":
            revoked = call(
                client,
                "POST",
                f"/api/v1/consents/{consent_id}/revoke",
                f"{author}.consent_officer",
                json={"reason": "The client asked."},
            )
            assert revoked.status_code == 200, revoked.get_json()
    elif consent == "other_category":
        _consent(client, client_id, author, [OTHER_CATEGORY])
    return client_id, note_id, text


@pytest.mark.parametrize(("category", "author", "consent", "relationship"), list(_cells()))
def test_a_note_is_decided_as_its_section(world, client, category, author, consent, relationship):
    client_id, note_id, text = _world(client, category, author, consent, relationship)
    response = record_view(client, READER, client_id)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    listed = note_sections(body, author, category)
    expected = _expected(category, author, consent, relationship)
    entry = factories.events("client.view")[-1]
    disclosed_notes = (entry.detail or {}).get("notes") or {}
    if expected == "shown":
        assert [s["status"] for s in listed] == ["shown"], body
        assert listed[0]["note"]["id"] == note_id
        assert listed[0]["note"]["text"] == text
        assert listed[0]["relationship"] == relationship
        # the author's name stays in the author's agency (users are hidden across agencies)
        assert listed[0]["note"]["author"] == (AUTHORS[author] if author == "cchc" else None)
        if author != "cchc" and (author == "rrp" or category == "substance_use"):
            assert listed[0]["notice"], "Part 2 data disclosed carries the redisclosure notice"
        assert disclosed_notes == {f"{author}/{category}": [note_id]}
        assert f"{author}/{category}" in entry.detail["disclosed"]
    else:
        assert text not in response.get_data(as_text=True)
        assert note_id not in response.get_data(as_text=True)
        assert disclosed_notes == {}
        assert note_id not in json.dumps(entry.detail)
        if expected == "hidden":
            assert listed == [], body
        else:
            assert [(s["status"], s["reason"]) for s in listed] == [
                ("withheld", expected.partition(":")[2])
            ], body
            assert set(listed[0]) == {"agency", "category", "kind", "status", "reason"}


def test_the_matrix_covers_every_outcome():
    """The cells above reach each outcome (a matrix that only ever hid would prove little)."""
    outcomes = {_expected(*cell).partition(":")[0] for cell in _cells()}
    reasons = {_expected(*cell) for cell in _cells()}
    assert outcomes == {"shown", "withheld", "hidden"}
    assert {"withheld:no_consent", "withheld:consent_revoked", "withheld:no_relationship"} <= (
        reasons
    )
