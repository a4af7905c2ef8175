"""Referrals end to end through the API (issue 17): the closed loop, the consent gate,
the recipient's limited view, sides and moves, Part 2 recipients, third agencies."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from caseops.extensions import db
from tests import factories
from tests.fixtures.access import sections, view
from tests.fixtures.consents import program_consent, source_consent
from tests.fixtures.records import MARIA, bearer, put
from tests.fixtures.referrals import (
    accepted_referral,
    assign,
    move,
    read,
    refer,
    referral_id_of,
)


def _listed(client, username: str, direction: str, **query):
    response = client.get(
        "/api/v1/referrals",
        query_string={"direction": direction} | query,
        headers=bearer(factories.token_for(username)),
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _outgoing(client, username="hha.case_worker", **query):
    return _listed(client, username, "outgoing", **query)


def _incoming(client, username, **query):
    return _listed(client, username, "incoming", **query)


def test_the_closed_loop(client, maria):
    """hha refers Maria to cchc sharing housing; cchc's supervisor assigns, its worker
    accepts and sees housing (not economic security), completes with an outcome, and hha
    reads the outcome; cchc's access ends with the referral."""
    source_consent(client, maria)  # hha's housing to cchc, for care coordination
    created = refer(client, maria, note="Needs a stable address before treatment.")
    referral_id = referral_id_of(created)
    body = created.get_json()
    assert body["status"] == "requested" and body["side"] == "sender"
    assert body["from_user"] == "hha.case_worker" and body["assigned_to"] is None

    # before assignment only cchc's supervisors know of it
    assert read(client, referral_id, "cchc.case_worker").status_code == 404
    assert _incoming(client, "cchc.case_worker") == []
    [incoming] = _incoming(client, "cchc.supervisor")
    assert incoming["note"] == "Needs a stable address before treatment."
    assert incoming["from_user"] is None  # another agency's user names stay hidden

    assert assign(client, referral_id, "cchc.case_worker").status_code == 200
    accepted = move(client, referral_id, "cchc.case_worker", "accepted")
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["access_open"] is True

    shown = sections(view(client, "cchc.case_worker", maria))
    assert shown[("hha", "housing")]["status"] == "shown"
    assert shown[("hha", "housing")]["relationship"] == "referral"
    assert shown[("hha", "housing")]["referral_id"] == referral_id
    assert shown[("hha", "economic_security")]["status"] == "withheld"
    [logged] = factories.events("client.view")[-1:]
    assert logged.detail["referrals"] == {"hha/housing": referral_id}
    assert logged.detail["relationships"] == {"hha/housing": "referral"}

    no_outcome = move(client, referral_id, "cchc.case_worker", "completed")
    assert no_outcome.status_code == 422
    assert "outcome" in no_outcome.get_json()["error"]["details"]
    done = move(client, referral_id, "cchc.case_worker", "completed", outcome="Housing plan made")
    assert done.status_code == 200

    seen = read(client, referral_id, "hha.case_worker").get_json()
    assert seen["status"] == "completed" and seen["outcome"] == "Housing plan made"
    assert [h["to"] for h in seen["history"]] == ["requested", "accepted", "completed"]
    assert all(h["by"] is None for h in seen["history"][1:])  # cchc's staff unnamed
    assert sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]["status"] == (
        "withheld"
    )


def test_the_gate_names_each_uncovered_pair_and_writes_nothing(client, maria):
    refused = refer(client, maria, shared=("housing", "health"))
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["code"] == "consent_required"
    assert sorted(error["details"]["shared_categories"]) == [
        "housing from hha: no_consent",
        "housing from referral: no_consent",
    ]
    assert _outgoing(client) == []
    [denied] = factories.events("referral.send")
    assert denied.outcome == "denied"
    assert {u["source"] for u in denied.detail["uncovered"]} == {"hha", "referral"}


def test_a_recipients_own_records_need_no_consent_to_reach_it(client, maria):
    source_consent(client, maria)
    # cchc's own health section is cchc's: sharing it asks nothing of the consents
    assert refer(client, maria, shared=("housing", "health")).status_code == 201


def test_a_permit_to_any_recipient_does_not_make_a_referral(client, maria):
    source_consent(client, maria, recipients=["*"])
    refused = refer(client, maria)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["details"]["shared_categories"] == [
        "housing from referral: recipient_not_named"
    ]


def _answer_without_ids(response) -> tuple[int, dict]:
    body = response.get_json()
    if response.status_code == 201:
        body = {k: v for k, v in body.items() if k not in {"id", "client_id", "created_at"}}
        body["history"] = [{k: v for k, v in h.items() if k != "at"} for h in body["history"]]
    return response.status_code, body


@pytest.mark.parametrize("consented", [False, True])
def test_a_hidden_part2_source_never_changes_the_answer(client, maria, consented):
    """Maria's rrp record is Part 2 and no consent names hha: hha may not know it exists.
    Sharing substance use with cchc answers byte for byte as for Nora, who has no such
    record, whether the gate passes or refuses."""
    nora_body = MARIA | {
        "person": MARIA["person"]
        | {
            "given_name": "Nora",
            "family_name": "Quist",
            "ssn": "321-54-0876",
            "birth_date": "1990-07-07",
            "phone": "415-555-0199",
        },
    }
    feed = factories.token_for("hha.integration")
    nora = put(client, feed, nora_body, srid="H-9").get_json()["client_id"]
    assert nora != maria
    assert (
        client.post(
            f"/api/v1/clients/{nora}/care-team",
            json={"username": "hha.case_worker"},
            headers=bearer(factories.token_for("hha.case_worker")),
        ).status_code
        == 201
    )
    answers = []
    for person in (maria, nora):
        if consented:
            source_consent(client, person, categories=["housing", "substance_use"])
        answers.append(
            _answer_without_ids(refer(client, person, shared=("housing", "substance_use")))
        )
    assert answers[0] == answers[1]
    assert "rrp" not in str(answers[0])


def test_part2_categories_need_a_consent_that_names_the_recipient(client, maria):
    """rrp consents (recorded by rrp) to cchc for its treatment record: now hha knows of it
    and the gate asks for it by name."""
    source_consent(client, maria)
    program_consent(client, maria, to="hha")
    refused = refer(client, maria, shared=("housing", "substance_use"))
    assert refused.status_code == 422
    assert refused.get_json()["error"]["details"]["shared_categories"] == [
        "substance_use from rrp: no_consent"
    ]
    program_consent(client, maria, to="cchc")
    assert refer(client, maria, shared=("housing", "substance_use")).status_code == 201


def test_wrong_side_is_403_other_moves_409_with_the_allowed_ones(client, maria):
    source_consent(client, maria)
    referral_id = referral_id_of(refer(client, maria))
    wrong = move(client, referral_id, "hha.case_worker", "accepted")
    assert wrong.status_code == 403
    [logged] = factories.events("referral.move")
    assert logged.outcome == "denied" and logged.detail["reason"] == "wrong_side"
    no_move = move(client, referral_id, "cchc.supervisor", "completed", outcome="x")
    assert no_move.status_code == 409
    assert no_move.get_json()["error"]["details"]["status"] == [
        "Allowed from requested: accepted, rejected, cancelled."
    ]
    no_reason = move(client, referral_id, "cchc.supervisor", "rejected")
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["error"]["details"]
    rejected = move(client, referral_id, "cchc.supervisor", "rejected", reason="No capacity")
    assert rejected.status_code == 200
    assert read(client, referral_id, "hha.case_worker").get_json()["history"][-1]["reason"] == (
        "No capacity"
    )


def test_within_a_side_only_the_referring_or_assigned_worker_supervisors_and_system_move(
    client, maria
):
    source_consent(client, maria)
    factories.make_user("hha.worker2", "hha", ["case_worker"])
    factories.make_user("cchc.worker2", "cchc", ["case_worker"])
    referral_id = referral_id_of(refer(client, maria))
    # a colleague of the sender sees the outgoing referral but does not cancel it
    assert read(client, referral_id, "hha.worker2").status_code == 200
    assert move(client, referral_id, "hha.worker2", "cancelled", reason="x").status_code == 403
    assert assign(client, referral_id, "cchc.case_worker").status_code == 200
    # cchc's other workers do not even know of it
    assert read(client, referral_id, "cchc.worker2").status_code == 404
    assert move(client, referral_id, "cchc.worker2", "accepted").status_code == 404
    # cchc's system moves it through the same table
    accepted = move(client, referral_id, "cchc.integration", "accepted")
    assert accepted.status_code == 200, accepted.get_json()
    assert move(client, referral_id, "cchc.integration", "in-progress").status_code == 200
    # sender's supervisor may cancel for the sender side
    assert (
        move(client, referral_id, "hha.supervisor", "cancelled", reason="Moved").status_code == 200
    )


def test_only_recipient_supervisors_assign_and_only_their_own_workers(client, maria):
    source_consent(client, maria)
    referral_id = referral_id_of(refer(client, maria))
    assert assign(client, referral_id, "cchc.case_worker", by="hha.supervisor").status_code == 403
    assert assign(client, referral_id, "hha.case_worker").status_code == 422
    assert assign(client, referral_id, "nobody.at.all").status_code == 422
    assert assign(client, referral_id, "cchc.case_worker").status_code == 200
    assert move(client, referral_id, "hha.case_worker", "cancelled", reason="x").status_code == 200
    late = assign(client, referral_id, "cchc.supervisor")
    assert late.status_code == 409


def test_drafts_are_the_senders_alone_and_sending_passes_the_gate(client, maria):
    draft = referral_id_of(refer(client, maria, send=False))
    assert read(client, draft, "cchc.supervisor").status_code == 404
    refused = move(client, draft, "hha.case_worker", "requested")
    assert refused.status_code == 422  # no consent yet
    source_consent(client, maria)
    sent = move(client, draft, "hha.case_worker", "requested")
    assert sent.status_code == 200
    assert read(client, draft, "cchc.supervisor").status_code == 200


def test_a_third_agency_learns_nothing(client, maria):
    source_consent(client, maria)
    referral_id = accepted_referral(client, maria)
    for username in ("rrp.case_worker", "rrp.supervisor", "rrp.integration"):
        assert read(client, referral_id, username).status_code == 404
        assert move(client, referral_id, username, "cancelled", reason="x").status_code == 404
        assert _incoming(client, username) == [] and _outgoing(client, username) == []
    unknown = read(client, "ref_00000000000000000000", "rrp.case_worker")
    assert read(client, referral_id, "rrp.case_worker").get_json()["error"]["message"].replace(
        referral_id, "X"
    ) == unknown.get_json()["error"]["message"].replace("ref_00000000000000000000", "X")


def test_revocation_ends_the_referral_access_on_the_next_request_and_flags_it(client, maria):
    consent_id = source_consent(client, maria)
    referral_id = accepted_referral(client, maria)
    assert sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]["status"] == (
        "shown"
    )
    revoked = client.post(
        f"/api/v1/consents/{consent_id}/revoke",
        json={"reason": "Client asked"},
        headers=bearer(factories.token_for("hha.consent_officer")),
    )
    assert revoked.status_code == 200, revoked.get_json()
    after = sections(view(client, "cchc.case_worker", maria))[("hha", "housing")]
    assert after["status"] == "withheld"
    for username in ("hha.case_worker", "cchc.case_worker"):
        seen = read(client, referral_id, username).get_json()
        assert seen["flags"] == ["consent_lapsed"] and seen["access_open"] is False
        assert seen["consent"]["reason"] == "consent_revoked"


def test_a_part2_recipients_words_reach_the_sender_only_under_its_consent(client, maria):
    """hha refers Maria to rrp (a Part 2 program). Its reasons and outcome are Part 2
    information: without rrp's consent naming hha, hha sees only open / closed."""
    source_consent(client, maria, categories=["housing", "substance_use"], recipients=["rrp"])
    referral_id = referral_id_of(refer(client, maria, to="rrp", service="substance_use_treatment"))
    assert assign(client, referral_id, "rrp.case_worker", by="rrp.supervisor").status_code == 200
    for status, words in (
        ("accepted", {}),
        ("on-hold", {"reason": "Waiting for a bed"}),
        ("in-progress", {}),
        ("completed", {"outcome": "Completed intensive outpatient"}),
    ):
        assert move(client, referral_id, "rrp.case_worker", status, **words).status_code == 200
    seen = read(client, referral_id, "hha.case_worker").get_json()
    assert seen["status"] == "closed" and seen["outcome"] is None
    assert [h["to"] for h in seen["history"]] == ["requested", "open", "closed"]
    assert "Waiting for a bed" not in str(seen) and "outpatient" not in str(seen)
    program_consent(client, maria, to="hha")
    seen = read(client, referral_id, "hha.case_worker").get_json()
    assert seen["status"] == "completed"
    assert seen["outcome"] == "Completed intensive outpatient"


def test_referring_needs_a_relationship_and_a_referring_role(client, maria):
    source_consent(client, maria)
    factories.make_user("hha.worker3", "hha", ["case_worker"])
    assert refer(client, maria, by="hha.worker3").status_code == 403
    assert refer(client, maria, by="hha.consent_officer").status_code == 403
    bad = refer(client, maria, to="nowhere")
    assert bad.status_code == 422 and "to_agency" in bad.get_json()["error"]["details"]
    own = refer(client, maria, to="hha")
    assert own.status_code == 422 and "to_agency" in own.get_json()["error"]["details"]
    unknown_service = refer(client, maria, service="space_travel")
    assert unknown_service.status_code == 422
    assert "service" in unknown_service.get_json()["error"]["details"]
    past = refer(client, maria, due_on="2000-01-01")
    assert past.status_code == 422 and "due_on" in past.get_json()["error"]["details"]


def test_the_preview_says_what_may_be_shared_and_why_not(client, maria):
    source_consent(client, maria)
    response = client.get(
        f"/api/v1/clients/{maria}/referrals/preview",
        query_string={"to_agency": "cchc", "service": "housing_assistance"},
        headers=bearer(factories.token_for("hha.case_worker")),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["referral_allowed"] is True
    by_category = {c["category"]: c for c in body["categories"]}
    assert by_category["housing"]["allowed"] is True
    assert by_category["economic_security"]["allowed"] is False
    assert by_category["economic_security"]["uncovered"] == [
        {"source": "hha", "reason": "no_consent"}
    ]
    assert by_category["substance_use"]["held"] is False  # rrp's record is hidden from hha
    assert "rrp" not in response.get_data(as_text=True)


def test_the_tables_are_append_only_and_moves_are_numbered(app, client, maria):
    source_consent(client, maria)
    referral_id = referral_id_of(refer(client, maria))
    with app.app_context():
        for statement in (
            "UPDATE referrals SET to_agency = 'rrp'",
            "DELETE FROM referral_moves",
        ):
            with pytest.raises(DBAPIError):
                db.session.execute(text(statement))
            db.session.rollback()
        with pytest.raises(IntegrityError):
            db.session.execute(
                text(
                    "INSERT INTO referral_moves (referral_id, seq, to_status, by_user, "
                    "by_agency, at) VALUES (:r, 1, 'accepted', 'x', 'cchc', CURRENT_TIMESTAMP)"
                ),
                {"r": referral_id},
            )
        db.session.rollback()


def test_the_privacy_officer_sees_disclosures_made_through_a_referral(client, maria):
    source_consent(client, maria)
    referral_id = accepted_referral(client, maria)
    assert view(client, "cchc.case_worker", maria).status_code == 200
    for officer in ("hha.privacy_officer", "cchc.privacy_officer"):
        response = client.get(
            f"/api/v1/clients/{maria}/disclosures",
            headers=bearer(factories.token_for(officer)),
        )
        assert response.status_code == 200, response.get_json()
        [row] = response.get_json()["items"]
        assert row["recipient_agency"] == "cchc" and row["description"] == ["hha/housing"]
        assert row["relationship"] == ["referral"] and row["referral_ids"] == [referral_id]
    csv_text = client.get(
        f"/api/v1/clients/{maria}/disclosures.csv",
        headers=bearer(factories.token_for("hha.privacy_officer")),
    ).get_data(as_text=True)
    assert "referral_ids" in csv_text.splitlines()[0] and referral_id in csv_text


def test_lists_filter_by_open_and_closed_and_stop_at_the_limit(client, maria):
    source_consent(client, maria)
    kept = referral_id_of(refer(client, maria))
    closed = referral_id_of(refer(client, maria))
    assert (
        move(client, closed, "hha.case_worker", "cancelled", reason="Duplicate").status_code == 200
    )
    assert [r["id"] for r in _outgoing(client, status="open")] == [kept]
    assert [r["id"] for r in _outgoing(client, status="closed")] == [closed]
    assert [r["id"] for r in _outgoing(client, status="requested")] == [kept]
    assert len(_outgoing(client, limit=1)) == 1
    too_many = client.get(
        "/api/v1/referrals",
        query_string={"limit": 5000},
        headers=bearer(factories.token_for("hha.case_worker")),
    )
    assert too_many.status_code == 422 and "limit" in too_many.get_json()["error"]["details"]


def test_a_referral_whose_senders_records_split_is_held_and_opens_nothing(client, maria):
    """Re-homing (issue 21): when a steward splits hha's records of Maria onto two clients,
    her referral no longer says which person it is about: it is held, both sides see it
    flagged, and the recipient's access through it ends on the next request."""
    from caseops.records.models import SourceRecord

    source_consent(client, maria, categories=["housing", "economic_security"])
    referral_id = accepted_referral(client, maria, shared=("housing", "economic_security"))
    shown = sections(view(client, "cchc.case_worker", maria))
    assert shown[("hha", "economic_security")]["relationship"] == "referral"
    db.session.expire_all()
    record = db.session.scalar(
        select(SourceRecord.id).where(SourceRecord.source_record_id == "H-1")
    )
    split = client.post(
        f"/api/v1/linkage/records/{record}/unlink",
        json={"reason": "Two people under one id"},
        headers=bearer(factories.token_for("hha.data_steward")),
    )
    assert split.status_code == 200, split.get_json()
    for username in ("hha.case_worker", "cchc.case_worker"):
        seen = read(client, referral_id, username).get_json()
        assert "flags" in seen, (username, seen)
        assert "held_by_linkage" in seen["flags"] and seen["access_open"] is False
    after = sections(view(client, "cchc.case_worker", maria))
    assert all(s.get("relationship") != "referral" for s in after.values())
    assert after[("hha", "economic_security")]["status"] == "withheld"
