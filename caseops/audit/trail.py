"""The privacy officer's use cases on the access log: search, export, proofs, verification.

Every function takes the acting user and checks the role policy
(``permissions.may(actor, "audit", act)``: ``read``, ``verify``); a refusal goes through
``guard.refuse`` and is itself logged. Reads that reveal who accessed which client
(search, export) and verification runs are logged *before* any data is returned.
Entries carry no record contents, so neither does anything here.

Scope (``caseops.audit.scope``): a privacy officer searches, and gets proofs of, the
entries about their own agency; filters narrow that scope and never widen it, and an
entry outside it answers exactly like a sequence number that does not exist. The full
export and consistency proofs need organisation-wide audit scope: they hand over (or
commit to) every entry. Verification results, checkpoints and the public key reveal no
entry, so every privacy officer may have them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from caseops.audit import sealed_reads, tree_store
from caseops.audit.canonical import COLUMNS, bulk_entry, export_line, iso_utc
from caseops.audit.keys import key_ring, log_key, published_keys
from caseops.audit.models import AccessEvent, AuditLeaf
from caseops.audit.scope import AuditScope, scope_of
from caseops.audit.service import record
from caseops.audit.verify import VerifyReport, verify
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import db

EVENTS = AccessEvent.__table__
LEAVES = AuditLeaf.__table__
MAX_PAGE = 500
SCOPED_BATCH = 200  # rows read per round when an agency-scoped page is filled


def authorize(actor: Actor, act: str, operation: str) -> AuditScope:
    """Refuse (logged) unless the role policy lets ``actor`` use the log for ``act``;
    return the part of the log the actor oversees."""
    if not permissions.may(actor, "audit", act):
        refuse(
            actor,
            "audit.denied",
            "Only a privacy officer may use the access log.",
            target_type="audit",
            detail={"operation": operation},
        )
    return scope_of(actor)


def require_organisation_scope(actor: Actor, act: str, operation: str) -> AuditScope:
    """As ``authorize``, and refuse (logged) an officer who oversees one agency only: the
    operation hands over, or commits to, every entry of the log."""
    scope = authorize(actor, act, operation)
    if not scope.organisation:
        refuse(
            actor,
            "audit.denied",
            "This needs organisation-wide audit scope; your scope is your agency's entries.",
            reason="scope",
            target_type="audit",
            detail={"operation": operation},
        )
    return scope


def _entry(values: Any, leaf_index: int | None) -> dict[str, Any]:
    entry = {name: values[name] for name in COLUMNS}
    entry["occurred_at"] = iso_utc(entry["occurred_at"])
    entry["leaf_index"] = leaf_index
    return entry


@dataclass(frozen=True)
class EventFilters:
    client_id: str | None = None
    actor: str | None = None
    agency: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_detail(self) -> dict[str, str]:
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in self.__dict__.items()
            if value is not None
        }


def search_events(
    actor: Actor, filters: EventFilters, *, cursor: int | None = None, limit: int = 50
) -> dict[str, Any]:
    """Entries matching every given filter, newest first; keyset-paginated by ``seq``.

    ``cursor`` is the ``next_cursor`` of the previous page: entries with a smaller seq.
    ``since`` is inclusive, ``until`` exclusive (``occurred_at``).
    """
    scope = authorize(actor, "read", "search")
    limit = max(1, min(limit, MAX_PAGE))
    query = (
        select(EVENTS, LEAVES.c.leaf_index)
        .select_from(EVENTS.outerjoin(LEAVES, LEAVES.c.event_seq == EVENTS.c.seq))
        .where(scope.events_condition())
    )
    conditions = {
        "client_id": EVENTS.c.client_id,
        "actor": EVENTS.c.actor,
        "agency": EVENTS.c.actor_agency,
        "action": EVENTS.c.action,
        "outcome": EVENTS.c.outcome,
    }
    for name, column in conditions.items():
        value = getattr(filters, name)
        if value is not None:
            query = query.where(column == value)
    if filters.since is not None:
        query = query.where(EVENTS.c.occurred_at >= filters.since)
    if filters.until is not None:
        query = query.where(EVENTS.c.occurred_at < filters.until)
    rows = _in_scope_page(scope, query, cursor, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    record(
        "audit.search",
        actor=actor,
        target_type="access_log",
        client_id=filters.client_id,
        detail={
            "filters": filters.as_detail(),
            "cursor": cursor,
            "returned": len(rows),
            "scope": scope.as_dict(),
        },
    )
    return {
        "items": scope.redact_entries([_entry(row._mapping, row.leaf_index) for row in rows]),
        "next_cursor": rows[-1].seq if more else None,
        "scope": scope.as_dict(),
    }


def _in_scope_page(scope: AuditScope, query, cursor: int | None, wanted: int) -> list:
    """Up to ``wanted`` rows of ``query`` below ``cursor``, newest first, that the scope
    admits. SQL does most of the scoping; the rest (``AuditScope.admits``) is checked
    here, reading further batches until the page is full, so a page and its cursor never
    depend on entries outside the scope."""
    batch = wanted if scope.organisation else max(wanted, SCOPED_BATCH)
    found: list = []
    while len(found) < wanted:
        page = query if cursor is None else query.where(EVENTS.c.seq < cursor)
        rows = db.session.execute(page.order_by(EVENTS.c.seq.desc()).limit(batch)).all()
        found.extend(r for r in rows if scope.admits(r.action, r.actor_agency, r.detail))
        if len(rows) < batch:
            break
        cursor = rows[-1].seq
    return found[:wanted]


def export_lines(
    actor: Actor,
    *,
    since_seq: int | None = None,
    until_seq: int | None = None,
    tree_size: int | None = None,
) -> Iterator[bytes]:
    """Sealed entries in leaf order, one canonical JSON object per line: a version 1
    entry's exact leaf bytes, a version 2 entry's whole object and ``leaf_salt`` from
    which its leaf bytes are derived (``caseops.audit.canonical.export_line``).

    Filters: ``since_seq <= seq <= until_seq``, ``leaf_index < tree_size``. The export is
    logged before the first line is produced; an entry missing from the log (deleted)
    yields no line, which an auditor sees as a root that does not match.
    """
    require_organisation_scope(actor, "read", "export")
    record(
        "audit.export",
        actor=actor,
        target_type="access_log",
        detail={
            name: value
            for name, value in (
                ("since_seq", since_seq),
                ("until_seq", until_seq),
                ("tree_size", tree_size),
            )
            if value is not None
        },
    )
    where = []
    if since_seq is not None:
        where.append(LEAVES.c.event_seq >= since_seq)
    if until_seq is not None:
        where.append(LEAVES.c.event_seq <= until_seq)
    if tree_size is not None:
        where.append(LEAVES.c.leaf_index < tree_size)
    return _export(where)


def _export(where: list) -> Iterator[bytes]:
    """The lines a chunk of leaves at a time (``sealed_reads``: no join from the leaves
    to the partitioned entries), over the leaves that matched when the export began."""
    with db.engine.connect() as conn:
        start, stop = sealed_reads.leaf_span(conn, *where)
        for chunk in sealed_reads.chunks(conn, start, stop, *where):
            holding: dict[int, list] = {}
            for row in chunk.entries:
                holding.setdefault(row[sealed_reads.SEQ], []).append(row)
            lines = [
                export_line(bulk_entry(row)) + b"\n"
                for leaf in chunk.leaves
                for row in holding.get(leaf.event_seq, ())
            ]
            if lines:
                yield b"".join(lines)


def _latest(conn) -> tree_store.StoredCheckpoint:
    latest = tree_store.latest_checkpoint(conn)
    if latest is None:
        raise NotFound("The log has not been sealed yet: there is no checkpoint.")
    return latest


def latest_checkpoint(actor: Actor) -> dict[str, Any]:
    """The newest signed checkpoint: sizes and hashes only, for every privacy officer."""
    authorize(actor, "read", "checkpoint")
    return _latest(db.session.connection()).as_dict()


def public_key() -> dict[str, str]:
    """The verification key: for anyone authenticated (it is public by design)."""
    key = log_key()
    return {
        "algorithm": "Ed25519",
        "public_key_pem": key.public_pem(),
        "key_id": key.key_id,
        "origin": key.origin,
        "verifier_key": key.verifier_key(),
    }


def public_keys() -> dict[str, Any]:
    """Every key that signed or signs checkpoints, with its id and validity period, so
    checkpoints from before a key rotation can still be checked (public by design)."""
    return published_keys(db.session.connection(), key_ring())


def _tree_size(conn, requested: int | None) -> tuple[int, tree_store.StoredCheckpoint | None]:
    latest = _latest(conn)
    if requested is None:
        return latest.tree_size, latest
    if not 1 <= requested <= latest.tree_size:
        raise ValidationFailed(
            "No such tree size.",
            details={"tree_size": [f"Must be between 1 and {latest.tree_size}."]},
        )
    return requested, tree_store.checkpoint_at(conn, requested)


def inclusion(actor: Actor, seq: int, tree_size: int | None = None) -> dict[str, Any]:
    """Audit path of entry ``seq`` in the tree of ``tree_size`` (default: latest checkpoint).

    An officer of one agency gets proofs of the entries in their scope: a proof is only
    hashes, so it shows nothing of other entries. An entry outside the scope answers as
    an unknown one (not logged, like an unknown one), so a probe learns nothing.
    """
    scope = authorize(actor, "read", "proof")
    conn = db.session.connection()
    found = conn.execute(
        select(EVENTS.c.action, EVENTS.c.actor_agency, EVENTS.c.detail).where(
            EVENTS.c.seq == seq, scope.events_condition()
        )
    ).one_or_none()
    if found is None or not scope.admits(found.action, found.actor_agency, found.detail):
        raise NotFound(f"No log entry {seq}.")
    size, checkpoint = _tree_size(conn, tree_size)
    leaf = tree_store.leaf_of(conn, seq)
    if leaf is None or leaf[0] >= size:
        raise Conflict(
            f"Entry {seq} is not sealed in a tree of size {size} yet.", code="not_sealed"
        )
    index, digest = leaf
    body: dict[str, Any] = {
        "seq": seq,
        "leaf_index": index,
        "tree_size": size,
        "leaf_hash": digest.hex(),
        "audit_path": [node.hex() for node in tree_store.audit_path(conn, index, size)],
        "root_hash": tree_store.root_at(conn, size).hex(),
    }
    if checkpoint is not None:
        body["checkpoint"] = checkpoint.checkpoint
        body["signature"] = checkpoint.signature
        body["key_id"] = checkpoint.key_id
    return body


def consistency(actor: Actor, first: int, second: int | None = None) -> dict[str, Any]:
    """RFC 9162 consistency proof from tree size ``first`` to ``second`` (default latest)."""
    require_organisation_scope(actor, "read", "consistency")
    conn = db.session.connection()
    size, _ = _tree_size(conn, second)
    if not 0 <= first <= size:
        raise ValidationFailed(
            "No such tree size.", details={"first": [f"Must be between 0 and {size}."]}
        )
    return {
        "first": first,
        "second": size,
        "first_root": tree_store.root_at(conn, first).hex(),
        "second_root": tree_store.root_at(conn, size).hex(),
        "proof": [node.hex() for node in tree_store.consistency(conn, first, size)],
    }


def verify_log(actor: Actor) -> VerifyReport:
    """Recompute and check the whole log (see ``caseops.audit.verify``); logged. Open to
    every privacy officer: the report names at most a sequence number, never an entry."""
    authorize(actor, "verify", "verify")
    ring = key_ring()  # every published key: checkpoints from before a rotation verify
    report = verify(db.engine, ring, ring.origin)
    record(
        "audit.verify",
        actor=actor,
        outcome="success",
        target_type="access_log",
        detail=report.as_dict(),
    )
    return report


def last_verification(actor: Actor) -> dict[str, Any] | None:
    """The newest verification of the log (by cron, the CLI or the API), for the privacy
    officer's home page: when, and whether the log was intact. Open to every privacy
    officer, as verification is; it names at most a sequence number, so it is not logged.
    ``None`` for anyone else, or before the first verification."""
    if not permissions.may(actor, "audit", "verify"):
        return None
    row = db.session.execute(
        select(EVENTS.c.occurred_at, EVENTS.c.outcome, EVENTS.c.detail)
        .where(EVENTS.c.action == "audit.verify")
        .order_by(EVENTS.c.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return {"at": None, "ok": None, "verified_size": None, "first_bad_seq": None}
    at, outcome, detail = row
    detail = detail or {}
    return {
        "at": at,
        "ok": outcome == "success" and bool(detail.get("ok")),
        "verified_size": detail.get("verified_size"),
        "first_bad_seq": detail.get("first_bad_seq"),
    }
