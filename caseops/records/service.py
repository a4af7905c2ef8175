"""Record ingest from agency systems: one transaction per record, history kept.

Only an integration account of the agency itself may write its records. Replaying the
same body changes nothing; an older ``source_version`` is refused with the current one;
a withdrawal keeps the history.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from marshmallow import ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from caseops.agencies.service import get_agency
from caseops.audit.service import record as audit
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.clients import linking
from caseops.clients.models import Client
from caseops.crypto import keyring_from_config
from caseops.db_types import utcnow
from caseops.errors import Conflict, DomainError, Forbidden, NotFound, flatten_messages
from caseops.extensions import db
from caseops.records.models import SourceRecord, SourceRecordVersion
from caseops.records.schemas import BulkLineSchema


@dataclass(frozen=True)
class WriteResult:
    record: SourceRecord
    status: str  # created | updated | unchanged | withdrawn
    link: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.record.client_id,
            "agency": self.record.agency.code,
            "source_record_id": self.record.source_record_id,
            "category": self.record.category,
            "source_version": self.record.source_version,
            "status": self.status,
            "link": self.link,
        }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def body_digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(_jsonable(body), sort_keys=True, separators=(",", ":"))
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
    person_ct = keyring.encrypt(
        json.dumps(_jsonable(person)).encode(), linking.person_context(agency, source_record_id)
    )
    data_ct = keyring.encrypt(
        json.dumps(_jsonable(data)).encode(), data_context(agency, source_record_id)
    )
    return person_ct, data_ct


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
    try:
        result = _upsert(actor, agency_code, source_record_id, body)
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            "The record was written concurrently; send it again.", code="concurrent_write"
        ) from exc
    if result.status != "unchanged":
        db.session.commit()
    return result


def _upsert(
    actor: Actor, agency_code: str, source_record_id: str, body: dict[str, Any]
) -> WriteResult:
    """The write itself, flushed but not committed (bulk ingest commits in batches)."""
    agency = get_agency(agency_code)
    digest = body_digest(body)
    version = body["source_version"]
    existing = _find(agency.id, source_record_id, lock=True)
    if existing is not None:
        if version < existing.source_version or (
            version == existing.source_version
            and (digest != existing.body_digest or existing.withdrawn_at is not None)
        ):
            raise Conflict(
                f"source_version {version} is not newer than the stored version "
                f"{existing.source_version}.",
                details={"source_version": [f"Current version is {existing.source_version}."]},
                code="stale_version",
            )
        if version == existing.source_version:
            return WriteResult(existing, "unchanged")
    person_ct, data_ct = _encrypt(agency.code, source_record_id, body["person"], body["data"])
    now = utcnow()
    if existing is None:
        record = SourceRecord(
            agency_id=agency.id,
            agency=agency,
            source_record_id=source_record_id,
            category=body["category"],
            source_version=version,
            person_encrypted=person_ct,
            data_encrypted=data_ct,
            body_digest=digest,
            created_at=now,
            updated_at=now,
        )
        link = linking.place_new_record(record, body["person"], actor.username)
        status = "created"
    else:
        record = existing
        record.category = body["category"]
        record.source_version = version
        record.person_encrypted = person_ct
        record.data_encrypted = data_ct
        record.body_digest = digest
        record.withdrawn_at = None
        record.updated_at = now
        link = None
        status = "updated"
        _bump_client(record.client_id)
    db.session.flush()
    linking.store_identifiers(record, body["person"])
    db.session.add(
        SourceRecordVersion(
            record_id=record.id,
            source_version=version,
            action="upsert",
            category=record.category,
            person_encrypted=person_ct,
            data_encrypted=data_ct,
            body_digest=digest,
            recorded_by=actor.username,
        )
    )
    audit(
        "record.write",
        actor=actor,
        target_type="record",
        target_id=f"{agency.code}/{source_record_id}",
        client_id=record.client_id,
        detail={
            "status": status,
            "category": record.category,
            "source_version": version,
            "link": link,
        },
        session=db.session,
    )
    db.session.flush()
    return WriteResult(record, status, link)


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
    db.session.commit()
    return WriteResult(record, "withdrawn")


BULK_COMMIT_EVERY = 500


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
    """Ingest NDJSON lines; each line is written whole or not at all (a savepoint each),
    committed in batches. Returns one report entry per non-blank line."""
    authorize_agency_write(actor, agency_code, "record.bulk_write")
    schema = BulkLineSchema()
    report: list[dict[str, Any]] = []
    pending = 0
    for number, text in lines:
        if not text.strip():
            continue
        entry: dict[str, Any] = {"line": number}
        try:
            raw = json.loads(text)
            body = schema.load(raw)
            srid = body.pop("source_record_id")
            entry["source_record_id"] = srid
            with db.session.begin_nested():
                result = _upsert(actor, agency_code, srid, body)
            entry.update(status=result.status, client_id=result.record.client_id)
            pending += result.status != "unchanged"
        except json.JSONDecodeError as exc:
            entry.update(status="error", errors={"_line": [f"Not JSON: {exc.msg}."]})
        except ValidationError as exc:
            entry.update(status="error", errors=flatten_messages(exc.messages))
        except IntegrityError:
            entry.update(status="error", errors={"_line": ["Written concurrently; send again."]})
        except DomainError as exc:
            entry.update(status="error", errors=exc.details or {"_line": [exc.message]})
        report.append(entry)
        if progress is not None:
            progress(entry)
        if pending >= BULK_COMMIT_EVERY:
            db.session.commit()
            pending = 0
    db.session.commit()
    return BulkReport(report)
