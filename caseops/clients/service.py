"""Client search for workers and the data steward's review queue.

Search answers with minimal demographics only (name, birth date, client id) and never
says which agencies or categories hold records. Records that are themselves sensitive
to acknowledge (42 CFR Part 2: substance-use data or any Part 2 program's record) are
searched only by the agency that holds them and by agencies an active consent names as
recipients of that source: the very rule of ``permissions.knows_record`` (a client is
findable exactly when ``permissions.knows_client`` says the searcher may know of it).

The review queue is scoped like every oversight role: a data steward sees and acts on the
pairs that involve their own agency's records, unless a policy rule gives them
organisation-wide scope for ``linkage``. A pair involving another agency's Part 2 record
is left out altogether (not masked: even a masked side would say "someone resembling your
client is known to a hidden program", the fact Part 2 protects). Items, records and link
events outside the steward's scope answer 404 exactly as unknown ids do.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import String, cast, exists, select
from sqlalchemy.orm import aliased

from caseops.agencies.models import Agency
from caseops.audit.service import record as audit
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.authz.guard import require
from caseops.clients.models import Client, KeptApart, LinkEvent, RecordIdentifier, ReviewItem
from caseops.db_types import utcnow
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.matching import rehoming, store
from caseops.matching.engine.identifiers import IDENTIFIER_SCHEME
from caseops.matching.engine.normalize import name_tokens
from caseops.matching.engine.pseudonym import birth_date_key, name_birth_key, pseudonym
from caseops.records.models import SourceRecord
from caseops.registry.models import ConsentRecord
from caseops.storage.pipeline import prefetch
from caseops.vocabulary import PART2_CATEGORY

SEARCH_LIMIT = 25


def _require(actor: Actor, obj: str, act: str, action: str) -> None:
    require(actor, obj, act, action=action, message="Your role may not do this.")


def _maybe_visible_to(actor: Actor):
    """Records a search may use, as SQL: not Part 2, or held by the searcher's agency, or
    of a client with a consent that may name the searcher's agency as a recipient (a
    superset, narrowed exactly by ``permissions.knows_record`` afterwards). None: all."""
    if actor.is_operator or permissions.has_organisation_scope(actor, "audit"):
        return None
    not_part2 = (SourceRecord.category != PART2_CATEGORY) & Agency.part2_program.is_(False)
    if actor.agency is None:
        return not_part2
    escaped = "".join("\\" + ch if ch in "\\%_" else ch for ch in actor.agency)
    named = select(ConsentRecord.client_id).where(
        cast(ConsentRecord.recipients, String).like(f'%"{escaped}"%', escape="\\")
    )
    return not_part2 | (Agency.code == actor.agency) | SourceRecord.client_id.in_(named)


def search(actor: Actor, q: str | None, birth_date: date | None) -> list[dict[str, Any]]:
    """Clients whose names contain every word of ``q`` (and born on ``birth_date``)."""
    _require(actor, "clients", "search", "client.search")
    words = [w for w in name_tokens(q) if len(w) > 1] if q else []
    if not words and birth_date is None:
        raise ValidationFailed(
            "Give a name or a birth date to search for.",
            details={"q": ["Give at least one name of two letters or more, or a birth date."]},
        )
    key = store.pseudonym_key()
    query = (
        select(SourceRecord, Agency.code, Agency.part2_program)
        .join(Agency, SourceRecord.agency_id == Agency.id)
        .where(SourceRecord.withdrawn_at.is_(None))
    )
    visible = _maybe_visible_to(actor)
    if visible is not None:
        query = query.where(visible)
    names = [pseudonym(key, "name", w) for w in words]
    if birth_date is None:
        for value in names:
            query = query.where(
                SourceRecord.id.in_(
                    select(RecordIdentifier.record_id).where(RecordIdentifier.value == value)
                )
            )
    else:
        # Start from a short list and probe the others on the (value, record_id) index
        # for its records alone, instead of reading every record of a common name:
        # PostgreSQL merged a name's whole list (16,890 entries for one name at a million
        # clients) with the birth date's, so a search cost what its commonest name did
        # (p95 20x at 1M, issue 20). The shortest list is the first name word with the
        # birth date (a record or two at any size) once every record has those
        # identifiers; before that, the birth date's (117 records at a million, each a
        # cold page). MATERIALIZED keeps the planner from folding it back into a merge.
        if words and store.indexed_under(IDENTIFIER_SCHEME):
            first, *probes = [name_birth_key(key, w, birth_date) for w in words]
        else:
            first, probes = birth_date_key(key, birth_date), names
        start = (
            select(RecordIdentifier.record_id)
            .where(RecordIdentifier.value == first)
            .cte("start")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        query = query.where(SourceRecord.id.in_(select(start.c.record_id)))
        for value in probes:
            probe = aliased(RecordIdentifier)
            query = query.where(
                exists().where(probe.record_id == SourceRecord.id, probe.value == value)
            )
    rows = db.session.execute(query.limit(SEARCH_LIMIT * 8)).all()
    now = utcnow()
    # Another agency's Part 2 record makes its client known only through a consent: the
    # consents of every such hit in one round trip, not one per client (issue 20). The
    # exchange happens with no such hit too (reading nobody's consents), so how long a
    # search takes does not tell whether a hidden Part 2 record matched.
    undecided = sorted(
        {
            found.client_id
            for found, agency, part2 in rows
            if agency != actor.agency and permissions.is_part2_record(part2, found.category)
        }
    )
    reads = [r for c in undecided or [""] for r in permissions.knows_record_reads(c)]
    with prefetch(db.session, reads):
        return _answer(actor, words, birth_date, rows, now)


def _answer(actor: Actor, words: list[str], birth_date: date | None, rows, now) -> list[dict]:
    """The hits the actor may know of, ranked, and the search logged."""
    known: dict[tuple[str, str, str], bool] = {}

    def knows(found: SourceRecord, agency: str, part2: bool) -> bool:
        key = (found.client_id, agency, found.category)
        if key not in known:
            known[key] = permissions.knows_record(
                actor, found.client_id, agency, part2, found.category, at=now
            )
        return known[key]

    records = [found for found, agency, part2 in rows if knows(found, agency, part2)]
    results: dict[str, dict[str, Any]] = {}
    for found in sorted(records, key=lambda r: r.updated_at, reverse=True):
        if found.client_id in results:
            continue
        person = store.decrypt_person(found)
        name = " ".join(
            part for part in (person.get("given_name"), person.get("family_name")) if part
        )
        results[found.client_id] = {
            "client_id": found.client_id,
            "name": name,
            "birth_date": person.get("birth_date"),
            "score": fuzz.token_sort_ratio(" ".join(words), name.lower()) if words else 100,
        }
    ranked = sorted(results.values(), key=lambda r: (-r["score"], r["name"]))[:SEARCH_LIMIT]
    audit(
        "client.search",
        actor=actor,
        detail={
            "criteria": sorted(["name"] * bool(words) + ["birth_date"] * (birth_date is not None)),
            "result_client_ids": [r["client_id"] for r in ranked],
        },
    )
    return [{k: v for k, v in r.items() if k != "score"} for r in ranked]


# --- the data steward's review queue ----------------------------------------------------


def _require_steward(actor: Actor, action: str) -> None:
    _require(actor, "linkage", "manage", action)


def _side(record: SourceRecord) -> tuple[str, bool, str]:
    return record.agency.code, record.agency.part2_program, record.category


def _oversees(actor: Actor, *records: SourceRecord) -> bool:
    """Whether these records' linkage is the steward's matter (see the module doc)."""
    return permissions.oversees_linkage_of(actor, [_side(r) for r in records])


def _item_records(item: ReviewItem) -> tuple[SourceRecord, SourceRecord]:
    return (
        db.session.get(SourceRecord, item.record_id),
        db.session.get(SourceRecord, item.candidate_record_id),
    )


_RECORD, _CANDIDATE = aliased(SourceRecord), aliased(SourceRecord)
_RECORD_AGENCY, _CANDIDATE_AGENCY = aliased(Agency), aliased(Agency)
_QUEUE = (
    select(
        ReviewItem,
        _RECORD_AGENCY.code,
        _RECORD_AGENCY.part2_program,
        _RECORD.category,
        _CANDIDATE_AGENCY.code,
        _CANDIDATE_AGENCY.part2_program,
        _CANDIDATE.category,
    )
    .join(_RECORD, _RECORD.id == ReviewItem.record_id)
    .join(_RECORD_AGENCY, _RECORD_AGENCY.id == _RECORD.agency_id)
    .join(_CANDIDATE, _CANDIDATE.id == ReviewItem.candidate_record_id)
    .join(_CANDIDATE_AGENCY, _CANDIDATE_AGENCY.id == _CANDIDATE.agency_id)
    .order_by(ReviewItem.id)
)


def _pair_summary(record: SourceRecord) -> dict[str, Any]:
    """What a steward needs to judge a pair: identifiers, not record contents."""
    person = store.decrypt_person(record)
    return {
        "record_id": record.id,
        "agency": record.agency.code,
        "source_record_id": record.source_record_id,
        "client_id": record.client_id,
        "person": person,
    }


def review_queue(actor: Actor, status: str = "open") -> list[dict[str, Any]]:
    """The pairs within the steward's scope; the others are not listed (nor counted)."""
    _require_steward(actor, "linkage.review_list")
    rows = db.session.execute(_QUEUE.where(ReviewItem.status == status))
    return [
        describe_item(item)
        for item, *sides in rows
        if permissions.oversees_linkage_of(actor, [tuple(sides[:3]), tuple(sides[3:])])
    ]


def describe_item(item: ReviewItem) -> dict[str, Any]:
    record = db.session.get(SourceRecord, item.record_id)
    candidate = db.session.get(SourceRecord, item.candidate_record_id)
    return {
        "id": item.id,
        "status": item.status,
        "score": item.score,
        "created_at": item.created_at,
        "record": _pair_summary(record),
        "candidate": _pair_summary(candidate),
    }


def _open_item(actor: Actor, item_id: int) -> ReviewItem:
    """The item, if it is open and the steward's matter; an item outside the steward's
    scope answers exactly as an unknown id, whatever its status."""
    item = db.session.get(ReviewItem, item_id)
    if item is None or not _oversees(actor, *_item_records(item)):
        raise NotFound(f"No review item {item_id}.")
    if item.status != "open":
        raise Conflict(f"Review item {item_id} is already {item.status}.")
    return item


def _move(record: SourceRecord, to_client: str, action: str, actor: Actor, **extra) -> LinkEvent:
    event = LinkEvent(
        record_id=record.id,
        from_client_id=record.client_id,
        to_client_id=to_client,
        action=action,
        actor=actor.username,
        **extra,
    )
    for client_id in {record.client_id, to_client}:
        db.session.execute(
            Client.__table__.update()
            .where(Client.id == client_id)
            .values(version=Client.version + 1)
        )
    record.client_id = to_client
    db.session.add(event)
    db.session.flush()
    # What hangs on the client id follows the records it came from, or waits (issue 21).
    rehoming.after_move(actor, event.from_client_id, to_client, event.id)
    return event


def _log(actor: Actor, action: str, record: SourceRecord, detail: dict[str, Any]) -> None:
    audit(
        action,
        actor=actor,
        target_type="record",
        target_id=f"{record.agency.code}/{record.source_record_id}",
        client_id=record.client_id,
        detail=detail,
        session=db.session,
    )


def resolve_link(actor: Actor, item_id: int) -> dict[str, Any]:
    """The steward says: same person. The record joins the candidate's client."""
    _require_steward(actor, "linkage.link")
    item = _open_item(actor, item_id)
    record = db.session.get(SourceRecord, item.record_id)
    candidate = db.session.get(SourceRecord, item.candidate_record_id)
    before = record.client_id
    event = _move(record, candidate.client_id, "steward_link", actor, reason=f"review {item.id}")
    item.status, item.resolved_by, item.resolved_at = "linked", actor.username, utcnow()
    _log(
        actor,
        "linkage.link",
        record,
        {"review_item": item.id, "from_client": before, "link_event": event.id},
    )
    db.session.commit()
    return describe_item(item) | {"link_event": event.id}


def _keep_pair_apart(a: int, b: int, actor: Actor) -> None:
    low, high = sorted((a, b))
    exists = db.session.scalar(
        select(KeptApart.id).where(KeptApart.record_a_id == low, KeptApart.record_b_id == high)
    )
    if exists is None:
        db.session.add(KeptApart(record_a_id=low, record_b_id=high, decided_by=actor.username))


def resolve_keep_apart(actor: Actor, item_id: int) -> dict[str, Any]:
    """The steward says: different people. They are never linked or queued again."""
    _require_steward(actor, "linkage.keep_apart")
    item = _open_item(actor, item_id)
    record = db.session.get(SourceRecord, item.record_id)
    _keep_pair_apart(item.record_id, item.candidate_record_id, actor)
    item.status, item.resolved_by, item.resolved_at = "kept_apart", actor.username, utcnow()
    _log(
        actor,
        "linkage.keep_apart",
        record,
        {"review_item": item.id, "candidate_record": item.candidate_record_id},
    )
    db.session.commit()
    return describe_item(item)


def unlink(actor: Actor, record_id: int) -> dict[str, Any]:
    """Take a record out of its client into a client of its own, and keep it apart from
    the records it leaves behind."""
    _require_steward(actor, "linkage.unlink")
    record = db.session.get(SourceRecord, record_id)
    if record is None or not _oversees(actor, record):
        raise NotFound(f"No record {record_id}.")
    others = [
        r
        for r in store.records_by_client([record.client_id]).get(record.client_id, [])
        if r.id != record.id
    ]
    # Records the steward may not know of count as none: answering 200 rather than 409
    # would tell them that a hidden (Part 2) record shares the client.
    if not any(_oversees(actor, record, other) for other in others):
        raise Conflict("The record is its client's only record; there is nothing to unlink.")
    before = record.client_id
    event = _move(record, store.new_client().id, "steward_unlink", actor)
    for other in others:
        _keep_pair_apart(record.id, other.id, actor)
    _log(
        actor,
        "linkage.unlink",
        record,
        {"from_client": before, "link_event": event.id, "kept_apart_from": [o.id for o in others]},
    )
    db.session.commit()
    return {"record_id": record.id, "client_id": record.client_id, "link_event": event.id}


def _oversees_event(actor: Actor, event: LinkEvent) -> bool:
    """A steward's link or unlink is the steward's matter if its record is, or (a link
    made from the review queue) if the pair it resolved is."""
    record = db.session.get(SourceRecord, event.record_id)
    if _oversees(actor, record):
        return True
    prefix = "review "
    if event.action != "steward_link" or not (event.reason or "").startswith(prefix):
        return False
    item_id = event.reason.removeprefix(prefix)
    item = db.session.get(ReviewItem, int(item_id)) if item_id.isdigit() else None
    return item is not None and _oversees(actor, *_item_records(item))


def undo(actor: Actor, event_id: int) -> dict[str, Any]:
    """Reverse a steward's link or unlink (and the kept-apart pairs an unlink made)."""
    _require_steward(actor, "linkage.undo")
    event = db.session.get(LinkEvent, event_id)
    if (
        event is None
        or event.action not in ("steward_link", "steward_unlink")
        or not _oversees_event(actor, event)
    ):
        raise NotFound(f"No steward link or unlink {event_id} to undo.")
    if db.session.scalar(select(LinkEvent.id).where(LinkEvent.undoes_id == event.id)):
        raise Conflict(f"Link event {event_id} was already undone.")
    record = db.session.get(SourceRecord, event.record_id)
    if record.client_id != event.to_client_id:
        raise Conflict("The record has moved since; undo the later change first.")
    back = _move(record, event.from_client_id, "undo", actor, undoes_id=event.id)
    if event.action == "steward_unlink":
        for other in store.records_by_client([event.from_client_id]).get(event.from_client_id, []):
            low, high = sorted((record.id, other.id))
            db.session.execute(
                KeptApart.__table__.delete().where(
                    KeptApart.record_a_id == low, KeptApart.record_b_id == high
                )
            )
    else:
        item = db.session.scalar(
            select(ReviewItem)
            .where(ReviewItem.record_id == record.id, ReviewItem.status == "linked")
            .order_by(ReviewItem.id.desc())
        )
        if item is not None:
            item.status, item.resolved_by, item.resolved_at = "open", None, None
    _log(actor, "linkage.undo", record, {"undone_event": event.id, "link_event": back.id})
    db.session.commit()
    return {"record_id": record.id, "client_id": record.client_id, "link_event": back.id}
