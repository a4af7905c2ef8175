"""Bulk ingest plans the next chunk while the previous one is written (PostgreSQL): the
outcome must be the one of writing the chunks one after the other, whatever the
timing, even when the write being waited for does not go as planned."""

from __future__ import annotations

import copy
import threading

import pytest
from sqlalchemy import create_engine, select, text

from caseops.clients.models import LinkEvent
from caseops.extensions import db
from caseops.records import pipeline, prepare, service, writes
from caseops.records.importers import integration_actor
from caseops.records.models import SourceRecord, SourceRecordVersion
from caseops.records.schemas import BulkLineSchema
from tests.fixtures.bulk import ingest, ndjson, people, refuse_versions_with_digest
from tests.fixtures.records import MARIA


def postgres_only(url: str) -> None:
    if not url.startswith("postgresql"):
        pytest.skip("the writer thread runs on PostgreSQL only; SQLite writes in order")


class LaggingWriter:
    """Holds every planned write until the next chunk has been planned, so each plan
    after the first is made while the previous chunk is still uncommitted."""

    def __init__(self, monkeypatch) -> None:
        self.condition = threading.Condition()
        self.plans = 0  # plans made, and waits for a write
        self.overlays = 0
        self.starts = 0
        self.closing = False
        original_plan = pipeline.ChunkPipeline._plan
        original_start = pipeline.ChunkPipeline._start
        original_finish = pipeline.ChunkPipeline.finish
        original_exit = pipeline.ChunkPipeline.__exit__
        original_apply = pipeline._apply_planned

        def plan(pipe, lines, pending):
            planned = original_plan(pipe, lines, pending)
            with self.condition:
                self.plans += 1
                self.overlays += bool(planned.earlier)
                self.condition.notify_all()
            return planned

        def start(pipe, write):
            if write.plan is not None:
                write.plan.number = self.starts
            self.starts += 1
            original_start(pipe, write)

        def apply_planned(actor, chunk, lines):  # in the writer, its transaction begun
            with self.condition:
                self.condition.wait_for(
                    lambda: self.plans >= chunk.number + 2 or self.closing, timeout=20
                )
            return original_apply(actor, chunk, lines)

        def finish(pipe):  # the caller waits for the write: let it go
            with self.condition:
                self.plans += 1
                self.condition.notify_all()
            return original_finish(pipe)

        def exit_(pipe, *exc_info):
            with self.condition:
                self.closing = True
                self.condition.notify_all()
            return original_exit(pipe, *exc_info)

        monkeypatch.setattr(pipeline.ChunkPipeline, "_plan", plan)
        monkeypatch.setattr(pipeline.ChunkPipeline, "_start", start)
        monkeypatch.setattr(pipeline.ChunkPipeline, "finish", finish)
        monkeypatch.setattr(pipeline.ChunkPipeline, "__exit__", exit_)
        monkeypatch.setattr(pipeline, "_apply_planned", apply_planned)


def sequential(monkeypatch) -> None:
    monkeypatch.setattr(
        pipeline,
        "bulk_writer",
        lambda app, actor, agency: pipeline.ChunkPipeline(app, actor, agency, threaded=False),
    )


def test_plans_made_over_an_uncommitted_write_link_as_written_in_order(databases, monkeypatch):
    postgres_only(databases.template_url)
    with monkeypatch.context() as patched:
        sequential(patched)
        in_order = ingest(databases, patched, chunk=3)
    lag = LaggingWriter(monkeypatch)
    overlapped = ingest(databases, monkeypatch, chunk=3)
    assert lag.overlays >= 5  # the property was really exercised
    assert overlapped == in_order


def _second_maria() -> dict:
    again = copy.deepcopy(MARIA) | {"source_record_id": "P-33"}
    again["data"]["notes"] = "Another record of hers."
    return again


def _load_with_a_refused_line() -> tuple[list[dict], service.BulkReport]:
    """Chunks of two: Maria's first record is refused by the database, her second
    record comes in the next chunk."""
    bodies = people(2)
    bodies.insert(1, MARIA | {"source_record_id": "P-3"})
    bodies.insert(2, _second_maria())
    refused = BulkLineSchema().load(bodies[1])
    refused.pop("source_record_id")
    refuse_versions_with_digest(prepare.body_digest(refused))
    return bodies, service.bulk(integration_actor("hha"), "hha", ndjson(bodies))


def test_a_plan_made_over_a_write_that_failed_is_made_again(world, monkeypatch):
    """P-33 was planned onto Maria's client from P-3, whose write the database then
    refused: it must get a client of its own, as in a sequential load."""
    postgres_only(db.engine.url.render_as_string())
    monkeypatch.setattr(service, "BULK_CHUNK", 2)
    lag = LaggingWriter(monkeypatch)
    _, report = _load_with_a_refused_line()
    assert lag.overlays >= 1
    assert [entry["status"] for entry in report.lines] == ["created", "error", "created", "created"]
    p33 = db.session.scalar(select(SourceRecord).where(SourceRecord.source_record_id == "P-33"))
    action = db.session.scalar(select(LinkEvent.action).where(LinkEvent.record_id == p33.id))
    assert action == "new_client"
    assert (
        db.session.scalar(select(SourceRecord.id).where(SourceRecord.source_record_id == "P-3"))
        is None
    )


def test_a_write_whose_rows_changed_since_planning_is_decided_again(world, monkeypatch):
    """Another writer raises P-0's version between the plan and the write: the line is
    refused as stale, not written as the plan had it."""
    postgres_only(db.engine.url.render_as_string())
    actor = integration_actor("hha")
    service.bulk(actor, "hha", ndjson(people(1)))
    url = db.engine.url.render_as_string(hide_password=False)
    original = writes.read_stored
    raced = []

    def read_stored(agency, srids, *, lock):
        if lock and not raced:
            other = create_engine(url)
            with other.begin() as connection:
                connection.execute(
                    text(
                        "UPDATE source_records SET source_version = 5 "
                        "WHERE source_record_id = 'P-0'"
                    )
                )
            other.dispose()
            raced.append(True)
        return original(agency, srids, lock=lock)

    monkeypatch.setattr(writes, "read_stored", read_stored)
    report = service.bulk(actor, "hha", ndjson([people(1)[0] | {"source_version": 2}]))
    [entry] = report.lines
    assert entry["status"] == "error"
    assert entry["errors"] == {"source_version": ["Current version is 5."]}
    versions = db.session.scalars(select(SourceRecordVersion.source_version)).all()
    assert versions == [1]
