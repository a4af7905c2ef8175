"""Writing and amending notes (issue 18): who may, what is kept, what the database holds,
and how a note moves the reader's fingerprint."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from caseops.extensions import db
from tests import factories
from tests.fixtures.access import join_care_team
from tests.fixtures.consents import permit
from tests.fixtures.notes import (
    amend_note,
    call,
    note_sections,
    note_written,
    record_view,
    write_note,
)

SECRET = "Relapsed last week, new counsellor Dr. Okafor"


def _fingerprint(client, username, client_id):
    response = call(client, "GET", f"/api/v1/clients/{client_id}/record/fingerprint", username)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["fingerprint"]


def test_a_note_is_encrypted_at_rest_and_bound_to_its_id(app, client, maria_for_notes):
    note_id = note_written(client, "hha.case_worker", maria_for_notes, "housing", SECRET)
    amended = amend_note(client, "hha.case_worker", note_id, SECRET + " (corrected)", "Typo")
    assert amended.status_code == 200, amended.get_json()
    other = note_written(client, "hha.case_worker", maria_for_notes, "housing", "Another note")
    with app.app_context():
        stored = " ".join(
            str(value)
            for table in ("notes", "note_amendments")
            for row in db.session.execute(text(f"SELECT * FROM {table}"))
            for value in row
        )
        assert "Relapsed" not in stored and "Okafor" not in stored and "Typo" not in stored
        # a ciphertext moved to another note does not decrypt (bound to the note id)
        from caseops.crypto import DecryptionFailed, keyring_from_config
        from caseops.notes.service import text_context

        token = db.session.scalar(
            text("SELECT text_encrypted FROM notes WHERE id = :id"), {"id": note_id}
        )
        keyring = keyring_from_config(app.config)
        assert keyring.decrypt(token, text_context(note_id)).decode() == SECRET
        with pytest.raises(DecryptionFailed):
            keyring.decrypt(token, text_context(other))
        with pytest.raises(DecryptionFailed):
            keyring.decrypt(token, text_context(note_id, 1))


def test_the_tables_are_append_only_and_amendments_numbered(app, client, maria_for_notes):
    note_id = note_written(client, "hha.case_worker", maria_for_notes, "housing", SECRET)
    assert amend_note(client, "hha.case_worker", note_id, "Better", "Clearer").status_code == 200
    with app.app_context():
        for statement in (
            "UPDATE notes SET category = 'health'",
            "DELETE FROM notes",
            "UPDATE note_amendments SET by_user = 'someone'",
            "DELETE FROM note_amendments",
        ):
            with pytest.raises(DBAPIError):
                db.session.execute(text(statement))
            db.session.rollback()
        with pytest.raises(IntegrityError):
            db.session.execute(
                text(
                    "INSERT INTO note_amendments (note_id, seq, text_encrypted, "
                    "reason_encrypted, by_user, by_agency, at) "
                    "VALUES (:n, 1, 'x', 'y', 'u', 'hha', CURRENT_TIMESTAMP)"
                ),
                {"n": note_id},
            )
        db.session.rollback()


def test_amending_keeps_the_original_and_says_who_when_why(client, maria_for_notes):
    note_id = note_written(client, "hha.case_worker", maria_for_notes, "housing", "Shelter B")
    first = amend_note(client, "hha.case_worker", note_id, "Shelter C", "Wrong shelter")
    assert first.status_code == 200, first.get_json()
    second = amend_note(client, "hha.supervisor", note_id, "Shelter C, room 4", "Room added")
    assert second.status_code == 200, second.get_json()
    answer = second.get_json()
    assert answer["text"] == "Shelter C, room 4"
    assert answer["original_text"] == "Shelter B"
    assert answer["amended"] is True
    assert [(a["seq"], a["by"], a["reason"]) for a in answer["amendments"]] == [
        (1, "hha.case_worker", "Wrong shelter"),
        (2, "hha.supervisor", "Room added"),
    ]
    shown = note_sections(record_view(client, "hha.case_worker", maria_for_notes).get_json())
    assert [s["note"]["text"] for s in shown] == ["Shelter C, room 4"]
    assert shown[0]["note"]["original_text"] == "Shelter B"
    assert [a["reason"] for a in shown[0]["note"]["amendments"]] == ["Wrong shelter", "Room added"]
    logged = factories.events("note.amended")
    assert [e.detail["seq"] for e in logged] == [1, 2]
    assert all("Shelter" not in str(e.detail) for e in logged)


def test_another_agency_reads_amended_with_when_and_why_but_not_who(client, maria_for_notes):
    call(
        client,
        "POST",
        f"/api/v1/clients/{maria_for_notes}/consents",
        "hha.consent_officer",
        json=permit(),  # hha's housing to cchc
    )
    assert join_care_team(client, "cchc.case_worker", maria_for_notes).status_code == 201
    note_id = note_written(client, "hha.case_worker", maria_for_notes, "housing", "Shelter B")
    amend_note(client, "hha.case_worker", note_id, "Shelter C", "Wrong shelter")
    shown = note_sections(record_view(client, "cchc.case_worker", maria_for_notes).get_json())
    assert shown[0]["status"] == "shown"
    note = shown[0]["note"]
    assert note["author"] is None and note["amendments"][0]["by"] is None
    assert note["amended"] is True and note["amendments"][0]["reason"] == "Wrong shelter"
    assert note["amendments"][0]["at"]


@pytest.mark.parametrize(
    ("username", "status"),
    [
        ("hha.case_worker", 200),  # the author
        ("hha.supervisor", 200),  # a supervisor of the author's agency
        ("hha.consent_officer", 404),  # not a worker: the note does not exist for them
        ("cchc.case_worker", 404),  # another agency: as an unknown id
        ("cchc.supervisor", 404),
    ],
)
def test_who_amends(client, maria_for_notes, username, status):
    note_id = note_written(client, "hha.case_worker", maria_for_notes, "housing", SECRET)
    response = amend_note(client, username, note_id, "New text", "A reason")
    assert response.status_code == status, response.get_json()
    if status == 404:
        unknown = amend_note(client, username, "nte_00000000000000000000", "New text", "Why")
        assert unknown.status_code == 404
        assert response.get_json()["error"]["message"].replace(note_id, "X") == unknown.get_json()[
            "error"
        ]["message"].replace("nte_00000000000000000000", "X")


def test_a_colleague_who_is_not_the_author_is_refused_and_logged(client, maria_for_notes):
    factories.make_user("hha.colleague", "hha", ["case_worker"])
    note_id = note_written(client, "hha.case_worker", maria_for_notes, "housing", SECRET)
    response = amend_note(client, "hha.colleague", note_id, "Rewritten", "Because")
    assert response.status_code == 403, response.get_json()
    assert factories.events("note.amend")[-1].outcome == "denied"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "", "reason": "Why"}, "text"),
        ({"text": "   ", "reason": "Why"}, "text"),
        ({"text": "New"}, "reason"),
        ({"text": "New", "reason": "  "}, "reason"),
    ],
)
def test_an_amendment_needs_text_and_reason(client, maria_for_notes, body, field):
    note_id = note_written(client, "hha.case_worker", maria_for_notes, "housing", SECRET)
    response = call(client, "POST", f"/api/v1/notes/{note_id}/amend", "hha.case_worker", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["details"]
    assert factories.events("note.amended") == []


def test_writing_needs_a_relationship_and_a_known_category(client, world, maria_for_notes):
    # cchc's case worker is not on the care team and has no referral
    refused = write_note(client, "cchc.case_worker", maria_for_notes, "health", SECRET)
    assert refused.status_code == 403, refused.get_json()
    assert factories.events("note.write")[-1].detail["reason"] == "no_relationship"
    unknown = write_note(client, "hha.case_worker", maria_for_notes, "astrology", SECRET)
    assert unknown.status_code == 422 and "category" in unknown.get_json()["error"]["details"]
    empty = write_note(client, "hha.case_worker", maria_for_notes, "housing", "  ")
    assert empty.status_code == 422 and "text" in empty.get_json()["error"]["details"]
    not_a_worker = write_note(client, "hha.consent_officer", maria_for_notes, "housing", SECRET)
    assert not_a_worker.status_code == 403
    stranger = write_note(
        client, "hha.case_worker", "f00dfacef00dfacef00dfacef00dface", "housing", "x"
    )
    assert stranger.status_code == 404
    assert factories.events("note.written") == []


def test_a_note_may_name_only_a_referral_of_the_writers_agency(client, maria_for_notes):
    response = write_note(
        client,
        "hha.case_worker",
        maria_for_notes,
        "housing",
        SECRET,
        referral_id="ref_00000000000000000000",
    )
    assert response.status_code == 422
    assert "referral_id" in response.get_json()["error"]["details"]


def test_the_written_answer_and_log_say_part2(client, maria_for_notes):
    response = write_note(client, "rrp.case_worker", maria_for_notes, "housing", SECRET)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["part2"] is True  # a Part 2 program's note, any category
    entry = factories.events("note.written")[-1]
    assert entry.detail == {"section": "rrp/housing", "part2": True, "referral_id": None}


def test_a_note_the_reader_sees_moves_their_fingerprint_and_a_hidden_one_does_not(
    client, maria_for_notes
):
    reader = "hha.case_worker"
    before = _fingerprint(client, reader, maria_for_notes)
    # rrp's note: Part 2, no consent names hha: hidden from hha, fingerprint unchanged
    hidden = note_written(client, "rrp.case_worker", maria_for_notes, "health", SECRET)
    assert _fingerprint(client, reader, maria_for_notes) == before
    amend_note(client, "rrp.case_worker", hidden, "Changed", "Hidden change")
    assert _fingerprint(client, reader, maria_for_notes) == before
    # cchc's health note: withheld (no consent); the first lists a withheld section ...
    note_written(client, "cchc.supervisor", maria_for_notes, "health", "First cchc note")
    withheld = _fingerprint(client, reader, maria_for_notes)
    # ... the second says nothing new (withheld notes are listed once, never counted)
    second = note_written(client, "cchc.supervisor", maria_for_notes, "health", "Second")
    assert _fingerprint(client, reader, maria_for_notes) == withheld
    amend_note(client, "cchc.supervisor", second, "Second, amended", "Withheld change")
    assert _fingerprint(client, reader, maria_for_notes) == withheld
    # hha's own note is shown: writing and amending it move the fingerprint
    own = note_written(client, reader, maria_for_notes, "housing", "Own note")
    shown = _fingerprint(client, reader, maria_for_notes)
    assert shown != withheld
    amend_note(client, "hha.supervisor", own, "Own note, amended", "Visible change")
    assert _fingerprint(client, reader, maria_for_notes) != shown


def test_withheld_notes_are_listed_once_per_section_without_a_count(client, maria_for_notes):
    for words in ("one", "two", "three"):
        note_written(client, "cchc.supervisor", maria_for_notes, "behavioral_health", words)
    body = record_view(client, "hha.case_worker", maria_for_notes).get_json()
    listed = note_sections(body, "cchc", "behavioral_health")
    assert listed == [
        {
            "agency": "cchc",
            "category": "behavioral_health",
            "kind": "note",
            "status": "withheld",
            "reason": "no_consent",
        }
    ]


def test_the_disclosures_accounting_lists_a_note_shown_to_another_agency(client, maria_for_notes):
    call(
        client,
        "POST",
        f"/api/v1/clients/{maria_for_notes}/consents",
        "hha.consent_officer",
        json=permit(categories=["behavioral_health"]),
    )
    assert join_care_team(client, "cchc.case_worker", maria_for_notes).status_code == 201
    note_written(client, "hha.case_worker", maria_for_notes, "behavioral_health", SECRET)
    assert record_view(client, "cchc.case_worker", maria_for_notes).status_code == 200
    response = call(
        client, "GET", f"/api/v1/clients/{maria_for_notes}/disclosures", "hha.privacy_officer"
    )
    assert response.status_code == 200, response.get_json()
    described = [d for row in response.get_json()["items"] for d in row["description"]]
    assert "hha/behavioral_health" in described
    assert SECRET not in response.get_data(as_text=True)
