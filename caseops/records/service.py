"""Record ingest from agency systems: one transaction per write, history kept.

Only an integration account of the agency itself may write its records. Replaying the
same body changes nothing; an older ``source_version`` is refused with the current one;
a withdrawal keeps the history. A PUT and a bulk load share ``_write``, which writes a
chunk of records with a fixed number of statements, however many records it holds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from flask import current_app
from marshmallow import ValidationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from caseops.agencies.models import Agency
from caseops.agencies.service import get_agency
from caseops.audit.service import record as audit
from caseops.audit.service import record_many
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.clients import linking
from caseops.clients.models import Client
from caseops.crypto import keyring_from_config
from caseops.db_types import utcnow
from caseops.dbcopy import insert_mappings
from caseops.errors import Conflict, DomainError, Forbidden, NotFound, flatten_messages
from caseops.extensions import db
from caseops.gcpause import gc_paused
from caseops.records.models import SourceRecord, SourceRecordVersion
from caseops.records.schemas import load_bulk_line


@dataclass(frozen=True)
class WriteResult:
    record: SourceRecord
    status: str  # created | updated | unchanged | withdrawn
    link: dict[str, str] | None = None
    # Taken before the commit expires the record, so answering costs no query.
    summary: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        record = self.record
        summary = {
            "client_id": record.client_id,
            "agency": record.agency.code,
            "source_record_id": record.source_record_id,
            "category": record.category,
            "source_version": record.source_version,
        }
        object.__setattr__(self, "summary", summary)

    def as_dict(self) -> dict[str, Any]:
        return self.summary | {"status": self.status, "link": self.link}


def body_digest(body: dict[str, Any]) -> str:
    """SHA-256 of the body's canonical JSON (sorted keys, no spaces, ASCII, dates as
    ISO strings). Stored with every record, so the bytes must never change: a replayed
    body would no longer be recognised as the same."""
    canonical = json.dumps(body, default=str, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def authorize_agency_write(actor: Actor, agency_code: str, action: str) -> None:
    """Integration accounts write their own agency's records, nobody else's."""
    if actor.agency == agency_code and policy.allowed(actor, "records", "write"):
        return
    audit(
        action,
        actor=actor,
        outcome="denied",
        target_type="agency",
        target_id=agency_code,
        detail={"reason": "not this agency's integration account"},
    )
    raise Forbidden("Only this agency's integration account may write its records.")


def _encrypt(agency: str, source_record_id: str, person: Any, data: Any) -> tuple[str, str]:
    keyring = keyring_from_config(current_app.config)
    person_context = linking.person_context(agency, source_record_id)
    person_ct = keyring.encrypt(_plaintext(person), person_context)
    data_ct = keyring.encrypt(_plaintext(data), data_context(agency, source_record_id))
    return person_ct, data_ct


def _plaintext(value: Any) -> bytes:
    """JSON bytes to encrypt, dates as ISO strings: orjson, or the standard encoder for
    what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, default=str)
    except TypeError:
        return json.dumps(value, default=str).encode()


def data_context(agency_code: str, source_record_id: str) -> str:
    return f"record:{agency_code}:{source_record_id}:data"


def _bump_client(client_id: str) -> None:
    db.session.execute(
        update(Client).where(Client.id == client_id).values(version=Client.version + 1)
    )


def _find(agency_id: int, source_record_id: str, *, lock: bool = False) -> SourceRecord | None:
    query = select(SourceRecord).where(
        SourceRecord.agency_id == agency_id, SourceRecord.source_record_id == source_record_id
    )
    if lock:
        query = query.with_for_update(of=SourceRecord)
    return db.session.scalar(query)


def upsert(
    actor: Actor, agency_code: str, source_record_id: str, body: dict[str, Any]
) -> WriteResult:
    """Create or update one record, link it to a client, log it: one transaction."""
    authorize_agency_write(actor, agency_code, "record.write")
    agency = get_agency(agency_code)
    try:
        [result] = _write(actor, agency, [(source_record_id, body)])
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            "The record was written concurrently; send it again.", code="concurrent_write"
        ) from exc
    if isinstance(result, DomainError):
        raise result
    if result.status != "unchanged":
        db.session.commit()
    return result


@dataclass(eq=False)
class _Change:
    """A record of a chunk that is created or updated, encrypted, not yet stored."""

    placement: linking.Placement
    body: dict[str, Any]
    digest: str
    person_encrypted: str
    data_encrypted: str

    @property
    def record(self) -> SourceRecord:
        return self.placement.record

    @property
    def status(self) -> str:
        return "created" if self.placement.new else "updated"

    @property
    def link(self) -> dict[str, str] | None:
        return self.placement.link if self.placement.new else None


def _stale(existing: SourceRecord, version: int, digest: str) -> Conflict | None:
    if version < existing.source_version or (
        version == existing.source_version
        and (digest != existing.body_digest or existing.withdrawn_at is not None)
    ):
        return Conflict(
            f"source_version {version} is not newer than the stored version "
            f"{existing.source_version}.",
            details={"source_version": [f"Current version is {existing.source_version}."]},
            code="stale_version",
        )
    return None


def _write(
    actor: Actor, agency: Agency, items: Sequence[tuple[str, dict[str, Any]]]
) -> list[WriteResult | Conflict]:
    """Write records with distinct ids, in order, flushed but not committed; a stale
    version comes back as its Conflict. However many records: one query finds the
    stored ones, a few link the new ones, one statement per table writes them."""
    query = (
        select(SourceRecord)
        .where(
            SourceRecord.agency_id == agency.id,
            linking.among(SourceRecord.source_record_id, [srid for srid, _ in items]),
        )
        .with_for_update(of=SourceRecord)
    )
    stored = {record.source_record_id: record for record in db.session.scalars(query)}
    results: list[WriteResult | Conflict | _Change] = []
    for srid, body in items:
        digest = body_digest(body)
        existing = stored.get(srid)
        if existing is not None:
            stale = _stale(existing, body["source_version"], digest)
            if stale is not None or body["source_version"] == existing.source_version:
                results.append(stale or WriteResult(existing, "unchanged"))
                continue
        person_ct, data_ct = _encrypt(agency.code, srid, body["person"], body["data"])
        record = existing or SourceRecord(agency_id=agency.id, agency=agency, source_record_id=srid)
        placement = linking.Placement(record, body["person"], new=existing is None)
        results.append(_Change(placement, body, digest, person_ct, data_ct))
    changes = [result for result in results if isinstance(result, _Change)]
    if changes:
        _store(actor, agency, changes)
    return [
        WriteResult(r.record, r.status, r.link) if isinstance(r, _Change) else r for r in results
    ]


_BUMP = (
    update(Client.__table__)
    .where(Client.__table__.c.id == bindparam("client"))
    .values(version=Client.__table__.c.version + 1)
)


_RECORD_COLUMNS = (
    "agency_id",
    "source_record_id",
    "client_id",
    "category",
    "source_version",
    "person_encrypted",
    "data_encrypted",
    "body_digest",
    "created_at",
    "updated_at",
)


def _store(actor: Actor, agency: Agency, changes: list[_Change]) -> None:
    """Link the new records, then write the chunk with one statement per table. New
    records are inserted without the ORM (its unit of work costs more than the rest of
    the write); their objects get the ids and serve the answer."""
    placements = [change.placement for change in changes]
    linking.place(placements)
    linking.create_clients(placements)
    now = utcnow()
    created = []
    for change in changes:
        record = change.record
        record.category = change.body["category"]
        record.source_version = change.body["source_version"]
        record.person_encrypted = change.person_encrypted
        record.data_encrypted = change.data_encrypted
        record.body_digest = change.digest
        record.withdrawn_at = None
        record.updated_at = now
        if change.placement.new:
            record.created_at = now
            created.append(record)
    db.session.flush()  # the updated records (the new ones are not in the session)
    connection = db.session.connection()
    ids = insert_mappings(
        connection,
        SourceRecord.__table__,
        [{name: getattr(record, name) for name in _RECORD_COLUMNS} for record in created],
        ids=True,
    )
    for record, record_id in zip(created, ids, strict=True):
        record.id = record_id
    linking.store_placements(placements, actor.username)
    # A client's version moves whenever one of its records is written or joins it (the
    # view reports it); a client made for this record starts at its first version.
    bumps = [{"client": c.record.client_id} for c in changes if not c.placement.fresh_client]
    if bumps:
        db.session.execute(_BUMP, bumps)
    insert_mappings(
        connection,
        SourceRecordVersion.__table__,
        [
            {
                "record_id": c.record.id,
                "source_version": c.record.source_version,
                "action": "upsert",
                "category": c.record.category,
                "person_encrypted": c.person_encrypted,
                "data_encrypted": c.data_encrypted,
                "body_digest": c.digest,
                "recorded_by": actor.username,
            }
            for c in changes
        ],
    )
    record_many(
        [
            {
                "action": "record.write",
                "actor": actor,
                "target_type": "record",
                "target_id": f"{agency.code}/{c.record.source_record_id}",
                "client_id": c.record.client_id,
                "detail": {
                    "status": c.status,
                    "category": c.record.category,
                    "source_version": c.record.source_version,
                    "link": c.link,
                },
            }
            for c in changes
        ],
        session=db.session,
    )


def withdraw(actor: Actor, agency_code: str, source_record_id: str) -> WriteResult:
    """Withdraw a record: it stops being shown and linked; its history stays."""
    authorize_agency_write(actor, agency_code, "record.withdraw")
    agency = get_agency(agency_code)
    record = _find(agency.id, source_record_id, lock=True)
    if record is None:
        raise NotFound(f"{agency_code} has no record {source_record_id!r}.")
    if record.withdrawn_at is not None:
        return WriteResult(record, "unchanged")
    record.withdrawn_at = utcnow()
    _bump_client(record.client_id)
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
    result = WriteResult(record, "withdrawn")
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


Line = tuple[dict[str, Any], dict[str, Any]]  # (report entry, validated body)


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
    agency = get_agency(agency_code)
    report: list[dict[str, Any]] = []
    for chunk in _chunks(lines):
        entries = [{"line": number} for number, _ in chunk]
        with gc_paused():
            valid: list[Line] = []
            for entry, (_, raw) in zip(entries, chunk, strict=True):
                body = _validate(raw, entry)
                if body is not None:
                    valid.append((entry, body))
            for run in _runs(valid):
                _write_lines(actor, agency, run)
            db.session.commit()
        for entry in entries:
            report.append(entry)
            if progress is not None:
                progress(entry)
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


def _parse(line: str) -> Any:
    """orjson for speed; the standard parser where orjson refuses, for its answer and
    its error message (it also takes integers beyond 64 bits, which validation then
    names)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def _validate(line: str, entry: dict[str, Any]) -> dict[str, Any] | None:
    """The line's PUT body, or None with the errors in ``entry``; the entry names the
    record whenever the line does, valid or not."""
    try:
        raw = _parse(line)
    except json.JSONDecodeError as exc:
        entry.update(status="error", errors={"_line": [f"Not JSON: {exc.msg}."]})
        return None
    if isinstance(raw, dict) and isinstance(raw.get("source_record_id"), str):
        entry["source_record_id"] = raw["source_record_id"]
    try:
        body = load_bulk_line(raw)
    except ValidationError as exc:
        entry.update(status="error", errors=flatten_messages(exc.messages))
        return None
    body.pop("source_record_id")
    return body


def _runs(lines: list[Line]) -> Iterator[list[Line]]:
    """Consecutive lines with distinct record ids: a record sent twice in one chunk is
    written the second time after the first, as one by one."""
    run: list[Line] = []
    seen: set[str] = set()
    for line in lines:
        srid = line[0]["source_record_id"]
        if srid in seen:
            yield run
            run, seen = [], set()
        run.append(line)
        seen.add(srid)
    if run:
        yield run


def _write_lines(actor: Actor, agency: Agency, lines: list[Line]) -> None:
    """Write lines together in a savepoint; if the database refuses, one by one."""
    try:
        with db.session.begin_nested():
            results = _write(actor, agency, [(e["source_record_id"], body) for e, body in lines])
    except (IntegrityError, DomainError) as exc:
        if len(lines) > 1:
            for line in lines:
                _write_lines(actor, agency, [line])
            return
        results = [exc]
    for (entry, _), result in zip(lines, results, strict=True):
        if isinstance(result, WriteResult):
            entry.update(status=result.status, client_id=result.summary["client_id"])
        elif isinstance(result, DomainError):
            entry.update(status="error", errors=result.details or {"_line": [result.message]})
        else:
            entry.update(status="error", errors={"_line": ["Written concurrently; send again."]})
