"""Bulk ingest writes a chunk of lines at a time: the same answers as one line at a time,
one access-log entry per written record, and nothing half written when the database
refuses a line."""

from __future__ import annotations

import copy

from sqlalchemy import event, func, select

from caseops.audit.models import AccessEvent
from caseops.clients.models import Client, LinkEvent, RecordIdentifier
from caseops.extensions import db
from caseops.matching import store
from caseops.records import prepare, service
from caseops.records.importers import integration_actor
from caseops.records.models import SourceRecord, SourceRecordVersion
from caseops.records.schemas import BulkLineSchema
from tests import factories
from tests.fixtures.bulk import (
    ingest,
    linked_lines,
    ndjson,
    people,
    refuse_versions_with_digest,
)
from tests.fixtures.records import MARIA


def test_a_chunk_links_within_itself_exactly_as_one_line_at_a_time(databases, monkeypatch):
    together = ingest(databases, monkeypatch, chunk=500)
    one_by_one = ingest(databases, monkeypatch, chunk=1)
    assert together == one_by_one
    statuses = [entry["status"] for entry in together["lines"]]
    assert statuses.count("updated") == 5 and statuses[-3:] == ["unchanged", "error", "error"]
    actions = {action for _, action, *_ in together["events"]}
    assert {"auto_link", "new_client"} <= actions
    # records of the second load joined clients that the same chunk made
    first = {body["source_record_id"] for body in linked_lines()[0]}
    assert any(len(ids) > 1 and not first & set(ids) for ids in together["clients"])


def test_a_chunk_is_written_with_as_many_statements_as_one_record(world, monkeypatch):
    actor = integration_actor("hha")
    service.bulk(actor, "hha", ndjson(people(1)))  # caches the policy
    statements = []

    def count(*_args):
        statements[-1] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for bodies in (people(1, start=1), people(40, start=2)):
            monkeypatch.setattr(store, "_totals_cache", {})
            statements.append(0)
            report = service.bulk(actor, "hha", ndjson(bodies))
            assert report.counts == {"created": len(bodies)}
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    one, forty = statements
    # SQLite does not return the ids of a multi-row INSERT in order, so the ORM inserts
    # records one at a time there; everything else is one statement per table.
    per_record = 1 if db.engine.dialect.name == "sqlite" else 0
    assert forty == one + 39 * per_record


def test_a_line_the_database_refuses_is_reported_alone_and_nothing_of_it_is_written(world):
    bodies = people(6)
    bodies[3] = MARIA | {"source_record_id": "P-3"}
    again = copy.deepcopy(MARIA) | {"source_record_id": "P-33"}  # the same person
    again["data"]["notes"] = "Another record of hers."
    bodies.insert(5, again)
    refused = BulkLineSchema().load(bodies[3])
    refused.pop("source_record_id")
    refuse_versions_with_digest(prepare.body_digest(refused))

    report = service.bulk(integration_actor("hha"), "hha", ndjson(bodies))

    errors = [entry for entry in report.lines if entry["status"] == "error"]
    assert errors == [
        {
            "line": 4,
            "source_record_id": "P-3",
            "status": "error",
            "errors": {"_line": ["Written concurrently; send again."]},
        }
    ]
    assert report.counts == {"created": 6, "error": 1}
    stored = {r.source_record_id: r for r in db.session.scalars(select(SourceRecord))}
    assert set(stored) == {b["source_record_id"] for b in bodies} - {"P-3"}
    ids = {r.id for r in stored.values()}
    assert set(db.session.scalars(select(RecordIdentifier.record_id).distinct())) == ids
    assert set(db.session.scalars(select(LinkEvent.record_id))) == ids
    assert set(db.session.scalars(select(SourceRecordVersion.record_id))) == ids
    assert db.session.scalar(select(func.count()).select_from(Client)) == len(
        {r.client_id for r in stored.values()}
    )
    # P-33 was placed again without P-3: a client of its own, not the one P-3 would have had
    linked = db.session.scalar(
        select(LinkEvent.action).where(LinkEvent.record_id == stored["P-33"].id)
    )
    assert linked == "new_client"
    logged = [e.target_id for e in factories.events("record.write")]
    assert sorted(logged) == sorted(f"hha/{srid}" for srid in stored)


def test_every_written_record_gets_one_access_log_entry(world):
    actor = integration_actor("hha")
    service.bulk(actor, "hha", ndjson(people(3)))
    before = db.session.scalar(select(func.max(AccessEvent.seq)))
    changed = people(2) + people(2, start=10)
    changed[0] = changed[0] | {"source_version": 2}  # updated; P-1 unchanged
    report = service.bulk(actor, "hha", ndjson([*changed, {"source_record_id": "bad"}]))
    assert report.counts == {"updated": 1, "unchanged": 1, "created": 2, "error": 1}
    entries = db.session.scalars(
        select(AccessEvent).where(AccessEvent.seq > before).order_by(AccessEvent.seq)
    ).all()
    assert [(e.action, e.target_id, e.detail["status"]) for e in entries] == [
        ("record.write", "hha/P-0", "updated"),
        ("record.write", "hha/P-10", "created"),
        ("record.write", "hha/P-11", "created"),
    ]
    clients = {entry["source_record_id"]: entry.get("client_id") for entry in report.lines}
    assert [e.client_id for e in entries] == [clients["P-0"], clients["P-10"], clients["P-11"]]
    assert {e.actor for e in entries} == {actor.username}
