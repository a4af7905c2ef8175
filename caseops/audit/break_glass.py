"""The privacy officer's break-the-glass review queue.

Every grant waits in the queue ("open") until a privacy officer acknowledges it (the
emergency was genuine) or escalates it (to be followed up), always with a note. Reviews
are append-only; a grant may collect several. Each grant is listed with the log entries
it produced -- the break-the-glass entry and the views made under it: who, when, which
sections were shown (``agency/category``), never their contents.

Scope. An officer of one agency sees and reviews the grants opened by their agency's
workers and those on clients whose records their agency holds (an emergency opening
exposes them); each grant's events are shown through their agency's eyes
(``caseops.audit.scope``). Reviewing a grant outside that scope answers exactly as an
unknown grant does. An organisation-wide officer sees and reviews every grant.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select

from caseops.access.models import BreakGlassGrant
from caseops.audit.canonical import iso_utc
from caseops.audit.models import REVIEW_DECISIONS, AccessEvent, BreakGlassReview
from caseops.audit.scope import AuditScope
from caseops.audit.service import record
from caseops.audit.trail import authorize
from caseops.authz.actor import Actor
from caseops.db_types import utcnow
from caseops.errors import NotFound, ValidationFailed
from caseops.extensions import db

STATUSES = ("open", "reviewed", "all")
MIN_NOTE = 5
MAX_NOTE = 2000
MAX_GRANTS = 500


def _event(event: AccessEvent, scope: AuditScope, consents: set[str]) -> dict[str, Any]:
    detail = scope.redact_detail(event.detail, event.actor_agency, consents)
    return {
        "seq": event.seq,
        "occurred_at": iso_utc(event.occurred_at),
        "action": event.action,
        "outcome": event.outcome,
        "actor": event.actor,
        "purpose": event.purpose,
        "disclosed": list(detail.get("disclosed") or []),
    }


def _review(review: BreakGlassReview) -> dict[str, Any]:
    return {
        "id": review.id,
        "decision": review.decision,
        "note": review.note,
        "reviewed_by": review.reviewed_by,
        "reviewed_at": iso_utc(review.reviewed_at),
    }


def events_of(grant: BreakGlassGrant) -> list[AccessEvent]:
    """The grant's entries: the break-the-glass entry, then the views made under it."""
    views = db.session.scalars(
        select(AccessEvent)
        .where(
            AccessEvent.client_id == grant.client_id,
            AccessEvent.action == "client.view",
            AccessEvent.actor == grant.username,
            AccessEvent.occurred_at >= grant.starts_at,
        )
        .order_by(AccessEvent.seq)
    )
    events = [e for e in views if (e.detail or {}).get("break_glass_grant") == grant.id]
    if grant.access_event_seq is not None:
        opened = db.session.get(AccessEvent, grant.access_event_seq)
        if opened is not None:
            events.insert(0, opened)
    return events


def in_scope(scope: AuditScope, grants: list[BreakGlassGrant]) -> list[BreakGlassGrant]:
    """Of grants already in ``scope.grants_condition()``, those the scope admits."""
    if scope.organisation:
        return grants
    return [g for g in grants if scope.admits_grant(g.agency_code, events_of(g))]


def _grant(
    grant: BreakGlassGrant, reviews: list[BreakGlassReview], scope: AuditScope
) -> dict[str, Any]:
    events = events_of(grant)
    consents = scope.visible_consents(e.detail for e in events)
    return {
        "id": grant.id,
        "client_id": grant.client_id,
        "username": grant.username,
        "agency": grant.agency_code,
        "justification": grant.justification,
        "purpose": grant.purpose,
        "starts_at": iso_utc(grant.starts_at),
        "expires_at": iso_utc(grant.expires_at),
        "status": "reviewed" if reviews else "open",
        "latest_decision": reviews[-1].decision if reviews else None,
        "events": [_event(e, scope, consents) for e in events],
        "reviews": [_review(r) for r in reviews],
    }


def queue(actor: Actor, status: str = "open") -> dict[str, Any]:
    """Grants by status (``open``: no review yet), oldest first; logged."""
    scope = authorize(actor, "read", "break_glass_queue")
    if status not in STATUSES:
        raise ValidationFailed(
            "Unknown status.", details={"status": [f"One of: {', '.join(STATUSES)}."]}
        )
    reviewed = exists().where(BreakGlassReview.grant_id == BreakGlassGrant.id)
    query = (
        select(BreakGlassGrant)
        .where(scope.grants_condition())
        .order_by(BreakGlassGrant.id)
        .limit(MAX_GRANTS)
    )
    if status == "open":
        query = query.where(~reviewed)
    elif status == "reviewed":
        query = query.where(reviewed)
    grants = in_scope(scope, list(db.session.scalars(query)))
    by_grant: dict[int, list[BreakGlassReview]] = {g.id: [] for g in grants}
    if grants:
        for review in db.session.scalars(
            select(BreakGlassReview)
            .where(BreakGlassReview.grant_id.in_(list(by_grant)))
            .order_by(BreakGlassReview.id)
        ):
            by_grant[review.grant_id].append(review)
    items = [_grant(g, by_grant[g.id], scope) for g in grants]
    record(
        "audit.break_glass_queue",
        actor=actor,
        target_type="break_glass_grant",
        detail={"status": status, "returned": len(items), "scope": scope.as_dict()},
    )
    return {"status": status, "scope": scope.as_dict(), "items": items}


def review(actor: Actor, grant_id: int, decision: str, note: str) -> dict[str, Any]:
    """Acknowledge or escalate a grant with a note; the review and its log entry commit
    together."""
    scope = authorize(actor, "review", "break_glass_review")
    grant = db.session.scalar(
        select(BreakGlassGrant).where(BreakGlassGrant.id == grant_id, scope.grants_condition())
    )
    if grant is None or not in_scope(scope, [grant]):  # unknown or outside: one answer
        raise NotFound(f"No break-the-glass grant {grant_id}.")
    errors: dict[str, list[str]] = {}
    if decision not in REVIEW_DECISIONS:
        errors["decision"] = [f"One of: {', '.join(REVIEW_DECISIONS)}."]
    note = (note or "").strip()
    if not MIN_NOTE <= len(note) <= MAX_NOTE:
        errors["note"] = [f"Between {MIN_NOTE} and {MAX_NOTE} characters."]
    if errors:
        raise ValidationFailed("The review is incomplete.", details=errors)
    event = record(
        "audit.break_glass_review",
        actor=actor,
        target_type="break_glass_grant",
        target_id=str(grant.id),
        client_id=grant.client_id,
        detail={"grant_id": grant.id, "decision": decision, "note": note},
        session=db.session,
    )
    row = BreakGlassReview(
        grant_id=grant.id,
        decision=decision,
        note=note,
        reviewed_by=actor.username,
        reviewed_at=utcnow(),
        access_event_seq=event.seq,
    )
    db.session.add(row)
    db.session.commit()
    return _grant(
        grant,
        list(
            db.session.scalars(
                select(BreakGlassReview)
                .where(BreakGlassReview.grant_id == grant.id)
                .order_by(BreakGlassReview.id)
            )
        ),
        scope,
    )
