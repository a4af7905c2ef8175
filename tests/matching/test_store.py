"""Linkage at ingest time against the database, and the data steward's decisions."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

from caseops.clients.models import KeptApart, ReviewItem
from caseops.extensions import db
from caseops.records.models import SourceRecord
from tests import factories
from tests.fixtures.records import MARIA, bearer, put, put_uncertain_pair


@pytest.fixture
def feeds(world):
    factories.make_user("steward.one", "hha", ["data_steward"])
    return {
        "hha": factories.token_for("hha.integration"),
        "cchc": factories.token_for("cchc.integration"),
        "steward": factories.token_for("steward.one"),
    }


def person(**changes):
    body = copy.deepcopy(MARIA)
    body["person"].update(changes)
    return body


def decision_of(srid: str) -> str:
    """How a record was linked, as data stewards read it (the access log): the write's
    answer to the agency system no longer says."""
    [*_, event] = [e for e in factories.events("record.write") if e.target_id.endswith(f"/{srid}")]
    return event.detail["link"]["decision"]


def client_of(srid: str) -> str:
    db.session.expire_all()
    return db.session.scalar(
        select(SourceRecord.client_id).where(SourceRecord.source_record_id == srid)
    )


def test_same_person_at_another_agency_auto_links(client, feeds):
    first = put(client, feeds["hha"], MARIA, srid="H-1").get_json()
    health = person(given_name="María", family_name="Lopez-Garcia", phone=None) | {
        "category": "health",
        "data": {"conditions": ["asthma"]},
    }
    second = put(client, feeds["cchc"], health, agency="cchc", srid="C-9").get_json()
    assert "link" not in second
    assert decision_of("C-9") == "link"
    assert second["client_id"] == first["client_id"]


def test_a_different_person_gets_a_new_client(client, feeds):
    first = put(client, feeds["hha"], MARIA, srid="H-1").get_json()
    other = {
        "category": "housing",
        "person": {"given_name": "Thomas", "family_name": "Berg", "birth_date": "1950-07-30"},
        "data": {},
        "source_version": 1,
    }
    second = put(client, feeds["hha"], other, srid="H-2").get_json()
    assert decision_of("H-2") == "new"
    assert second["client_id"] != first["client_id"]


def test_twins_are_not_auto_linked(client, feeds):
    put(client, feeds["hha"], MARIA, srid="H-1")
    twin = person(given_name="Elena", ssn=None, sex="F")
    result = put(
        client, feeds["cchc"], twin | {"category": "health", "data": {}}, agency="cchc", srid="C-2"
    ).get_json()
    assert decision_of("C-2") in ("new", "review")
    assert result["client_id"] != client_of("H-1")


def uncertain(client, feeds):
    """A record that lands in the review queue: same family name, birth date and address but
    another given name — a twin, or the same person? A human decides."""
    return put_uncertain_pair(client, feeds)


def test_uncertain_matches_wait_in_the_review_queue(client, feeds):
    result = uncertain(client, feeds)
    assert decision_of("C-7") == "review"
    assert result["client_id"] != client_of("H-1")
    queue = client.get("/api/v1/linkage/review", headers=bearer(feeds["steward"])).get_json()
    assert len(queue) == 1
    assert queue[0]["record"]["source_record_id"] == "C-7"
    assert queue[0]["candidate"]["source_record_id"] == "H-1"


def test_steward_links_and_can_undo(client, feeds):
    uncertain(client, feeds)
    [item] = client.get("/api/v1/linkage/review", headers=bearer(feeds["steward"])).get_json()
    linked = client.post(
        f"/api/v1/linkage/review/{item['id']}/link", headers=bearer(feeds["steward"])
    )
    assert linked.status_code == 200
    assert client_of("C-7") == client_of("H-1")
    [event] = factories.events("linkage.link")
    undo = client.post(
        f"/api/v1/linkage/events/{event.detail['link_event']}/undo",
        headers=bearer(feeds["steward"]),
    )
    assert undo.status_code == 200
    assert client_of("C-7") != client_of("H-1")
    assert db.session.scalar(select(ReviewItem.status)) == "open"
    again = client.post(
        f"/api/v1/linkage/events/{event.detail['link_event']}/undo",
        headers=bearer(feeds["steward"]),
    )
    assert again.status_code == 409


def test_kept_apart_pairs_are_never_linked_or_queued_again(client, feeds):
    uncertain(client, feeds)
    [item] = client.get("/api/v1/linkage/review", headers=bearer(feeds["steward"])).get_json()
    response = client.post(
        f"/api/v1/linkage/review/{item['id']}/keep-apart", headers=bearer(feeds["steward"])
    )
    assert response.status_code == 200
    assert db.session.query(KeptApart).count() == 1
    assert client.get("/api/v1/linkage/review", headers=bearer(feeds["steward"])).get_json() == []
    assert len(factories.events("linkage.keep_apart")) == 1


def test_unlink_moves_a_record_out_and_keeps_it_apart(client, feeds):
    put(client, feeds["hha"], MARIA, srid="H-1")
    health = person(family_name="Lopez-Garcia") | {"category": "health", "data": {}}
    put(client, feeds["cchc"], health, agency="cchc", srid="C-9")
    assert client_of("C-9") == client_of("H-1")
    # The steward (of hha) unlinks hha's record: another agency's is not their matter.
    record_id = db.session.scalar(
        select(SourceRecord.id).where(SourceRecord.source_record_id == "H-1")
    )
    response = client.post(
        f"/api/v1/linkage/records/{record_id}/unlink", headers=bearer(feeds["steward"])
    )
    assert response.status_code == 200
    assert client_of("C-9") != client_of("H-1")
    assert db.session.query(KeptApart).count() == 1
    undo = client.post(
        f"/api/v1/linkage/events/{response.get_json()['link_event']}/undo",
        headers=bearer(feeds["steward"]),
    )
    assert undo.status_code == 200
    assert client_of("C-9") == client_of("H-1")
    assert db.session.query(KeptApart).count() == 0


@pytest.mark.parametrize("role", ["case_worker", "system_admin", "integration", "privacy_officer"])
def test_only_data_stewards_work_the_queue(client, feeds, role):
    token = factories.token_for(f"hha.{role}")
    assert client.get("/api/v1/linkage/review", headers=bearer(token)).status_code == 403


def test_reindex_restores_the_identifiers_and_moves_no_record(client, feeds):
    from sqlalchemy import delete, func, update

    from caseops.clients.models import RecordIdentifier
    from caseops.matching import store

    put(client, feeds["hha"], MARIA, srid="H-1")
    other = person(given_name="Ana", ssn=None) | {"category": "health", "data": {}}
    assert put(client, feeds["cchc"], other, agency="cchc", srid="C-1").status_code == 201
    rows = select(RecordIdentifier.record_id, RecordIdentifier.kind, RecordIdentifier.value)
    expected = set(db.session.execute(rows))
    clients = {srid: client_of(srid) for srid in ("H-1", "C-1")}
    damaged = db.session.scalar(
        select(SourceRecord.id).where(SourceRecord.source_record_id == "H-1")
    )
    db.session.execute(delete(RecordIdentifier).where(RecordIdentifier.record_id == damaged))
    db.session.add(RecordIdentifier(record_id=damaged, kind="block", value=0))
    # A record stored before features were kept: reindex writes them.
    db.session.execute(
        update(SourceRecord)
        .where(SourceRecord.source_record_id == "C-1")
        .values(linkage_encrypted=None)
    )
    db.session.commit()

    assert store.reindex() == {"records": 2, "changed": 2}
    assert None not in db.session.scalars(select(SourceRecord.linkage_encrypted)).all()
    assert set(db.session.execute(rows)) == expected
    assert {srid: client_of(srid) for srid in clients} == clients
    assert store.reindex() == {"records": 2, "changed": 0}
    assert db.session.scalar(select(func.count()).select_from(RecordIdentifier)) == len(expected)
