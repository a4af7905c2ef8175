"""Record ingest from agency systems: one transaction per write, history kept.

Only an integration account of the agency itself may write its records. Replaying the
same body changes nothing; an older ``source_version`` is refused with the current one;
a withdrawal keeps the history. A PUT and a bulk load write through records.writes,
which writes a chunk of records with a fixed number of statements, however many records
it holds; a bulk load goes through records.pipeline, which plans the next chunk while
the previous one is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from caseops.agencies.service import get_agency
from caseops.audit.service import record as audit
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
from caseops.clients.models import Client
from caseops.db_types import utcnow
from caseops.errors import Conflict, DomainError, NotFound
from caseops.extensions import db
from caseops.records import pipeline, prepare, writes
from caseops.records.models import SourceRecord, SourceRecordVersion
from caseops.records.writes import AgencyRef, WriteResult


def authorize_agency_write(actor: Actor, agency_code: str, action: str) -> None:
    """Integration accounts write their own agency's records, nobody else's."""
    if actor.agency == agency_code and permissions.may(actor, "records", "write"):
        return
    refuse(
        actor,
        action,
        "Only this agency's integration account may write its records.",
        reason="not this agency's integration account",
        target_type="agency",
        target_id=agency_code,
    )


def upsert(
    actor: Actor, agency_code: str, source_record_id: str, body: dict[str, Any]
) -> WriteResult:
    """Create or update one record, link it to a client, log it: one transaction."""
    authorize_agency_write(actor, agency_code, "record.write")
    agency = AgencyRef.of(get_agency(agency_code))
    try:
        item = prepare.item(
            agency.code, source_record_id, body, prepare.Keys.from_config(current_app.config)
        )
        [result] = writes.write(actor, agency, [item])
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            "The record was written concurrently; send it again.", code="concurrent_write"
        ) from exc
    if isinstance(result, WriteResult) and result.status != "unchanged":
        db.session.commit()
    else:
        db.session.rollback()  # nothing written: give the linkage claim back at once
    if isinstance(result, DomainError):
        raise result
    return result


def withdraw(actor: Actor, agency_code: str, source_record_id: str) -> WriteResult:
    """Withdraw a record: it stops being shown and linked; its history stays."""
    authorize_agency_write(actor, agency_code, "record.withdraw")
    agency = get_agency(agency_code)
    record = db.session.scalar(
        select(SourceRecord)
        .where(
            SourceRecord.agency_id == agency.id,
            SourceRecord.source_record_id == source_record_id,
        )
        .with_for_update(of=SourceRecord)
    )
    if record is None:
        raise NotFound(f"{agency_code} has no record {source_record_id!r}.")
    if record.withdrawn_at is not None:
        return WriteResult.of(agency.code, record, "unchanged")
    record.withdrawn_at = utcnow()
    db.session.execute(
        update(Client).where(Client.id == record.client_id).values(version=Client.version + 1)
    )
    db.session.add(
        SourceRecordVersion(
            record_id=record.id,
            source_version=record.source_version,
            action="withdraw",
            category=record.category,
            recorded_by=actor.username,
        )
    )
    audit(
        "record.withdraw",
        actor=actor,
        target_type="record",
        target_id=f"{agency.code}/{source_record_id}",
        client_id=record.client_id,
        session=db.session,
    )
    from caseops.events.publish import record_changed  # client.updated, decided later

    record_changed([(record.client_id, agency.code, record.category)], session=db.session)
    result = WriteResult.of(agency.code, record, "withdrawn")
    db.session.commit()
    return result


BULK_CHUNK = 500


@dataclass
class BulkReport:
    lines: list[dict[str, Any]]

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for line in self.lines:
            counts[line["status"]] = counts.get(line["status"], 0) + 1
        return counts


def bulk(
    actor: Actor, agency_code: str, lines: Iterable[tuple[int, str]], progress=None
) -> BulkReport:
    """Ingest NDJSON lines, ``BULK_CHUNK`` at a time, one transaction per chunk.

    Every line of a chunk is validated first, so a bad line never reaches the
    database; the valid ones are written together. If the database refuses that
    write, the chunk's lines are written one by one, each in a savepoint, so only the
    line it refuses is reported and nothing is half written. Returns one report entry
    per non-blank line.
    """
    authorize_agency_write(actor, agency_code, "record.bulk_write")
    agency = AgencyRef.of(get_agency(agency_code))
    report: list[dict[str, Any]] = []
    written: list[dict[str, Any]] = []  # entries of chunks whose write is over

    def done(entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            report.append(entry)
            if progress is not None:
                progress(entry)

    app = current_app._get_current_object()
    keys = prepare.Keys.from_config(app.config)
    with pipeline.bulk_writer(app, actor, agency) as writer:
        preparer = prepare.Preparer(agency.code, keys, parallel=writer.threaded)
        for chunk in preparer.prepared(_chunks(lines)):
            writer.add([(entry, item) for entry, item in chunk if item is not None])
            done(written)  # add returns once the previous chunk is written
            written = [entry for entry, _ in chunk]
    done(written)
    return BulkReport(report)


def _chunks(lines: Iterable[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    for number, raw in lines:
        if raw.strip():
            chunk.append((number, raw))
        if len(chunk) == BULK_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
