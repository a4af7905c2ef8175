"""Accounting of disclosures (45 CFR 164.528) for one client, from the access log.

A disclosure is a successful ``client.view`` that showed at least one section
contributed by an agency other than the viewer's own: the information left its source
agency. A worker reading their own agency's records is a use, not a disclosure, so such
sections (and views that showed nothing else) are left out.

Each row carries the 164.528(b)(2) elements: the date, the recipient (agency and
person), a description of the information (the disclosed sections as
``agency/category`` -- never their contents) and the purpose, plus the basis the
decision relied on (consent ids or a break-the-glass grant) and the need to know it was
shown under (care team, a referral, which it names, or break-the-glass). The request is logged
before anything is returned.

Scope. The client must be one the officer's agency may know of: any other id answers
exactly like an unknown client (``permissions.load_client``). An officer of one agency
accounts for the disclosures of their agency's records (to any other agency's workers)
and for those to their agency's workers; a row lists only what concerns their agency
(``caseops.audit.scope``). An organisation-wide officer gets every disclosure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from caseops import spreadsheet
from caseops.audit.canonical import iso_utc
from caseops.audit.models import AccessEvent
from caseops.audit.scope import AuditScope
from caseops.audit.service import record
from caseops.audit.trail import authorize
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.extensions import db

CSV_COLUMNS = (
    "date",
    "recipient_agency",
    "recipient_person",
    "description",
    "purpose",
    "basis",
    "consent_ids",
    "break_glass_grant",
    "referral_ids",
    "seq",
)


def _row(event: AccessEvent, scope: AuditScope, consents: set[str]) -> dict[str, Any] | None:
    own = event.actor_agency
    detail = scope.redact_detail(event.detail, own, consents)
    sections = [key for key in detail.get("disclosed") or [] if key.split("/", 1)[0] != own]
    if not sections:
        return None
    bases = detail.get("bases") or {}
    basis = sorted({bases.get(key) or "unknown" for key in sections})
    return {
        "seq": event.seq,
        "date": iso_utc(event.occurred_at),
        "recipient_agency": own,
        "recipient_person": event.actor,
        "description": sections,
        "purpose": event.purpose,
        "basis": basis,
        "consent_ids": list(detail.get("consent_ids") or []),
        "break_glass_grant": detail.get("break_glass_grant"),
        # the need to know each section was shown under: a referral names itself
        "relationship": sorted(
            {(detail.get("relationships") or {}).get(key) or "unknown" for key in sections}
        ),
        "referral_ids": sorted(
            {ref for key in sections if (ref := (detail.get("referrals") or {}).get(key))}
        ),
    }


def accounting(
    actor: Actor,
    client_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    fmt: str = "json",
) -> dict[str, Any]:
    """Disclosures of ``client_id`` in ``[since, until)``, oldest first; logged."""
    scope = authorize(actor, "read", "disclosures")
    permissions.load_client(actor, client_id)
    query = (
        select(AccessEvent)
        .where(
            AccessEvent.client_id == client_id,
            AccessEvent.action == "client.view",
            AccessEvent.outcome == "success",
            scope.events_condition(),
        )
        .order_by(AccessEvent.seq)
    )
    if since is not None:
        query = query.where(AccessEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AccessEvent.occurred_at < until)
    events = list(db.session.scalars(query))
    consents = scope.visible_consents(event.detail for event in events)
    rows = [row for event in events if (row := _row(event, scope, consents)) is not None]
    record(
        "audit.disclosures",
        actor=actor,
        target_type="client",
        target_id=client_id,
        client_id=client_id,
        detail={
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "format": fmt,
            "returned": len(rows),
            "scope": scope.as_dict(),
        },
    )
    return {
        "client_id": client_id,
        "scope": scope.as_dict(),
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "items": rows,
    }


def to_csv(items: list[dict[str, Any]]) -> str:
    """One line per disclosure under a header (``caseops.spreadsheet``: formula-safe)."""
    return spreadsheet.to_csv(CSV_COLUMNS, items)
