"""The intermediary's list of disclosures (42 CFR 2.24), computed from the verified log.

caseops is an intermediary (42 CFR 2.11): participants disclose to each other through it
under a patient's *general designation* (2.31(a)(4)(ii)(B)). Upon the patient's written
request, limited to disclosures within the past 3 years (2.24(a)), it must answer in 30 or
fewer days of receipt, giving for each disclosure the name(s) of the entity(ies) to which
the disclosure was made, the date of the disclosure, and a brief description of the
patient identifying information disclosed (2.24(b)).

Here:

* a consent officer records the written request and the date it was received
  (``record_request``); it waits on the officer's home page with its due date
  (``open_requests``);
* the list (``produce``) is computed from the access log alone: every successful
  ``client.view`` entry whose ``designation`` detail names a section disclosed under a
  general-designation consent. Each entry sealed in the latest signed checkpoint is
  re-hashed from its stored bytes and its inclusion proof checked against the signed root
  before it is listed, and the proof travels with it, so the list can be proven to an
  outside auditor as the transparency statement is; an entry not sealed yet is listed and
  marked so. An entry that does not match its sealed leaf stops the list (fail closed): the
  log must be repaired first.

Scope. A hidden client answers as an unknown one; only consent officers whose agency serves
the client act, and the list holds the disclosures made under the general-designation
consents the officer may know of (``registry.service.visible_rows``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from caseops import spreadsheet
from caseops.agencies.models import Agency
from caseops.audit import tree_store
from caseops.audit.canonical import canonical_bytes, iso_utc
from caseops.audit.merkle import leaf_hash, verify_inclusion
from caseops.audit.models import AccessEvent
from caseops.audit.part2_models import Part2ListAnswer, Part2ListRequest
from caseops.audit.service import record
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
from caseops.db_types import utcnow
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.registry import service as registry

DUE_DAYS = 30
"""2.24(b)(1): respond in 30 or fewer days of receipt of the written request."""
LOOKBACK_YEARS = 3
"""2.24(a)(2): requests are limited to disclosures made within the past 3 years."""
CATEGORY_DESCRIPTIONS = {
    "substance_use": "substance use disorder treatment record",
    "health": "health record",
    "behavioral_health": "behavioral health record",
}
CSV_COLUMNS = ("date", "recipient_agency", "recipient_name", "description", "seq", "sealed")


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (29 February falls back to the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _authorize(actor: Actor, client_id: str, attempted: str) -> None:
    """A hidden client answers as an unknown one; then only a consent officer whose agency
    serves the client (the operator for anyone) acts for the patient."""
    permissions.load_client(actor, client_id)
    if not permissions.may(actor, "consents", "manage"):
        refuse(
            actor,
            "part2.denied",
            "Only a consent officer records and answers a patient's request for the list of "
            "disclosures (42 CFR 2.24).",
            client_id=client_id,
            detail={"attempted": attempted},
        )
    if not actor.is_operator and not registry.serves(actor.agency or "", client_id, utcnow()):
        refuse(
            actor,
            "part2.denied",
            "Your agency does not serve this client: it holds no record of them and no active "
            "consent names it as a recipient.",
            reason="not_served",
            client_id=client_id,
            detail={"attempted": attempted},
        )


def _describe_request(row: Part2ListRequest, answer: Part2ListAnswer | None) -> dict[str, Any]:
    today = utcnow().date()
    return {
        "id": row.id,
        "client_id": row.client_id,
        "received_on": row.received_on,
        "due_on": row.due_on,
        "days_left": (row.due_on - today).days,
        "overdue": answer is None and today > row.due_on,
        "note": row.note,
        "agency": row.agency_code,
        "recorded_by": row.recorded_by,
        "recorded_at": row.recorded_at,
        "answered_at": answer.answered_at if answer else None,
        "answered_by": answer.answered_by if answer else None,
    }


def record_request(
    actor: Actor, client_id: str, received_on: date, note: str | None = None
) -> dict[str, Any]:
    """Record the patient's written request (2.24(a)(1)), received on ``received_on``;
    due ``DUE_DAYS`` later. Logged as ``part2.list_requested`` with the request."""
    _authorize(actor, client_id, "record_request")
    today = utcnow().date()
    if received_on > today:
        raise ValidationFailed(
            "The request cannot have been received in the future.",
            details={"received_on": ["Give the date the written request was received."]},
        )
    row = Part2ListRequest(
        client_id=client_id,
        received_on=received_on,
        due_on=received_on + timedelta(days=DUE_DAYS),
        note=" ".join(note.split()) if note else None,
        agency_code=actor.agency or "",
        recorded_by=actor.username,
        recorded_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    record(
        "part2.list_requested",
        actor=actor,
        target_type="part2_list_request",
        target_id=str(row.id),
        client_id=client_id,
        detail={"received_on": received_on.isoformat(), "due_on": row.due_on.isoformat()},
        session=db.session,
    )
    db.session.commit()
    return _describe_request(row, None)


def _answers(ids: list[int]) -> dict[int, Part2ListAnswer]:
    if not ids:
        return {}
    return {
        a.request_id: a
        for a in db.session.scalars(
            select(Part2ListAnswer).where(Part2ListAnswer.request_id.in_(ids))
        )
    }


def open_requests(actor: Actor) -> list[dict[str, Any]]:
    """The written requests the officer's agency recorded and has not answered yet, the
    soonest due first: what the consent officer's home page shows."""
    if not permissions.may(actor, "consents", "manage"):
        return []
    query = select(Part2ListRequest).order_by(Part2ListRequest.due_on, Part2ListRequest.id)
    if not actor.is_operator:
        query = query.where(Part2ListRequest.agency_code == (actor.agency or ""))
    rows = list(db.session.scalars(query))
    answers = _answers([r.id for r in rows])
    return [
        _describe_request(r, None)
        for r in rows
        if r.id not in answers and permissions.knows_client(actor, r.client_id)
    ]


def _request_for(actor: Actor, client_id: str, request_id: int | None) -> Part2ListRequest:
    query = select(Part2ListRequest).where(Part2ListRequest.client_id == client_id)
    if not actor.is_operator:
        query = query.where(Part2ListRequest.agency_code == (actor.agency or ""))
    if request_id is not None:
        row = db.session.scalar(query.where(Part2ListRequest.id == request_id))
        if row is None:
            raise NotFound(f"No request {request_id} for this client.")
        return row
    rows = list(db.session.scalars(query.order_by(Part2ListRequest.id.desc())))
    answers = _answers([r.id for r in rows])
    row = next((r for r in rows if r.id not in answers), rows[0] if rows else None)
    if row is None:
        raise Conflict(
            "Record the patient's written request first: the list is given upon a request "
            "made in writing (42 CFR 2.24(a)(1)).",
            code="no_written_request",
        )
    return row


def designation_consents(actor: Actor, client_id: str) -> set[str]:
    """Ids of every version of the client's consents that designate recipients generally,
    among those the actor may know of."""
    data = registry.consents_of(client_id)
    return {
        row.id
        for row in registry.visible_rows(actor, data.rows)
        if row.general_designation is not None
    }


def _description(key: str, names: dict[str, str]) -> str:
    agency, _, category = key.partition("/")
    what = CATEGORY_DESCRIPTIONS.get(category, f"{category.replace('_', ' ')} record")
    return f"{what} from {names.get(agency, agency)}, with the patient's identity"


class LogDoesNotVerify(Conflict):
    """An entry the list would rely on does not match its sealed leaf."""


def _proof(conn, event: AccessEvent, checkpoint) -> dict[str, Any] | None:
    """The entry's inclusion proof in the latest checkpoint, after checking it: None when
    the entry is not sealed in it yet; ``LogDoesNotVerify`` when it does not match."""
    if checkpoint is None:
        return None
    leaf = tree_store.leaf_of(conn, event.seq)
    if leaf is None or leaf[0] >= checkpoint.tree_size:
        return None
    index, stored = leaf
    recomputed = leaf_hash(canonical_bytes(event))
    path = tree_store.audit_path(conn, index, checkpoint.tree_size)
    if recomputed != stored or not verify_inclusion(
        recomputed, index, checkpoint.tree_size, path, checkpoint.root_hash
    ):
        raise LogDoesNotVerify(
            f"Log entry {event.seq} does not match the sealed log; the list cannot be "
            "produced until the privacy officer has verified and repaired the log.",
            code="log_does_not_verify",
        )
    return {
        "leaf_index": index,
        "leaf_hash": stored.hex(),
        "audit_path": [node.hex() for node in path],
    }


def disclosures_from_log(
    events: list[AccessEvent], consent_ids: set[str], names: dict[str, str]
) -> list[dict[str, Any]]:
    """The 2.24(b)(2) rows of the given log entries: one per entry that disclosed a section
    under one of ``consent_ids``' general designation (oldest first)."""
    rows = []
    for event in events:
        designated = (event.detail or {}).get("designation") or {}
        keys = sorted(key for key, cid in designated.items() if cid in consent_ids)
        if not keys:
            continue
        agency = event.actor_agency or ""
        rows.append(
            {
                "seq": event.seq,
                "date": iso_utc(event.occurred_at),
                "recipient_agency": agency,
                "recipient_name": names.get(agency, agency),
                "description": [_description(k, names) for k in keys],
                "sections": keys,
                "consent_ids": sorted({designated[k] for k in keys}),
            }
        )
    return rows


def produce(
    actor: Actor, client_id: str, request_id: int | None = None, fmt: str = "json"
) -> dict[str, Any]:
    """The list for the patient's written request (the open one, or ``request_id``):
    disclosures under a general designation from 3 years before the request was received
    until now, each proven against the latest signed checkpoint when sealed in it. The
    first production answers the request; producing it again is logged again."""
    _authorize(actor, client_id, "produce")
    request = _request_for(actor, client_id, request_id)
    since_day = years_before(request.received_on, LOOKBACK_YEARS)
    since = datetime(since_day.year, since_day.month, since_day.day, tzinfo=UTC)
    consent_ids = designation_consents(actor, client_id)
    events = (
        list(
            db.session.scalars(
                select(AccessEvent)
                .where(
                    AccessEvent.client_id == client_id,
                    AccessEvent.action == "client.view",
                    AccessEvent.outcome == "success",
                    AccessEvent.occurred_at >= since,
                )
                .order_by(AccessEvent.seq)
            )
        )
        if consent_ids
        else []
    )
    names = dict(db.session.execute(select(Agency.code, Agency.name)).all())
    rows = disclosures_from_log(events, consent_ids, names)
    conn = db.session.connection()
    checkpoint = tree_store.latest_checkpoint(conn)
    by_seq = {e.seq: e for e in events}
    for row in rows:
        proof = _proof(conn, by_seq[row["seq"]], checkpoint)
        row["sealed"] = proof is not None
        row["proof"] = proof
    answered = _answers([request.id]).get(request.id)
    now = utcnow()
    if answered is None:
        answered = Part2ListAnswer(
            request_id=request.id,
            answered_by=actor.username,
            answered_at=now,
            disclosures=len(rows),
            tree_size=checkpoint.tree_size if checkpoint else None,
        )
        db.session.add(answered)
    record(
        "part2.list_produced",
        actor=actor,
        target_type="part2_list_request",
        target_id=str(request.id),
        client_id=client_id,
        detail={
            "request_id": request.id,
            "since": since.isoformat(),
            "returned": len(rows),
            "seqs": [r["seq"] for r in rows],
            "tree_size": checkpoint.tree_size if checkpoint else None,
            "format": fmt,
        },
        session=db.session,
    )
    db.session.commit()
    return {
        "client_id": client_id,
        "request": _describe_request(request, answered),
        "intermediary": _intermediary_name(),
        "since": since,
        "until": now,
        "checkpoint": checkpoint.as_dict() if checkpoint else None,
        "items": rows,
    }


def _intermediary_name() -> str | None:
    return current_app.config.get("CASEOPS_INTERMEDIARY_NAME") or None


def to_csv(items: list[dict[str, Any]]) -> str:
    """One line per disclosure under a header (``caseops.spreadsheet``: formula-safe)."""
    return spreadsheet.to_csv(CSV_COLUMNS, items)
