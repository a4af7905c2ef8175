"""What each persona's home page shows: what needs them now.

Each panel comes from the service that owns the data, with the same checks and log
entries as its own page (the caseload logs ``desk.caseload``, incoming referrals
``referral.list``, tasks ``task.list``, the break-the-glass queue and the activity
report their own entries), so a home page discloses nothing the person's own pages would
not, and every disclosure on it is logged the same way. A panel a person's roles do not
open is simply absent (``None``), never an error.

The one query that lives here, recent revocations, shows a consent officer the consents
they may already know of (``registry.service.visible_rows``), as the consents page does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from caseops.audit import break_glass
from caseops.audit.activity import activity
from caseops.audit.service import record as audit
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.clients import service as clients
from caseops.db_types import utcnow
from caseops.desk import service as desk
from caseops.events import service as events
from caseops.extensions import db
from caseops.referrals import pages_support
from caseops.referrals import service as referrals
from caseops.registry import service as consents
from caseops.registry.models import ConsentRecord, ConsentRevocation
from caseops.tasks import service as tasks
from caseops.users import service as users

EXPIRING_DAYS = 30
REVOCATION_DAYS = 30
ACTIVITY_DAYS = 7
NOTIFICATIONS_SHOWN = 10
MAX_ROWS = 50


@dataclass
class Desk:
    """The panels of one home page; ``None``: not for this person."""

    caseload: list[dict[str, Any]] | None = None
    names: dict[str, str] = field(default_factory=dict)  # client id -> name, from caseloads
    people: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> name, birth date
    incoming: list[dict[str, Any]] | None = None
    tasks: list[dict[str, Any]] | None = None
    notifications: list[dict[str, Any]] | None = None
    agency_caseload: dict[str, list[dict[str, Any]]] | None = None  # worker -> clients
    unassigned: list[dict[str, Any]] | None = None
    assignable: list[str] = field(default_factory=list)
    to_attest: list[dict[str, Any]] | None = None
    expiring: list[dict[str, Any]] | None = None
    revocations: list[dict[str, Any]] | None = None
    break_glass: list[dict[str, Any]] | None = None
    flags: list[dict[str, Any]] | None = None
    found: list[dict[str, Any]] | None = None  # a privacy officer's client search
    locked: list[dict[str, Any]] | None = None
    pending: list[dict[str, Any]] | None = None


def _worker(actor: Actor, out: Desk) -> None:
    out.caseload = desk.caseload(actor)
    out.names.update({e["client_id"]: e["name"] for e in out.caseload})
    # requested and open referrals the person sees on the recipient side (a case worker:
    # assigned to them), newest first
    out.incoming = referrals.list_referrals(actor, "incoming", "open", limit=MAX_ROWS)
    out.tasks = tasks.my_tasks(actor, "open")


def _supervisor(actor: Actor, out: Desk) -> None:
    by_worker: dict[str, list[dict[str, Any]]] = {}
    for entry in desk.agency_caseload(actor):
        by_worker.setdefault(entry["worker"] or "", []).append(entry)
        out.names.setdefault(entry["client_id"], entry["name"])
    out.agency_caseload = by_worker
    incoming = out.incoming or []
    out.unassigned = [r for r in incoming if r["assigned_to"] is None and r["may_assign"]]
    out.assignable = pages_support.assignable_workers(actor)


def _consent_officer(actor: Actor, out: Desk) -> None:
    if permissions.may(actor, "consents", "attest"):
        out.to_attest = consents.attestation_queue(actor)[:MAX_ROWS]
    out.expiring = consents.expiring(actor, EXPIRING_DAYS)[:MAX_ROWS]
    out.revocations = recent_revocations(actor, REVOCATION_DAYS)
    people = name_clients(
        actor,
        [*(out.to_attest or []), *out.expiring, *out.revocations],
        ["consents_to_attest", "consents_expiring", "consents_revoked"],
    )
    out.people = people


def name_clients(
    actor: Actor, rows: list[dict[str, Any]], listings: list[str]
) -> dict[str, dict[str, Any]]:
    """client id -> {name, birth date} for the clients of ``rows`` (described consents),
    so a consent officer's lists say whose consent it is instead of a bare id.

    The minimal demographics the caseload and search show (``desk.minimal_demographics``:
    only from a record that may make the client known to the officer, so a client named
    only in another program's Part 2 record stays unnamed). The lists hold only consents
    of clients the officer may know of (``registry.service``); naming them discloses what
    a search's answer does, so it is logged once per page as ``consent.clients_named``
    (its own action, as the caseload's ``desk.caseload``: a privacy officer filtering the
    log can tell an officer's lists from searches they typed), with the lists and every
    client named."""
    people = desk.minimal_demographics(actor, {row["client_id"] for row in rows})
    if people:
        audit(
            "consent.clients_named",
            actor=actor,
            detail={"lists": sorted(listings), "result_client_ids": sorted(people)},
        )
    return people


def recent_revocations(actor: Actor, days: int) -> list[dict[str, Any]]:
    """Consents revoked in the last ``days`` that the officer may know of, newest first
    (each as ``registry.service.describe`` shows it, with its revocation)."""
    since = utcnow() - timedelta(days=days)
    client_ids = db.session.scalars(
        select(ConsentRecord.client_id)
        .join(ConsentRevocation, ConsentRevocation.consent_id == ConsentRecord.id)
        .where(ConsentRevocation.revoked_at >= since)
        .distinct()
    ).all()
    now = utcnow()
    out = []
    for client_id in client_ids:
        if not permissions.knows_client(actor, client_id):
            continue
        data = consents.consents_of(client_id)
        seen = consents.visible_rows(actor, data.rows)
        ids = {r.id for r in seen}
        visible = replace(
            data,
            rows=seen,
            revocations=[r for r in data.revocations if r.consent_id in ids],
            attestations=[a for a in data.attestations if a.consent_id in ids],
        )
        for row in seen:
            described = consents.describe(row, visible, now)
            revocation = described["revocation"]
            if revocation is not None and revocation.revoked_at >= since:
                out.append(described)
    out.sort(key=lambda c: c["revocation"].revoked_at, reverse=True)
    return out[:MAX_ROWS]


def _privacy_officer(actor: Actor, out: Desk) -> None:
    out.break_glass = break_glass.queue(actor, "open")["items"][:MAX_ROWS]
    report = activity(actor, utcnow() - timedelta(days=ACTIVITY_DAYS), None)
    out.flags = report["flags"][:MAX_ROWS]


def _admin(actor: Actor, out: Desk) -> None:
    listed = [users.describe(u) for u in users.list_users(actor)]
    now = utcnow()
    out.locked = [u for u in listed if u["locked_until"] is not None and u["locked_until"] > now]
    out.pending = [u for u in listed if u["pending_roles"]]


def search(actor: Actor, q: str | None, birth_date) -> list[dict[str, Any]]:
    """The privacy officer's client search: the same search, logged the same way."""
    return clients.search(actor, q, birth_date)


def notifications(actor: Actor) -> list[dict[str, Any]]:
    """The newest notifications, newest first (ids and kinds; the page names clients only
    from what the caseload already named). Read last: the events service releases the
    database session when it is done."""
    found = events.notifications(actor, 0, events.MAX_LIMIT)
    return list(reversed(found[-NOTIFICATIONS_SHOWN:]))


def desk_of(actor: Actor) -> Desk:
    """Every panel this person's roles open."""
    out = Desk()
    roles = actor.roles
    if roles & desk.WORKERS and actor.user_id is not None:
        _worker(actor, out)
        if desk.SUPERVISOR in roles:
            _supervisor(actor, out)
    if "consent_officer" in roles:
        _consent_officer(actor, out)
    if "privacy_officer" in roles:
        _privacy_officer(actor, out)
    if roles & {"system_admin", "agency_admin"}:
        _admin(actor, out)
    if roles & desk.WORKERS and actor.user_id is not None:
        out.notifications = notifications(actor)
    return out
