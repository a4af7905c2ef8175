"""What hangs on a client id follows the records it came from when a steward splits or
merges clients, or waits for a steward; nothing silently follows the wrong person."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

from caseops.access.models import CareTeamMember
from caseops.authz.actor import Actor
from caseops.extensions import db
from caseops.matching import rehoming
from caseops.matching.models import ClientKeyHold, ClientKeyMove
from caseops.registry.models import ConsentRecord, ConsentRevocation
from tests import factories
from tests.fixtures.access import join_care_team
from tests.fixtures.consents import consent_for, source_consent
from tests.fixtures.records import MARIA, bearer, put


@pytest.fixture
def maria(world, client):
    """Maria's housing record at hha and health record at cchc, one client; a consent
    recorded by each agency and a care-team member of each."""
    feeds = {a: factories.token_for(f"{a}.integration") for a in ("hha", "cchc")}
    client_id = put(client, feeds["hha"], MARIA, srid="H-1").get_json()["client_id"]
    health = copy.deepcopy(MARIA) | {"category": "health", "data": {"conditions": ["asthma"]}}
    assert (
        put(client, feeds["cchc"], health, agency="cchc", srid="C-1").get_json()["client_id"]
        == client_id
    )
    consents = {
        "hha": source_consent(client, client_id),
        "cchc": consent_for(
            client,
            client_id,
            by="cchc",
            attest=False,
            source_agencies=["cchc"],
            categories=["health"],
            recipients=["hha"],
        ),
    }
    for agency in ("hha", "cchc"):
        joined = join_care_team(client, f"{agency}.case_worker", client_id)
        assert joined.status_code in (200, 201), joined.get_json()
    return {"client_id": client_id, "feeds": feeds, "consents": consents}


def record_id(srid: str) -> int:
    from caseops.records.models import SourceRecord

    return db.session.scalar(select(SourceRecord.id).where(SourceRecord.source_record_id == srid))


def unlink(client, srid: str, steward: str = "hha.data_steward"):
    response = client.post(
        f"/api/v1/linkage/records/{record_id(srid)}/unlink",
        headers=bearer(factories.token_for(steward)),
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def live_consents(client_id: str) -> set[str]:
    db.session.expire_all()
    revoked = select(ConsentRevocation.consent_id)
    return set(
        db.session.scalars(
            select(ConsentRecord.recorded_by_agency).where(
                ConsentRecord.client_id == client_id, ConsentRecord.id.notin_(revoked)
            )
        )
    )


def care_team(client_id: str) -> set[str]:
    db.session.expire_all()
    return set(
        db.session.scalars(
            select(CareTeamMember.agency_code).where(
                CareTeamMember.client_id == client_id, CareTeamMember.ends_at.is_(None)
            )
        )
    )


def test_a_split_sends_each_agency_s_consent_and_care_team_with_its_records(client, maria):
    before = maria["client_id"]
    after = unlink(client, "H-1")["client_id"]  # hha's record leaves Maria's client
    assert after != before
    assert live_consents(after) == {"hha"} and live_consents(before) == {"cchc"}
    assert care_team(after) == {"hha"} and care_team(before) == {"cchc"}
    moves = {(m.table_name, m.outcome) for m in db.session.scalars(select(ClientKeyMove))}
    assert moves == {
        ("consents", "moved"),
        ("consents", "kept"),
        ("care_team_members", "moved"),
        ("care_team_members", "kept"),
    }
    old = db.session.get(ConsentRecord, maria["consents"]["hha"])
    assert old.client_id == before  # the signed version stays as it was (append-only) ...
    revocation = db.session.scalar(
        select(ConsentRevocation).where(ConsentRevocation.consent_id == old.id)
    )
    assert revocation.method == "linkage"  # ... and no longer speaks for this client
    [entry] = factories.events("linkage.rehomed")
    assert entry.detail["counts"]["consents.moved"] == 1


def split_with_hha_on_both_sides(client, maria):
    second = copy.deepcopy(MARIA) | {"category": "housing", "data": {}}
    assert (
        put(client, maria["feeds"]["hha"], second, srid="H-2").get_json()["client_id"]
        == (maria["client_id"])
    )
    after = unlink(client, "H-2")["client_id"]
    # hha now holds a record on each client: its consent and care-team member belong to
    # neither until a steward says which; cchc's stay.
    assert live_consents(maria["client_id"]) == {"cchc"} and live_consents(after) == set()
    assert care_team(maria["client_id"]) == {"cchc"} and care_team(after) == set()
    holds = rehoming.open_holds()
    assert {h.table_name for h in holds} == {"consents", "care_team_members"}
    assert all(set(h.candidates) == {maria["client_id"], after} for h in holds)
    return holds, after


def test_an_agency_with_records_on_both_sides_leaves_its_rows_suspended(client, maria):
    split_with_hha_on_both_sides(client, maria)


def test_a_steward_reinstates_a_suspended_row_on_the_client_it_belongs_to(client, maria):
    holds, after = split_with_hha_on_both_sides(client, maria)
    for hold in holds:
        rehoming.steward_resolves(Actor.operator(), hold.id, after)
    assert live_consents(after) == {"hha"} and care_team(after) == {"hha"}
    assert rehoming.open_holds() == []
    with pytest.raises(ValueError, match="already resolved"):
        rehoming.resolve_hold(db.session.get(ClientKeyHold, holds[0].id), after, "x")
    outcomes = [m.outcome for m in db.session.scalars(select(ClientKeyMove))]
    assert outcomes.count("reinstated") == 2


def test_a_hold_only_goes_to_a_client_the_row_may_belong_to(client, maria):
    holds, _after = split_with_hha_on_both_sides(client, maria)
    with pytest.raises(ValueError, match="not one the row may belong to"):
        rehoming.resolve_hold(holds[0], "0" * 32, "x")


def test_undoing_the_split_brings_the_rows_back(client, maria):
    result = unlink(client, "H-1")
    response = client.post(
        f"/api/v1/linkage/events/{result['link_event']}/undo",
        headers=bearer(factories.token_for("hha.data_steward")),
    )
    assert response.status_code == 200, response.get_json()
    assert live_consents(maria["client_id"]) == {"hha", "cchc"}
    assert care_team(maria["client_id"]) == {"hha", "cchc"}


def test_the_registry_names_every_client_keyed_table():
    assert {"consents", "care_team_members", "break_glass_grants"} <= set(rehoming.REGISTRY)


def test_a_break_glass_grant_is_held_not_moved(client, maria):
    from tests.fixtures.consents import break_glass

    grant = break_glass(client, "hha.supervisor", maria["client_id"])
    unlink(client, "H-1")
    # Attributable to no agency's records and the client keeps records: it waits.
    assert rehoming.suspended_rows("break_glass_grants") == {str(grant)}
    [hold] = [h for h in rehoming.open_holds() if h.table_name == "break_glass_grants"]
    with pytest.raises(ValueError, match="not reinstated"):
        rehoming.resolve_hold(hold, maria["client_id"], "x")
    rehoming.steward_resolves(Actor.operator(), hold.id, None)  # ended: nobody's
    assert rehoming.suspended_rows("break_glass_grants") == set()


def test_a_rebuild_move_re_homes_like_a_steward_s(client, maria):
    """``rehome`` is what ``caseops link rebuild`` calls with the clients it changed."""
    from caseops.matching import store
    from caseops.records.models import SourceRecord

    record = db.session.get(SourceRecord, record_id("C-1"))
    other = store.new_client().id
    record.client_id = other
    decisions = rehoming.rehome({maria["client_id"]: {other}}, "operator")
    db.session.commit()
    assert {(d.table, d.outcome) for d in decisions} >= {
        ("consents", "moved"),
        ("care_team_members", "moved"),
    }
    assert live_consents(other) == {"cchc"} and care_team(other) == {"cchc"}


def test_only_the_latest_version_of_an_amended_consent_is_re_homed(client, maria):
    from tests.fixtures.consents import permit

    amended = client.post(
        f"/api/v1/consents/{maria['consents']['hha']}/amend",
        json=permit(purposes=["care_coordination", "treatment"]),
        headers=bearer(factories.token_for("hha.consent_officer")),
    )
    assert amended.status_code == 201, amended.get_json()
    unlink(client, "H-1")
    moved = [
        m.row_id
        for m in db.session.scalars(select(ClientKeyMove))
        if m.table_name == "consents" and m.outcome == "moved"
    ]
    assert moved == [amended.get_json()["id"]]  # the superseded version grants nothing


def test_holds_are_listed_and_decided_from_the_command_line(app, client, maria):
    holds, after = split_with_hha_on_both_sides(client, maria)
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["link", "holds"])
    assert listed.exit_code == 0 and f"consents/{maria['consents']['hha']}" in listed.output
    consent_hold = next(h for h in holds if h.table_name == "consents")
    wrong = runner.invoke(args=["link", "resolve-hold", str(consent_hold.id), "--client", "x"])
    assert wrong.exit_code != 0 and "may belong to" in wrong.output
    done = runner.invoke(args=["link", "resolve-hold", str(consent_hold.id), "--client", after])
    assert done.exit_code == 0 and "reinstated" in done.output
    assert live_consents(after) == {"hha"}
    assert factories.events("linkage.hold_resolved")


def test_a_note_whose_author_s_records_left_is_held_and_shown_to_nobody(client, maria):
    from tests.fixtures.notes import write_note

    written = write_note(
        client, "hha.case_worker", maria["client_id"], "housing", "Keys handed over on Monday."
    )
    assert written.status_code == 201, written.get_json()
    note_id = written.get_json()["id"]
    after = unlink(client, "H-1")["client_id"]  # hha's record, the note's author's, leaves
    # Append-only, so never moved: held on the client it was written on, until a steward
    # decides (and a steward cannot reinstate it: the author writes it again).
    assert rehoming.suspended_rows("notes") == {note_id}
    [hold] = [h for h in rehoming.open_holds() if h.table_name == "notes"]
    assert set(hold.candidates) == {maria["client_id"], after}
    with pytest.raises(ValueError, match="not reinstated"):
        rehoming.resolve_hold(hold, after, "x")
    for viewer, client_id in (("cchc.case_worker", maria["client_id"]), ("hha.case_worker", after)):
        view = client.get(
            f"/api/v1/clients/{client_id}/record",
            headers=bearer(factories.token_for(viewer)),
        ).get_json()
        assert "Keys handed over" not in str(view)
        assert not [s for s in view["sections"] if s.get("kind") == "note"], view
