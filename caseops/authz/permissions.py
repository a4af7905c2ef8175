"""Predicates: *may* this actor do this, *does* this actor know of that? (answers only).

Everything that checks an agency boundary asks here; ``caseops.authz.guard`` holds the
functions that refuse (and log the refusal) on a false answer. Keeping the questions apart
from the refusals (as redash's ``permissions.py`` does) lets a page ask "may I show this
button?" with the very predicate the service enforces.

Scopes. A privacy officer, data steward or consent officer oversees their own agency; an
explicit policy rule ``p, <role>, <agency>, scope:organisation, <area>, allow`` (the
operator's compliance function, under its service agreement with the agencies) widens one
area (``audit``, ``linkage``, ``consents``) to the whole organisation.

Knowing of a client. A client is *known* to an agency when search could find it for them:
one of its records is not 42 CFR Part 2 data, or is the agency's own, or an active consent
names the agency as a recipient of that Part 2 source. A client not known to the caller
answers every endpoint exactly as an unknown id does (``load_client``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

import consent
from caseops.agencies.models import Agency
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.clients.models import Client
from caseops.db_types import utcnow
from caseops.errors import NotFound
from caseops.extensions import db
from caseops.records.models import SourceRecord
from caseops.storage.pipeline import column_rows
from caseops.vocabulary import PART2_CATEGORY

ORGANISATION_SCOPE = "scope:organisation"
OVERSIGHT_AREAS = ("audit", "linkage", "consents")


def may(actor: Actor, obj: str, act: str) -> bool:
    """The role policy alone (Casbin, the actor's roles in force in their agency)."""
    return actor.is_operator or policy.allowed(actor, obj, act)


def has_organisation_scope(actor: Actor, area: str) -> bool:
    """Whether the actor oversees ``area`` for every agency, not only their own."""
    if area not in OVERSIGHT_AREAS:
        raise ValueError(f"unknown oversight area {area!r}")
    return actor.is_operator or policy.allowed(actor, ORGANISATION_SCOPE, area)


def oversees_agency(actor: Actor, area: str, agency_code: str | None) -> bool:
    """Whether matters of ``agency_code`` fall within the actor's oversight of ``area``."""
    if has_organisation_scope(actor, area):
        return True
    return agency_code is not None and agency_code == actor.agency


def may_manage_users_of(actor: Actor, agency_code: str) -> bool:
    """System administrators manage every agency's users, agency administrators their own."""
    if actor.is_operator or policy.allowed(actor, "admin:users:any", "manage"):
        return True
    return agency_code == actor.agency and policy.allowed(actor, "admin:users:own", "manage")


def _part2(agency_part2: bool, category: str) -> bool:
    return agency_part2 or category == PART2_CATEGORY


def _named_by_active_consent(
    client_id: str, agency: str, sources: set[tuple[str, bool, str]], at: datetime
) -> bool:
    """Whether an active permit names ``agency`` explicitly as a recipient of one of the
    (source agency, source is a Part 2 program, category) records, and that source stood
    behind it (recorded or attested it): the only way another agency learns of a Part 2
    record. A consent the program never stood behind reveals nothing of it."""
    from caseops.registry.service import decision_consents  # the registry sits above authz

    data = decision_consents(client_id)
    domain, revocations, trust = data.consents, data.revocations, data.trust
    for item in domain:
        if item.provision is not consent.Provision.PERMIT or agency not in item.recipients:
            continue
        status = consent.status_at(item, at, revocations=revocations, successors=domain)
        if status is not consent.Status.ACTIVE:
            continue
        purpose = min(item.purposes - {consent.ANY}, default="care_coordination")
        for source, source_part2, category in sources:
            request = consent.AccessRequest(
                client_id=client_id,
                source_agency=source,
                source_is_part2_program=source_part2,
                category=category,
                recipient_agency=agency,
                purpose=purpose,
                at=at,
            )
            if consent.covers(item, request) and consent.stood_behind(
                item, request, consents=domain, revocations=revocations, trust=trust
            ):
                return True
    return False


def holds_record(agency: str, client_id: str) -> bool:
    """Whether ``agency`` holds a current record of the client: the first way an agency
    serves a client (care teams, recording consents)."""
    return (
        db.session.scalar(
            select(SourceRecord.id)
            .join(Agency, SourceRecord.agency_id == Agency.id)
            .where(
                SourceRecord.client_id == client_id,
                SourceRecord.withdrawn_at.is_(None),
                Agency.code == agency,
            )
            .limit(1)
        )
        is not None
    )


# What ``load_client`` reads (parameter ``client_id``), as statements a hot path can send
# ahead in one pipeline (``caseops.storage.pipeline``): every record of the client,
# withdrawn ones included, by agency and category; and the client row.
KNOWN_RECORDS_QUERY = (
    select(Agency.code, Agency.part2_program, SourceRecord.category)
    .join(Agency, SourceRecord.agency_id == Agency.id)
    .where(SourceRecord.client_id == bindparam("client_id"))
)
CLIENT_QUERY = select(Client).where(Client.id == bindparam("client_id"))


def _knows_every_client(actor: Actor) -> bool:
    """Operators and organisation-wide auditors may know of every client that exists."""
    return actor.is_operator or has_organisation_scope(actor, "audit")


def knows_client_reads(actor: Actor, client_id: str) -> list[tuple[Any, dict[str, Any]]]:
    """The read ``knows_client(actor, client_id)`` starts with, for a hot path's pipeline:
    the client row for those who know every client, else the client's records by agency;
    with ``knows_record_reads`` when a hidden record may need consents."""
    query = CLIENT_QUERY if _knows_every_client(actor) else KNOWN_RECORDS_QUERY
    return [(query, {"client_id": client_id})]


def knows_record_reads(client_id: str) -> list[tuple[Any, dict[str, Any]]]:
    """The reads ``knows_record`` (and ``knows_client``) may need for one client: its
    consents (for a hot path's pipeline: search reads those of every hit it cannot
    decide without them at once)."""
    from caseops.registry.service import consent_reads  # the registry sits above authz

    return consent_reads(client_id)


def knows_client(actor: Actor, client_id: str, *, at: datetime | None = None) -> bool:
    """Whether the client's existence may be acknowledged to the actor (see module doc).

    Unknown ids answer False too, so callers need not tell the two apart (and must not).
    Withdrawn records count: a client once known stays known, a Part 2 record that was
    withdrawn never reveals its program.
    """
    if _knows_every_client(actor):
        return db.session.scalar(CLIENT_QUERY, {"client_id": client_id}) is not None
    rows = column_rows(db.session, KNOWN_RECORDS_QUERY, {"client_id": client_id})
    hidden: set[tuple[str, bool, str]] = set()
    for agency, agency_part2, category in rows:
        if agency == actor.agency or not _part2(agency_part2, category):
            return True
        hidden.add((agency, agency_part2, category))
    if not hidden or actor.agency is None:
        return False
    return _named_by_active_consent(client_id, actor.agency, hidden, at or utcnow())


def client_not_found(client_id: str) -> NotFound:
    """The one answer for an unknown client and for a client hidden from the caller."""
    return NotFound(f"No client {client_id!r}.")


def require_known_client(actor: Actor, client_id: str) -> None:
    """``load_client``'s refusal without loading the client: for a hot path that reads
    what it needs of the client itself (the record view)."""
    if not knows_client(actor, client_id):
        raise client_not_found(client_id)


def load_client(actor: Actor, client_id: str) -> Client:
    """Load-or-404 in one call (aleph's ``get_db_collection``): the client, if the actor may
    know of it; else exactly the answer an unknown id gets."""
    if not knows_client(actor, client_id):
        raise client_not_found(client_id)
    client = db.session.scalar(CLIENT_QUERY, {"client_id": client_id})
    if client is None:  # pragma: no cover - knows_client answered for an existing row
        raise client_not_found(client_id)
    return client


# --- hidden is unknown: one record at a time (search, the review queue) --------------------


def is_part2_record(agency_part2: bool, category: str) -> bool:
    """Whether a record is 42 CFR Part 2 data: any record of a Part 2 program, and
    substance-use data wherever it is held. Its very existence is sensitive."""
    return _part2(agency_part2, category)


def knows_record(
    actor: Actor,
    client_id: str,
    agency_code: str,
    agency_part2: bool,
    category: str,
    *,
    at: datetime | None = None,
) -> bool:
    """Whether this one record may make its client known to the actor: the per-record rule
    behind ``knows_client`` (a client is known iff one of its records is), so that search,
    which finds clients through single records, finds exactly the clients the actor knows."""
    if actor.is_operator or has_organisation_scope(actor, "audit"):
        return True
    if agency_code == actor.agency or not _part2(agency_part2, category):
        return True
    if actor.agency is None:
        return False
    return _named_by_active_consent(
        client_id, actor.agency, {(agency_code, agency_part2, category)}, at or utcnow()
    )


def oversees_linkage_of(actor: Actor, sides: list[tuple[str, bool, str]]) -> bool:
    """Whether a data steward may see and act on a linkage matter touching these records
    (``(agency code, agency is a Part 2 program, category)`` each): organisation-wide
    stewards always; otherwise only if one record is their agency's and no record is
    another agency's Part 2 record (a Part 2 record is shown only to the program's own
    steward: even a masked one would tell the steward that a person resembling their
    client is a Part 2 patient)."""
    if has_organisation_scope(actor, "linkage"):
        return True
    if actor.agency is None or not any(agency == actor.agency for agency, _, _ in sides):
        return False
    return not any(
        agency != actor.agency and _part2(part2, category) for agency, part2, category in sides
    )
