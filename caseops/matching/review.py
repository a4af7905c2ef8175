"""The review queue as a steward's tool: the pairs that change most first, each with
its agreement field by field, decided one at a time or in a batch.

Scoping, refusals and the decisions themselves are the review queue's own
(caseops.clients.service): a pair outside the steward's scope is neither listed nor
counted, and deciding it answers as an unknown id. What this adds:

* **order**: by how much a decision would change, the records the two clients hold
  together (merging two clients of five records each before two single records), then
  by the current model's probability; the sizes decide the order only and are never
  shown (a count would tell of records the steward may not know of);
* **agreement per field**: the comparison level of each field (``exact``, ``typo``,
  ``transposed``, ``disagree``, missing), which says why the pair is in doubt without
  another agency's values;
* **batch decisions**: up to ``MAX_BATCH`` links and keep-aparts in one request, each
  applied and logged as if made alone, each answered on its own;
* **size**: the number of open pairs in scope, for the steward's home page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from caseops.agencies.models import Agency
from caseops.authz.actor import Actor
from caseops.clients.models import ReviewItem
from caseops.errors import Conflict, NotFound
from caseops.extensions import db
from caseops.matching import training
from caseops.matching.engine import FIELDS, compare, normalize_person
from caseops.records.models import SourceRecord
from caseops.storage.dialect import batches

MAX_BATCH = 100


def _client_sizes(client_ids: Iterable[str]) -> Counter[str]:
    sizes: Counter[str] = Counter()
    for part in batches(set(client_ids)):
        query = (
            select(SourceRecord.client_id, func.count())
            .where(SourceRecord.client_id.in_(part), SourceRecord.withdrawn_at.is_(None))
            .group_by(SourceRecord.client_id)
        )
        for client_id, count in db.session.execute(query):
            sizes[client_id] = count
    return sizes


def agreement(record: Mapping[str, Any], candidate: Mapping[str, Any]) -> dict[str, str | None]:
    """The comparison level of every field of two persons (None: missing on a side)."""
    levels = compare(normalize_person(record), normalize_person(candidate)).levels
    return {name: levels[name] for name in FIELDS}


def ranked_queue(actor: Actor, limit: int | None = None) -> list[dict[str, Any]]:
    """The open pairs in the steward's scope, biggest change first (module doc)."""
    from caseops.clients import service

    items = service.review_queue(actor, "open")
    sizes = _client_sizes(
        side["client_id"] for item in items for side in (item["record"], item["candidate"])
    )
    model = training.current_model()
    for item in items:
        item["agreement"] = agreement(item["record"]["person"], item["candidate"]["person"])
        item["probability"] = model.probability(item["score"])
        item["_impact"] = sizes[item["record"]["client_id"]] + sizes[item["candidate"]["client_id"]]
    items.sort(key=lambda i: (-i["_impact"], -(i["score"] or 0.0), i["id"]))
    for rank, item in enumerate(items, start=1):
        item["rank"] = rank
        del item["_impact"]
    return items[:limit] if limit else items


def queue_size(actor: Actor) -> int:
    """Open pairs in the steward's scope (what the home page shows), counted without
    decrypting anyone; 0 for anyone who may not work the queue."""
    from caseops.authz import permissions

    if actor is None or not permissions.may(actor, "linkage", "manage"):
        return 0
    record, candidate = aliased(SourceRecord), aliased(SourceRecord)
    record_agency, candidate_agency = aliased(Agency), aliased(Agency)
    query = (
        select(
            record_agency.code,
            record_agency.part2_program,
            record.category,
            candidate_agency.code,
            candidate_agency.part2_program,
            candidate.category,
        )
        .select_from(ReviewItem)
        .join(record, record.id == ReviewItem.record_id)
        .join(record_agency, record_agency.id == record.agency_id)
        .join(candidate, candidate.id == ReviewItem.candidate_record_id)
        .join(candidate_agency, candidate_agency.id == candidate.agency_id)
        .where(ReviewItem.status == "open")
    )
    return sum(
        permissions.oversees_linkage_of(actor, [tuple(sides[:3]), tuple(sides[3:])])
        for sides in db.session.execute(query)
    )


def decide_batch(actor: Actor, decisions: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Apply each decision as if made alone (its own transaction and log entry); an item
    outside the steward's scope answers 404 as an unknown one, a decided one 409."""
    from caseops.clients import service

    if len(decisions) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} decisions at a time")
    results = []
    for decision in decisions:
        item_id = decision["item_id"]
        act = (
            service.resolve_link if decision["decision"] == "link" else (service.resolve_keep_apart)
        )
        try:
            done = act(actor, item_id)
        except NotFound as error:
            db.session.rollback()
            results.append({"item_id": item_id, "status": 404, "message": str(error)})
        except Conflict as error:
            db.session.rollback()
            results.append({"item_id": item_id, "status": 409, "message": str(error)})
        else:
            results.append(
                {"item_id": item_id, "status": 200, "outcome": done["status"]}
                | ({"link_event": done["link_event"]} if "link_event" in done else {})
            )
    return results
