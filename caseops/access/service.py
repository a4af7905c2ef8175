"""The one entry point for reading client data: ``view_record``. It gathers the facts,
asks ``decision.decide_view``, writes the access-log entry (committed before anything
is decrypted or returned: fail closed), then returns the shown sections.

Also the two ways a worker gains need-to-know: the care team, and break-the-glass.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Row, String, bindparam, cast, exists, or_, select
from sqlalchemy.orm import aliased

from caseops.access.models import BreakGlassGrant, CareTeamMember
from caseops.access.rules import Facts, SectionDecision, SectionFacts, decide_view
from caseops.agencies.models import Agency
from caseops.agreements import service as agreements
from caseops.audit.service import record as audit
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse, require
from caseops.authz.permissions import (
    holds_record,
    knows_client_reads,
    knows_record_reads,
    load_client,
    require_known_client,
)
from caseops.clients.models import Client
from caseops.crypto import keyring_from_config
from caseops.db_types import utcnow
from caseops.errors import NotFound, ValidationFailed
from caseops.extensions import app_config, db
from caseops.matching.models import ClientKeyHold
from caseops.notes import service as notes
from caseops.records.models import SourceRecord
from caseops.records.prepare import data_context
from caseops.referrals import service as referrals
from caseops.referrals.gate import ConsentFacts, RecipientFacts
from caseops.registry import service as consents
from caseops.storage.pipeline import Read, column_rows, prefetch
from caseops.users.models import User
from caseops.vocabulary import CATEGORIES, PURPOSES

WORKER_ROLES = frozenset({"case_worker", "supervisor"})
BREAK_GLASS_MINUTES = 60
MAX_BREAK_GLASS_MINUTES = 240
MIN_JUSTIFICATION = 20


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise ValidationFailed(
            "Unknown purpose.", details={"purpose": [f"One of: {', '.join(PURPOSES)}."]}
        )


def _client_facts():
    """The client, whether the worker is on its care team at ``at``, and the worker's
    break-the-glass grant running at ``at``: one statement, built once (parameters
    ``client_id``, ``user_id``, ``at``), as the view runs it on every request. Columns,
    not entities: read as rows (``column_rows``), at half the CPU of building entities
    nothing changes (issue 20)."""
    grant = aliased(BreakGlassGrant)
    running_grant = (
        select(grant.id)
        .where(
            grant.client_id == bindparam("client_id"),
            grant.user_id == bindparam("user_id"),
            grant.starts_at <= bindparam("at"),
            grant.expires_at > bindparam("at"),
            # a grant held by re-homing (the client was split) opens nothing
            ~exists().where(
                ClientKeyHold.table_name == BreakGlassGrant.__tablename__,
                ClientKeyHold.row_id == cast(grant.id, String),
                ClientKeyHold.resolved_at.is_(None),
            ),
        )
        .order_by(grant.expires_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    on_care_team = exists().where(
        CareTeamMember.client_id == bindparam("client_id"),
        CareTeamMember.user_id == bindparam("user_id"),
        CareTeamMember.starts_at <= bindparam("at"),
        or_(CareTeamMember.ends_at.is_(None), CareTeamMember.ends_at > bindparam("at")),
    )
    # The recipient agency's 42 CFR Part 2 (2024) facts, in the same round trip.
    recipient = aliased(Agency)
    treating_provider, covered_entity = (
        select(column).where(recipient.code == bindparam("agency")).scalar_subquery()
        for column in (recipient.treating_provider, recipient.covered_entity)
    )
    # The worker's agency's referrals of the client that open access now (issue 17): one
    # row per referral of the client addressed to the agency (NULLs when none).
    referral_columns, referral_joins, referral_order = referrals.open_referral_rows(
        Client.id, bindparam("agency")
    )
    statement = (
        select(
            Client.id.label("client_id"),
            on_care_team.label("on_care_team"),
            BreakGlassGrant.id.label("grant_id"),
            BreakGlassGrant.expires_at.label("grant_expires_at"),
            treating_provider.label("treating_provider"),
            covered_entity.label("covered_entity"),
            *referral_columns,
        )
        .select_from(Client)
        .outerjoin(BreakGlassGrant, BreakGlassGrant.id == running_grant)
        .where(Client.id == bindparam("client_id"))
    )
    for target, condition in referral_joins:
        statement = statement.outerjoin(target, condition)
    return statement.order_by(*referral_order)


_CLIENT_FACTS = _client_facts()
# Columns, not entities: the view reads them through the connection (``column_rows``),
# half the CPU of building entities it never changes.
_CLIENT_RECORDS = (
    select(
        SourceRecord.id,
        Agency.code.label("agency_code"),
        Agency.part2_program.label("agency_part2"),
        SourceRecord.category,
        SourceRecord.source_record_id,
        SourceRecord.data_encrypted,
        SourceRecord.updated_at,
    )
    .join(Agency, SourceRecord.agency_id == Agency.id)
    .where(SourceRecord.client_id == bindparam("client_id"), SourceRecord.withdrawn_at.is_(None))
    .order_by(Agency.code, SourceRecord.category, SourceRecord.id)
)
# Workers' notes (issue 18): each a section of its author's agency in its category.
_CLIENT_NOTES = notes.client_notes_statement()
# What the sections' contents are read from, by ``SectionFacts.record_id``: a source
# record's row of ``_CLIENT_RECORDS`` by its integer id, or a note's by its ``nte_`` id.
Contents = dict[int | str, Row | notes.NoteRow]


def fingerprint_reads(actor: Actor, client_id: str, at: datetime) -> list[Read]:
    """The statements ``gather_facts`` runs (the consents, the client with the worker's
    relationship, the records, the notes), for one pipeline; over many clients at once
    for the caseload's marks."""
    params = {"client_id": client_id}
    return [
        *knows_record_reads(client_id),
        (
            _CLIENT_FACTS,
            {"client_id": client_id, "user_id": actor.user_id, "at": at, "agency": actor.agency},
        ),
        (_CLIENT_RECORDS, params),
        (_CLIENT_NOTES, params),
    ]


def view_reads(actor: Actor, client_id: str, at: datetime) -> list[Read]:
    """Every statement a decision on this client reads — ``knows_client``'s, then
    ``gather_facts``' — for one pipeline: on PostgreSQL a view reads in one round trip
    (``caseops.storage.pipeline``), then commits its log entry in a second."""
    return [*knows_client_reads(actor, client_id), *fingerprint_reads(actor, client_id, at)]


class Grant(NamedTuple):
    """The worker's break-the-glass grant running at the decision's instant."""

    id: int
    expires_at: datetime


def gather_facts(
    actor: Actor, client_id: str, at: datetime
) -> tuple[Facts, Grant | None, Contents]:
    """Everything the decision needs, read fresh (never cached past a revocation), and the
    records and notes themselves so shown sections need no second round trip. Four
    queries: the client with the worker's relationship and grant, the records, the notes,
    the consents."""
    rows = column_rows(
        db.session,
        _CLIENT_FACTS,
        {"client_id": client_id, "user_id": actor.user_id, "at": at, "agency": actor.agency},
    )
    if not rows:
        raise NotFound(f"No client {client_id!r}.")
    first = rows[0]
    relationship = first.on_care_team
    treating_provider, covered_entity = first.treating_provider, first.covered_entity
    grant = Grant(first.grant_id, first.grant_expires_at) if first.grant_id is not None else None
    open_referrals = [f for f in map(referrals.referral_facts, rows) if f is not None]
    if actor.user_id is None:
        relationship, grant = False, None
    records: Contents = {
        record.id: record
        for record in column_rows(db.session, _CLIENT_RECORDS, {"client_id": client_id})
    }
    sections = [
        SectionFacts(r.id, r.agency_code, r.agency_part2, r.category) for r in records.values()
    ]
    # A note is a section of its author's agency in its category: decided exactly as a
    # record of that agency in that category (a Part 2 program's note is Part 2).
    for row in notes.note_rows(column_rows(db.session, _CLIENT_NOTES, {"client_id": client_id})):
        records[row.note.id] = row
        sections.append(
            SectionFacts(
                row.note.id, row.note.agency_code, row.agency_part2, row.note.category, "note"
            )
        )
    client_consents = consents.decision_consents(client_id)
    domain_consents, revocations = client_consents.consents, client_consents.revocations
    trust = client_consents.trust
    birth_date = (
        consents.client_birth_date(client_id)
        if any(s.category == "education" for s in sections)
        else None
    )
    referral_categories = (
        referrals.relationship_of(
            actor,
            client_id,
            open_referrals,
            ConsentFacts(
                client_id,
                domain_consents,
                revocations,
                trust,
                birth_date,
                intermediary=app_config().get("CASEOPS_INTERMEDIARY_NAME") or None,
                recipients={
                    actor.agency or "": RecipientFacts(
                        bool(treating_provider), bool(covered_entity)
                    )
                },
            ),
            at,
        )
        if not relationship
        else {}
    )
    facts = Facts(
        client_id=client_id,
        sections=sections,
        consents=domain_consents,
        revocations=revocations,
        birth_date=birth_date,
        relationship=bool(relationship),
        break_glass=grant is not None,
        trust=trust,
        referral_categories=referral_categories,
        intermediary=app_config().get("CASEOPS_INTERMEDIARY_NAME") or None,
        recipient_treating_provider=bool(treating_provider),
        recipient_covered_entity=bool(covered_entity),
        # care team, or an open referral for treatment that gives this worker need to know
        # (42 CFR 2.31(a)(4)(ii)(B): the treating provider relationship, at this instant)
        treating_relationship=bool(relationship)
        or any(
            r.purpose == "treatment" and r.id in referral_categories.values()
            for r in open_referrals
        ),
        # agreements in force and waivers (cached per policy version: no round trip)
        agreements=agreements.for_decision(actor.agency, {s.agency for s in sections}),
    )
    return facts, grant, records


def _known_client_facts(actor: Actor, client_id: str, at: datetime):
    """The view's and the fingerprint poll's common start, in one round trip: the client
    known to the caller or 404 (hidden is unknown), the caller's permissions and the
    refusal of roles that read no records, then ``gather_facts``. Returns the permissions
    and its result."""
    with prefetch(db.session, view_reads(actor, client_id, at)):
        require_known_client(actor, client_id)
        permits = policy.permissions(actor)
        _require_worker(actor, client_id, permits)
        return (permits, *gather_facts(actor, client_id, at))


def _key(decision: SectionDecision) -> str:
    return f"{decision.section.agency}/{decision.section.category}"


def _require_worker(actor: Actor, client_id: str, permits) -> None:
    """Only roles that may read some category ask for a view at all: an administrator or
    privacy officer must not even learn which agencies hold records about a client.

    Asked only after ``load_client``: a client hidden from the caller answers 404 exactly
    as an unknown id does, whatever the caller's role, so the status never tells a hidden
    client from an unknown one; only a client the caller may know of gets this 403."""
    if not any(
        permits(f"record:{c}", "read") or permits(f"record:{c}", "break_glass") for c in CATEGORIES
    ):
        refuse(actor, "client.view", "Your role does not read client records.", client_id=client_id)


def _listed(decisions: list[SectionDecision]) -> list[SectionDecision]:
    """The decisions the answer lists: every record section not hidden, every shown note,
    and withheld notes once per agency and category (a withheld note says only that the
    agency wrote notes in that category, never how many, nor when)."""
    withheld_notes: set[str] = set()
    listed = []
    for d in decisions:
        if d.hidden:
            continue
        if d.section.kind == "note" and not d.shown:
            if _key(d) in withheld_notes:
                continue
            withheld_notes.add(_key(d))
        listed.append(d)
    return listed


def _fingerprint(decisions: list[SectionDecision], records: Contents) -> str:
    """A digest of the listed (not hidden) sections as this caller sees them: what is shown,
    what is withheld and why, and when each shown section last changed. A change to a record
    or note the caller may not see (or may not know of) changes nothing: a withheld note is
    listed once per agency and category, without its id or time."""
    state: list[tuple[Any, ...]] = []
    for d in _listed(decisions):
        content = records[d.section.record_id]
        if isinstance(content, notes.NoteRow):
            state.append(
                (_key(d), "note", d.shown, d.reason)
                + ((content.note.id, content.changed_at.isoformat()) if d.shown else ())
            )
        else:
            state.append(
                (_key(d), d.shown, d.reason, content.updated_at.isoformat() if d.shown else None)
            )
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()


def view_record(
    actor: Actor, client_id: str, purpose: str, at: datetime | None = None
) -> dict[str, Any]:
    """Decide every section, log the decision (fail closed), then disclose what is shown.

    No ``version`` in the answer: the client's version counts every record, hidden ones
    included, so it moved when a Part 2 record the caller may not know of changed. The
    ``fingerprint`` (the one ``view_fingerprint`` polls) is computed from the caller's own
    view instead.

    ``at``, the decision's instant, is now unless the caller read ahead for one (the
    HTTP layer: ``caseops.auth.current.reads_ahead``)."""
    _check_purpose(purpose)
    at = at or utcnow()
    permits, facts, grant, records = _known_client_facts(actor, client_id, at)
    decisions = decide_view(facts, actor.agency or "", permits, purpose, at)
    disclosed = [d for d in decisions if d.shown]
    fingerprint = _fingerprint(decisions, records)
    audit(
        "client.view",
        actor=actor,
        outcome="success" if disclosed else "denied",
        target_type="client",
        target_id=client_id,
        client_id=client_id,
        purpose=purpose,
        detail={
            "requested": [_key(d) for d in decisions],
            "disclosed": [_key(d) for d in disclosed],
            "reasons": {_key(d): d.reason for d in decisions if not d.shown},
            "bases": {_key(d): d.basis for d in disclosed},
            "relationships": {_key(d): d.relationship for d in disclosed if d.relationship},
            "referrals": {_key(d): d.referral_id for d in disclosed if d.referral_id},
            # the notes disclosed within each section (issue 18): ids only, never text
            "notes": _disclosed_notes(disclosed),
            # Sections disclosed under a consent's general designation (42 CFR Part 2, as
            # amended in 2024) and that consent: the 2.24 list is computed from these.
            "designation": {
                _key(d): d.consent_id for d in disclosed if d.designation and d.basis == "consent"
            },
            "consent_ids": sorted({d.consent_id for d in decisions if d.consent_id}),
            # the agreement (or "waived") behind each cross-agency section shown
            "agreements": {_key(d): d.agreement for d in disclosed if d.agreement},
            "policy_version": policy.current_version(),
            "break_glass_grant": grant.id if grant else None,
            # what this worker saw, so the desk can tell "changed since my last view"
            # (caseops.desk) without keeping a table of its own
            "fingerprint": fingerprint,
        },
    )
    return {
        "client_id": client_id,
        "purpose": purpose,
        "fingerprint": fingerprint,
        "break_glass": {"grant_id": grant.id, "expires_at": grant.expires_at} if grant else None,
        "sections": _sections(actor, decisions, records),
    }


def current_fingerprint(actor: Actor, client_id: str, purpose: str, permits, at: datetime) -> str:
    """The fingerprint ``view_record`` would log for this worker now, computed from the
    same decision and not logged: the desk compares it with the one logged at the
    worker's last view. It tells only "something you could already see moved", never
    what (see docs/desk.md for why the caseload logs it once, not per client). The
    caller has already established that the worker knows the client."""
    with prefetch(db.session, fingerprint_reads(actor, client_id, at)):
        facts, _, records = gather_facts(actor, client_id, at)
    decisions = decide_view(facts, actor.agency or "", permits, purpose, at)
    return _fingerprint(decisions, records)


def view_fingerprint(
    actor: Actor, client_id: str, purpose: str, at: datetime | None = None
) -> dict[str, str]:
    """A digest of what this worker's view would show now, for the "updated" notice.

    Computed from the same decision as the view (so a change to a section the worker
    cannot see changes nothing) and logged like any other decision on client data.
    ``at`` as ``view_record``'s.
    """
    _check_purpose(purpose)
    at = at or utcnow()
    permits, facts, _, records = _known_client_facts(actor, client_id, at)
    decisions = [
        d for d in decide_view(facts, actor.agency or "", permits, purpose, at) if not d.hidden
    ]
    audit(
        "client.view_check",
        actor=actor,
        target_type="client",
        target_id=client_id,
        client_id=client_id,
        purpose=purpose,
        detail={"shown": [_key(d) for d in decisions if d.shown]},
    )
    return {"fingerprint": _fingerprint(decisions, records)}


def _disclosed_notes(disclosed: list[SectionDecision]) -> dict[str, list[str]]:
    """``{agency/category: [note ids]}`` of the notes shown: the log names which notes
    left, as the section keys name which sections did."""
    shown: dict[str, list[str]] = {}
    for d in disclosed:
        if d.section.kind == "note":
            shown.setdefault(_key(d), []).append(str(d.section.record_id))
    return shown


def _sections(actor: Actor, decisions: list[SectionDecision], records: Contents) -> list[dict]:
    """The listed sections' answers, decrypted (call only after the log entry is
    committed). Amendments are read for the shown notes alone, in one query."""
    listed = _listed(decisions)
    amendments = notes.amendments_of(
        str(d.section.record_id) for d in listed if d.shown and d.section.kind == "note"
    )
    return [_section(d, records, amendments, actor.agency) for d in listed]


def _section(
    decision: SectionDecision,
    records: Contents,
    amendments: dict[str, list] | None = None,
    viewer_agency: str | None = None,
) -> dict[str, Any]:
    section = decision.section
    out: dict[str, Any] = {"agency": section.agency, "category": section.category}
    if section.kind != "record":  # a record section keeps the shape it always had
        out["kind"] = section.kind
    if not decision.shown:
        return out | {"status": "withheld", "reason": decision.reason}
    content = records[section.record_id]
    if isinstance(content, notes.NoteRow):
        return out | {
            "status": "shown",
            "basis": decision.basis,
            "relationship": decision.relationship,
            "referral_id": decision.referral_id,
            "notice": decision.notice,
            "updated_at": content.changed_at,
            "note": notes.describe(
                content.note, (amendments or {}).get(content.note.id, []), viewer_agency
            ),
        }
    record = content
    keyring = keyring_from_config(app_config())
    data = json.loads(
        keyring.decrypt(
            record.data_encrypted, data_context(section.agency, record.source_record_id)
        )
    )
    return out | {
        "status": "shown",
        "basis": decision.basis,
        "relationship": decision.relationship,
        "referral_id": decision.referral_id,
        "notice": decision.notice,
        "updated_at": record.updated_at,
        "data": data,
    }


# --- need to know ----------------------------------------------------------------------


def _agency_connection(agency: str, client_id: str) -> str | None:
    """Why an agency may put people on this client's care team, if it may: it holds a
    record of the client. An agency holding none gains need-to-know only through an
    accepted referral or break-the-glass (DESIGN.md, "Relationship kinds"); being named
    by a consent is not enough (it was, before referrals: migration 0015 ended those)."""
    if holds_record(agency, client_id):
        return "agency_record"
    return None


def add_care_team_member(
    actor: Actor, client_id: str, username: str, until: datetime | None
) -> CareTeamMember:
    """Put a colleague on the care team: a client hidden from the caller answers 404 as an
    unknown id does, before the role is even asked (see ``_require_worker``)."""
    load_client(actor, client_id)
    require(
        actor,
        "care_team",
        "manage",
        action="care_team.add",
        message="Your role may not manage care teams.",
        client_id=client_id,
    )
    at = utcnow()
    if until is not None and until <= at:
        raise ValidationFailed(
            "Membership must end in the future.", details={"until": ["Must be later than now."]}
        )
    member = db.session.scalar(select(User).where(User.username == username.lower()))
    if member is None or not member.active or member.agency.code != actor.agency:
        raise ValidationFailed(
            "Add an active colleague of your own agency.",
            details={"username": ["No active user of your agency by that name."]},
        )
    if not (policy.roles_of(member.username, member.agency.code) & WORKER_ROLES):
        raise ValidationFailed(
            "Only case workers and supervisors join care teams.",
            details={"username": ["Not a case worker or supervisor."]},
        )
    basis = _agency_connection(actor.agency or "", client_id)
    if basis is None:
        refuse(
            actor,
            "care_team.add",
            "Your agency holds no record of this client: work with them through an accepted "
            "referral, or break the glass in an emergency.",
            reason="no_agency_connection",
            client_id=client_id,
            detail={"member": member.username},
        )
    row = CareTeamMember(
        client_id=client_id,
        user_id=member.id,
        agency_code=member.agency.code,
        starts_at=at,
        ends_at=until,
        added_by=actor.username,
        basis=basis,
    )
    db.session.add(row)
    audit(
        "care_team.added",
        actor=actor,
        target_type="user",
        target_id=member.username,
        client_id=client_id,
        detail={"basis": basis, "until": until.isoformat() if until else None},
        session=db.session,
    )
    db.session.commit()
    return row


def break_glass(
    actor: Actor, client_id: str, justification: str, purpose: str, minutes: int | None
) -> BreakGlassGrant:
    """Open a record in an emergency: time-boxed, justified, flagged for review. A client
    hidden from the caller answers 404 as an unknown id does, before the role is asked."""
    _check_purpose(purpose)
    load_client(actor, client_id)
    require(
        actor,
        "client",
        "break_glass",
        action="client.break_glass",
        message="Your role may not break the glass.",
        client_id=client_id,
    )
    if len(justification.strip()) < MIN_JUSTIFICATION:
        raise ValidationFailed(
            "Say why this is an emergency.",
            details={"justification": [f"At least {MIN_JUSTIFICATION} characters."]},
        )
    at = utcnow()
    lasting = min(minutes or BREAK_GLASS_MINUTES, MAX_BREAK_GLASS_MINUTES)
    expires_at = at + timedelta(minutes=lasting)
    event = audit(
        "client.break_glass",
        actor=actor,
        target_type="client",
        target_id=client_id,
        client_id=client_id,
        purpose=purpose,
        detail={
            "justification": justification.strip(),
            "review_required": True,
            "expires_at": expires_at.isoformat(),
        },
        session=db.session,
    )
    grant = BreakGlassGrant(
        client_id=client_id,
        user_id=actor.user_id,
        username=actor.username,
        agency_code=actor.agency or "",
        justification=justification.strip(),
        purpose=purpose,
        starts_at=at,
        expires_at=expires_at,
        access_event_seq=event.seq,
    )
    db.session.add(grant)
    db.session.commit()
    return grant
