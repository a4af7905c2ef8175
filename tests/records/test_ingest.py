"""Record ingest: idempotency, versions, validation, own-agency only, encryption at rest."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from caseops.extensions import db
from caseops.records.models import SourceRecord, SourceRecordVersion
from tests import factories
from tests.fixtures.records import MARIA, bearer, put


@pytest.fixture
def feeds(world):
    return {
        "hha": factories.token_for("hha.integration"),
        "cchc": factories.token_for("cchc.integration"),
    }


def test_create_then_same_body_again_changes_nothing(client, feeds):
    first = put(client, feeds["hha"], MARIA)
    assert first.status_code == 201
    body = first.get_json()
    assert body["status"] == "created" and len(body["client_id"]) == 32
    events_before = len(factories.events())
    again = put(client, feeds["hha"], MARIA)
    assert again.status_code == 200
    assert again.get_json()["status"] == "unchanged"
    assert again.get_json()["client_id"] == body["client_id"]
    assert len(factories.events()) == events_before
    assert db.session.query(SourceRecordVersion).count() == 1


def test_newer_version_updates_and_keeps_history(client, feeds):
    put(client, feeds["hha"], MARIA)
    newer = copy.deepcopy(MARIA) | {"source_version": 2}
    newer["data"]["housing_status"] = "housed"
    response = put(client, feeds["hha"], newer)
    assert response.status_code == 200 and response.get_json()["status"] == "updated"
    versions = db.session.scalars(select(SourceRecordVersion.source_version)).all()
    assert sorted(versions) == [1, 2]


def test_a_clients_version_moves_when_a_record_joins_it_or_changes(client, feeds):
    from caseops.clients.models import Client

    first = put(client, feeds["hha"], MARIA).get_json()
    client_id = first["client_id"]
    assert db.session.get(Client, client_id).version == 1
    health = copy.deepcopy(MARIA) | {"category": "health", "data": {}}
    joined = put(client, feeds["cchc"], health, agency="cchc", srid="C-1").get_json()
    assert joined["client_id"] == client_id and "link" not in joined
    db.session.expire_all()
    assert db.session.get(Client, client_id).version == 2
    put(client, feeds["hha"], copy.deepcopy(MARIA) | {"source_version": 2})
    db.session.expire_all()
    assert db.session.get(Client, client_id).version == 3


@pytest.mark.parametrize("version", [0, 1])
def test_stale_or_reused_version_conflicts_with_the_current_one(client, feeds, version):
    put(client, feeds["hha"], MARIA | {"source_version": 1})
    changed = copy.deepcopy(MARIA) | {"source_version": version}
    changed["data"]["notes"] = "changed"
    response = put(client, feeds["hha"], changed)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "stale_version"
    assert error["details"] == {"source_version": ["Current version is 1."]}


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        (
            lambda b: b["person"].pop("given_name") and b["person"].pop("family_name"),
            "person.given_name",
            "A record needs a given or a family name.",
        ),
        (
            lambda b: b["person"].pop("birth_date") and b["person"].pop("ssn"),
            "person.birth_date",
            "A record needs a birth date or an SSN.",
        ),
        (
            lambda b: b["data"].update(favourite_colour="blue"),
            "data.favourite_colour",
            "Unknown field.",
        ),
        (lambda b: b.update(category="astrology"), "category", "Must be one of"),
        (
            lambda b: b["person"].update(birth_date="12/03/1984"),
            "person.birth_date",
            "Not a valid date.",
        ),
        (lambda b: b["person"].update(ssn="12-345"), "person.ssn", "Use 9 digits"),
        (lambda b: b.update(source_version="1"), "source_version", "Not a valid integer."),
        (lambda b: b["data"].update(notes="x" * 5000), "data.notes", "Longer than maximum"),
    ],
)
def test_validation_errors_name_the_field(client, feeds, mutate, field, reason):
    body = copy.deepcopy(MARIA)
    mutate(body)
    response = put(client, feeds["hha"], body)
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    assert field in details, details
    assert any(message.startswith(reason) for message in details[field]), details
    assert db.session.query(SourceRecord).count() == 0


def test_missing_identifiers_lower_confidence_but_do_not_block(client, feeds):
    sparse = {
        "category": "housing",
        "person": {"family_name": "Nguyen", "ssn": "234-56-7891"},
        "data": {},
        "source_version": 1,
    }
    assert put(client, feeds["hha"], sparse).status_code == 201


@pytest.mark.parametrize(
    "writer",
    [
        "cchc.integration",
        "hha.case_worker",
        "hha.system_admin",
        "hha.agency_admin",
        "hha.data_steward",
    ],
)
def test_only_the_agencys_own_integration_account_writes_its_records(client, world, writer):
    token = factories.token_for(writer)
    response = put(client, token, MARIA, agency="hha")
    assert response.status_code == 403
    assert db.session.query(SourceRecord).count() == 0
    denied = [e for e in factories.events("record.write") if e.outcome == "denied"]
    assert [e.actor for e in denied] == [writer]


def test_withdraw_keeps_history_and_a_later_version_reinstates(client, feeds):
    put(client, feeds["hha"], MARIA)
    response = client.delete("/api/v1/agencies/hha/records/H-1", headers=bearer(feeds["hha"]))
    assert response.status_code == 200 and response.get_json()["status"] == "withdrawn"
    record = db.session.scalar(select(SourceRecord))
    assert record.withdrawn_at is not None
    assert put(client, feeds["hha"], MARIA).status_code == 409
    assert put(client, feeds["hha"], MARIA | {"source_version": 2}).status_code == 200
    actions = db.session.scalars(
        select(SourceRecordVersion.action).order_by(SourceRecordVersion.id)
    )
    assert list(actions) == ["upsert", "withdraw", "upsert"]
    missing = client.delete("/api/v1/agencies/hha/records/nope", headers=bearer(feeds["hha"]))
    assert missing.status_code == 404


def test_writes_are_in_the_access_log(client, feeds):
    put(client, feeds["hha"], MARIA)
    [event] = factories.events("record.write")
    assert event.actor == "hha.integration" and event.target_id == "hha/H-1"
    assert event.detail["status"] == "created" and event.client_id


def test_identifiers_and_payload_are_never_stored_in_clear(client, feeds, database_url):
    put(client, feeds["hha"], MARIA)
    engine = create_engine(database_url)
    with engine.connect() as connection:
        dump = []
        for table in (
            "source_records",
            "source_record_versions",
            "record_identifiers",
            "access_events",
            "link_events",
        ):
            dump += [repr(tuple(row)) for row in connection.execute(text(f"SELECT * FROM {table}"))]
    engine.dispose()
    everything = "\n".join(dump).lower()
    for secret in (
        "123-45-6780",
        "123456780",
        "maria",
        "lopez",
        "1984-03-12",
        "seacliff",
        "415-555-0101",
        "rapid_rehousing",
        "morning calls",
    ):
        assert secret not in everything, secret
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        raw = b"".join(
            Path(f).read_bytes().lower() for f in (path, path + "-wal") if os.path.exists(f)
        )
        for secret in (b"123-45-6780", b"maria", b"lopez", b"morning calls"):
            assert secret not in raw, secret


def test_bulk_ndjson_reports_per_line_and_never_half_writes(client, feeds):
    import json

    good = json.dumps(MARIA | {"source_record_id": "B-1"})
    bad_field = json.dumps(MARIA | {"source_record_id": "B-2", "data": {"colour": "red"}})
    not_json = "{oops"
    other = copy.deepcopy(MARIA) | {"source_record_id": "B-3"}
    other["person"] = {"given_name": "Ana", "family_name": "Silva", "birth_date": "1990-02-02"}
    payload = "\n".join([good, bad_field, "", not_json, json.dumps(other), good])
    response = client.post(
        "/api/v1/agencies/hha/records:bulk",
        data=payload,
        headers=bearer(feeds["hha"]) | {"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200
    report = response.get_json()
    assert report["counts"] == {"created": 2, "error": 2, "unchanged": 1}
    lines = {line["line"]: line for line in report["lines"]}
    assert lines[2]["errors"] == {"data.colour": ["Unknown field."]}
    assert "_line" in lines[4]["errors"]
    assert lines[6]["status"] == "unchanged"
    assert db.session.query(SourceRecord).count() == 2


def test_bulk_needs_ndjson(client, feeds):
    response = client.post(
        "/api/v1/agencies/hha/records:bulk", json=[MARIA], headers=bearer(feeds["hha"])
    )
    assert response.status_code == 415
