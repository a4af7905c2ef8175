"""Writing a chunk of records: plan (decide and link), then apply (one statement per
table), in one transaction.

Planning reads the stored records and the linkage index and decides everything: which
records are new, updated, unchanged or stale, and the client of every new one. Applying
writes that decision. ``write`` does both under row locks, as a PUT and a sequential
bulk load do; records.pipeline plans a bulk load's next chunk while the previous one is
applied, then applies the plan only if the rows it read are still as it saw them.

Plans hold plain values, never ORM objects, so a plan made in one session (and thread)
can be applied in another.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from caseops.agencies.models import Agency
from caseops.audit.service import record_many
from caseops.authz.actor import Actor
from caseops.clients.models import Client
from caseops.db_types import utcnow
from caseops.errors import Conflict
from caseops.extensions import db
from caseops.matching import claims, store
from caseops.matching.engine.identifiers import block_values
from caseops.records.models import SourceRecord, SourceRecordVersion
from caseops.records.prepare import Item
from caseops.storage.bulk import insert_mappings
from caseops.storage.dialect import among


@dataclass(frozen=True)
class AgencyRef:
    id: int
    code: str

    @classmethod
    def of(cls, agency: Agency) -> AgencyRef:
        return cls(agency.id, agency.code)


@dataclass
class RecordRow:
    """A source record's identity and state, as read or as about to be written."""

    id: int | None
    source_record_id: str
    client_id: str | None
    category: str | None = None
    source_version: int | None = None
    body_digest: str | None = None
    withdrawn_at: datetime | None = None


_STATE = (
    SourceRecord.id,
    SourceRecord.source_record_id,
    SourceRecord.client_id,
    SourceRecord.category,
    SourceRecord.source_version,
    SourceRecord.body_digest,
    SourceRecord.withdrawn_at,
)


def read_stored(
    agency: AgencyRef, source_record_ids: Sequence[str], *, lock: bool
) -> dict[str, RecordRow]:
    """The stored records among these ids (one query), locked for the transaction if
    ``lock``."""
    query = select(*_STATE).where(
        SourceRecord.agency_id == agency.id,
        among(SourceRecord.source_record_id, list(source_record_ids)),
    )
    if lock:
        query = query.with_for_update(of=SourceRecord)
    return {row.source_record_id: RecordRow(*row) for row in db.session.execute(query)}


@dataclass(frozen=True)
class WriteResult:
    summary: dict[str, Any]
    status: str  # created | updated | unchanged | withdrawn
    link: dict[str, str] | None = None  # for the log only, never answered (see as_dict)

    @classmethod
    def of(
        cls, agency_code: str, record: Any, status: str, link: dict[str, str] | None = None
    ) -> WriteResult:
        summary = {
            "client_id": record.client_id,
            "agency": agency_code,
            "source_record_id": record.source_record_id,
            "category": record.category,
            "source_version": record.source_version,
        }
        return cls(summary, status, link)

    @property
    def client_id(self) -> str:
        return self.summary["client_id"]

    def as_dict(self) -> dict[str, Any]:
        """The answer to the agency system: its record, the client it belongs to and the
        write's status. Never ``link`` (the linkage decision, weight and reason): a "link"
        to a client the agency could not know of would tell it that another agency (a
        Part 2 program, say) knows the person. The decision goes to the access log and
        the link events, where data stewards read it."""
        return self.summary | {"status": self.status}


def _stale(existing: RecordRow, version: int, digest: str) -> Conflict | None:
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


@dataclass(eq=False)
class _Change:
    """A record of a chunk that is created or updated, encrypted, not yet stored."""

    placement: store.Placement
    item: Item

    @property
    def record(self) -> RecordRow:
        return self.placement.record

    @property
    def status(self) -> str:
        return "created" if self.placement.new else "updated"

    @property
    def link(self) -> dict[str, str] | None:
        return self.placement.link if self.placement.new else None


@dataclass(eq=False)
class Plan:
    """Everything a chunk's write will do, decided from ``stored`` (the records read
    when planning) and the placements of an ``earlier`` chunk not yet committed."""

    agency: AgencyRef
    source_record_ids: list[str]
    stored: dict[str, RecordRow]
    results: list[WriteResult | Conflict | _Change]
    earlier: Sequence[store.Placement] = ()
    # The linkage clock (caseops.matching.claims) as the write must find it for the
    # plan to stand: set by records.pipeline, which plans ahead of the write.
    clock: int | None = None
    placements: list[store.Placement] = field(init=False)

    def __post_init__(self) -> None:
        self.placements = [r.placement for r in self.results if isinstance(r, _Change)]

    @property
    def changes(self) -> list[_Change]:
        return [r for r in self.results if isinstance(r, _Change)]


def plan(
    agency: AgencyRef,
    items: Sequence[Item],
    stored: dict[str, RecordRow],
    earlier: Sequence[store.Placement] = (),
) -> Plan:
    """Decide the write of records with distinct ids, in order: a stale version comes
    back as its Conflict, a replay as unchanged, the rest is linked."""
    results: list[WriteResult | Conflict | _Change] = []
    for item in items:
        body = item.body
        existing = stored.get(item.source_record_id)
        if existing is not None:
            stale = _stale(existing, body["source_version"], item.digest)
            if stale is not None or body["source_version"] == existing.source_version:
                results.append(stale or WriteResult.of(agency.code, existing, "unchanged"))
                continue
        record = replace(existing) if existing else RecordRow(None, item.source_record_id, None)
        record.category = body["category"]
        record.source_version = body["source_version"]
        record.body_digest = item.digest
        record.withdrawn_at = None
        placement = store.Placement(
            record, body["person"], existing is None, features=item.features, rows=item.rows
        )
        results.append(_Change(placement, item))
    chunk = Plan(agency, [item.source_record_id for item in items], stored, results, earlier)
    if chunk.placements:
        store.place(chunk.placements, earlier)
    return chunk


_CLIENTS = Client.__table__
_RECORDS = SourceRecord.__table__
_UPDATE = (
    update(_RECORDS)
    .where(_RECORDS.c.id == bindparam("record"))
    .values(
        category=bindparam("category"),
        source_version=bindparam("source_version"),
        person_encrypted=bindparam("person_encrypted"),
        data_encrypted=bindparam("data_encrypted"),
        linkage_encrypted=bindparam("linkage"),
        body_digest=bindparam("body_digest"),
        withdrawn_at=None,
        updated_at=bindparam("now"),
    )
)


def apply(actor: Actor, chunk: Plan) -> list[WriteResult | Conflict]:
    """Write a plan in the session's transaction, one statement per table however many
    records (new records without the ORM: its unit of work costs more than the rest)."""
    changes = chunk.changes
    if changes:
        _write_changes(actor, chunk.agency, changes, chunk.earlier)
    return [
        WriteResult.of(chunk.agency.code, r.record, r.status, r.link)
        if isinstance(r, _Change)
        else r
        for r in chunk.results
    ]


def _write_changes(
    actor: Actor,
    agency: AgencyRef,
    changes: list[_Change],
    earlier: Sequence[store.Placement],
) -> None:
    placements = [change.placement for change in changes]
    store.create_clients(placements)
    now = utcnow()
    connection = db.session.connection()
    created = [c for c in changes if c.placement.new]
    ids = insert_mappings(
        connection,
        _RECORDS,
        [
            {
                "agency_id": agency.id,
                "source_record_id": c.record.source_record_id,
                "client_id": c.record.client_id,
                "category": c.record.category,
                "source_version": c.record.source_version,
                "person_encrypted": c.item.person_encrypted,
                "data_encrypted": c.item.data_encrypted,
                "linkage_encrypted": c.item.linkage_encrypted,
                "body_digest": c.item.digest,
                "created_at": now,
                "updated_at": now,
            }
            for c in created
        ],
        ids=True,
    )
    for change, record_id in zip(created, ids, strict=True):
        change.record.id = record_id
    updated = [
        {
            "record": c.record.id,
            "category": c.record.category,
            "source_version": c.record.source_version,
            "person_encrypted": c.item.person_encrypted,
            "data_encrypted": c.item.data_encrypted,
            "linkage": c.item.linkage_encrypted,
            "body_digest": c.item.digest,
            "now": now,
        }
        for c in changes
        if not c.placement.new
    ]
    if updated:
        db.session.execute(_UPDATE, updated)
    store.store_placements(placements, actor.username, earlier)
    # A client's version moves whenever one of its records is written or joins it (the
    # view reports it); a client made for this record starts at its first version.
    bumps = Counter(c.record.client_id for c in changes if not c.placement.fresh_client)
    for times in sorted(set(bumps.values())):
        clients = sorted(client for client, n in bumps.items() if n == times)
        db.session.execute(
            update(_CLIENTS)
            .where(among(_CLIENTS.c.id, clients))
            .values(version=_CLIENTS.c.version + times)
        )
    insert_mappings(
        connection,
        SourceRecordVersion.__table__,
        [
            {
                "record_id": c.record.id,
                "source_version": c.record.source_version,
                "action": "upsert",
                "category": c.record.category,
                "person_encrypted": c.item.person_encrypted,
                "data_encrypted": c.item.data_encrypted,
                "body_digest": c.item.digest,
                "recorded_by": actor.username,
            }
            for c in changes
        ],
    )
    # client.updated, for the workers who see these sections: decided off this path
    # (caseops.events.notifier) from rows queued in this transaction.
    from caseops.events.publish import record_changed

    record_changed(
        ((c.record.client_id, agency.code, c.record.category) for c in changes),
        session=db.session,
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


def write(actor: Actor, agency: AgencyRef, items: Sequence[Item]) -> list[WriteResult | Conflict]:
    """Plan and apply under the linkage claim of the items' blocking keys and row
    locks, flushed but not committed."""
    claims.claim_keys(key for item in items for key in block_values(item.rows))
    stored = read_stored(agency, [item.source_record_id for item in items], lock=True)
    return apply(actor, plan(agency, items, stored))
