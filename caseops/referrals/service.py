"""Referrals: create, send (through the consent gate), move, assign, read, list.

Services take the acting user (``Actor``) and never touch the request. Who sees a
referral, and from which side:

* the **sending side**: the sending agency's case workers and supervisors (the agency's
  own coordination data) and its integration account; moves are made by the sending
  worker, a supervisor or the integration account;
* the **recipient side**: the recipient agency's supervisors, the worker the referral is
  assigned to, and its integration account; never before the referral is sent;
* **anyone else**, including the recipient agency's other workers: the referral does not
  exist (404, exactly as an unknown id).

Neither side learns the other agency's user names (users are hidden across agencies), and
when the recipient is a 42 CFR Part 2 program its reasons and outcome are Part 2
information: the sender sees them only under a consent from the program naming the
sender's agency, and otherwise only whether the referral is open or closed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from caseops.access.models import CareTeamMember
from caseops.agencies.models import Agency
from caseops.agreements import service as agreements
from caseops.audit.service import record as audit
from caseops.authz import permissions, policy
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse, require
from caseops.authz.permissions import load_client
from caseops.clients.models import Client
from caseops.crypto import keyring_from_config
from caseops.db_types import utcnow
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.matching import rehoming
from caseops.matching.models import ClientKeyHold
from caseops.records.models import SourceRecord
from caseops.referrals import gate, machine
from caseops.referrals.machine import Side, Status
from caseops.referrals.models import Referral, ReferralMove
from caseops.registry import service as consents
from caseops.storage.pipeline import column_rows
from caseops.users.models import User
from caseops.vocabulary import CATEGORIES, PURPOSES, SERVICES, URGENCIES

WORKERS = frozenset({"case_worker", "supervisor"})
SUPERVISOR = "supervisor"
INTEGRATION = "integration"
MAX_NOTE = 4000
MAX_WORDS = 2000  # a reason or an outcome
CLOSED = "closed"  # what the sender sees of a Part 2 program's closing, without consent
OPEN = "open"


def referral_not_found(referral_id: str) -> NotFound:
    """The one answer for an unknown referral and one hidden from the caller."""
    return NotFound(f"No referral {referral_id!r}.")


# --- encryption of free text --------------------------------------------------------------


def _seal(text: str | None, referral_id: str, field: str) -> str | None:
    if text is None or not text.strip():
        return None
    keyring = keyring_from_config(current_app.config)
    return keyring.encrypt(text.strip().encode(), f"referral:{referral_id}:{field}")


def _open(token: str | None, referral_id: str, field: str) -> str | None:
    if token is None:
        return None
    keyring = keyring_from_config(current_app.config)
    return keyring.decrypt(token, f"referral:{referral_id}:{field}").decode()


# --- reading the current state ------------------------------------------------------------


def _history(referral_id: str) -> list[ReferralMove]:
    return list(
        db.session.scalars(
            select(ReferralMove)
            .where(ReferralMove.referral_id == referral_id)
            .order_by(ReferralMove.seq)
        )
    )


@dataclass(frozen=True)
class Standing:
    """A referral as one caller stands to it."""

    referral: Referral
    history: list[ReferralMove]
    side: Side

    @property
    def last(self) -> ReferralMove:
        return self.history[-1]

    @property
    def state(self) -> Status:
        return Status(self.last.to_status)

    @property
    def assigned_to(self) -> str | None:
        return self.last.assigned_to


def _is(actor: Actor, role: str) -> bool:
    return role in actor.roles


def _side_of(actor: Actor, referral: Referral, state: Status, assigned: str | None) -> Side | None:
    """The side the actor stands on, if the actor may see the referral at all."""
    if actor.agency is None:
        return None
    if actor.agency == referral.from_agency and (actor.roles & (WORKERS | {INTEGRATION})):
        return Side.SENDER
    if actor.agency == referral.to_agency and state is not Status.DRAFT:
        if _is(actor, SUPERVISOR) or _is(actor, INTEGRATION):
            return Side.RECIPIENT
        if assigned is not None and assigned == actor.username and _is(actor, "case_worker"):
            return Side.RECIPIENT
    return None


def load_referral(actor: Actor, referral_id: str) -> Standing:
    """Load-or-404 and authorize in one call: the referral as the actor stands to it, or
    exactly the answer an unknown id gets."""
    referral = db.session.get(Referral, referral_id)
    if referral is None:
        raise referral_not_found(referral_id)
    history = _history(referral_id)
    last = history[-1]
    side = _side_of(actor, referral, Status(last.to_status), last.assigned_to)
    if side is None:
        raise referral_not_found(referral_id)
    return Standing(referral, history, side)


# --- facts for the gate and the view -----------------------------------------------------


def _agency_part2(*codes: str) -> dict[str, bool]:
    """Which of these agencies are 42 CFR Part 2 programs."""
    query = select(Agency.code, Agency.part2_program).where(Agency.code.in_(codes))
    return {code: part2 for code, part2 in db.session.execute(query)}


def _consent_facts(
    client_id: str, categories: Iterable[str] = (), recipients: Iterable[str] = ()
) -> gate.ConsentFacts:
    """The client's consents, read fresh; the birth date only when an education category
    is in question (the FERPA signer rule is the only one that needs it); this
    deployment's intermediary name and the ``recipients``' Part 2 (2024) facts, for
    consents that designate their recipients generally."""
    data = consents.consents_of(client_id)
    domain, revocations = data.domain
    wanted = sorted(set(recipients))
    facts = (
        {
            code: gate.RecipientFacts(bool(treating), bool(covered))
            for code, treating, covered in db.session.execute(
                select(Agency.code, Agency.treating_provider, Agency.covered_entity).where(
                    Agency.code.in_(wanted)
                )
            )
        }
        if wanted
        else {}
    )
    return gate.ConsentFacts(
        client_id=client_id,
        consents=domain,
        revocations=revocations,
        trust=data.trust,
        birth_date=consents.client_birth_date(client_id) if "education" in categories else None,
        intermediary=current_app.config.get("CASEOPS_INTERMEDIARY_NAME") or None,
        recipients=facts,
    )


def _sources(actor: Actor, client_id: str, at: datetime) -> list[gate.Source]:
    rows = db.session.execute(
        select(Agency.code, Agency.part2_program, SourceRecord.category)
        .join(Agency, SourceRecord.agency_id == Agency.id)
        .where(SourceRecord.client_id == client_id, SourceRecord.withdrawn_at.is_(None))
        .distinct()
    ).all()
    return [
        gate.Source(
            agency=code,
            part2_program=part2,
            category=category,
            known_to_sender=permissions.knows_record(
                actor, client_id, code, part2, category, at=at
            ),
        )
        for code, part2, category in rows
    ]


def _has_relationship(actor: Actor, client_id: str, at: datetime) -> bool:
    """Care team now, or an open referral addressed to the actor for this client."""
    on_team = db.session.scalar(
        select(CareTeamMember.id)
        .where(
            CareTeamMember.client_id == client_id,
            CareTeamMember.user_id == actor.user_id,
            CareTeamMember.starts_at <= at,
            (CareTeamMember.ends_at.is_(None)) | (CareTeamMember.ends_at > at),
        )
        .limit(1)
    )
    return on_team is not None or bool(referral_access(actor, client_id, at))


def _last_move_of_referral():
    """A correlated condition: the move is its referral's last (its current state and
    assignee), found through the ``(referral_id, seq)`` key, per referral the outer query
    has already narrowed to (never a scan of every referral's history)."""
    inner = aliased(ReferralMove)
    return ReferralMove.seq == (
        select(func.max(inner.seq))
        .where(inner.referral_id == ReferralMove.referral_id)
        .correlate(ReferralMove)
        .scalar_subquery()
    )


def referral_facts(row: Any) -> gate.ReferralFacts | None:
    """One referral as ``gate.referral_relationship`` reads it, from a row of
    ``open_referral_rows``' columns; None for a row that holds no referral opening access
    (the outer joins' NULLs)."""
    if row.referral_id is None or row.referral_state is None:
        return None
    return gate.ReferralFacts(
        id=row.referral_id,
        from_agency=row.referral_from_agency,
        from_part2=bool(row.referral_from_part2),
        to_agency=row.referral_to_agency,
        service_category=SERVICES[row.referral_service_code][1],
        purpose=row.referral_purpose,
        shared=tuple(row.referral_shared_categories),
        state=row.referral_state,
        assigned_to=row.referral_assigned_to,
    )


def relationship_of(
    actor: Actor,
    client_id: str,
    open_referrals: list[gate.ReferralFacts],
    facts: gate.ConsentFacts | None,
    at: datetime,
) -> dict[str, str]:
    """The ``referral`` relationship (``gate.referral_relationship``) of the actor to the
    client, from referrals already read (the record view reads them in its first
    statement): category -> referral id."""
    if not open_referrals or actor.agency is None or actor.user_id is None:
        return {}
    categories = [r.service_category for r in open_referrals]
    if facts is None:
        facts = _consent_facts(client_id, categories, [actor.agency])
    elif facts.birth_date is None and "education" in categories:
        facts = replace(facts, birth_date=consents.client_birth_date(client_id))
    reader = gate.Reader(actor.agency, actor.username, _is(actor, SUPERVISOR))
    return gate.referral_relationship(open_referrals, reader, facts, at)


def open_referral_rows(client_id_column, agency_param):
    """For a statement about one client: outer joins that add each referral of the client
    addressed to ``agency_param`` with its current state when that state opens access
    (else NULLs), and whether its sender is a Part 2 program; and the order (oldest
    first, so the oldest referral is named as the basis of a category two share). Used by
    the record view's first statement, so the referral relationship costs no round trip of
    its own."""
    sender = aliased(Agency)
    held = exists().where(
        ClientKeyHold.table_name == Referral.__tablename__,
        ClientKeyHold.row_id == Referral.id,
        ClientKeyHold.resolved_at.is_(None),
    )
    return (
        (
            # columns, not the entity: the view reads them as rows (issue 20)
            Referral.id.label("referral_id"),
            Referral.from_agency.label("referral_from_agency"),
            Referral.to_agency.label("referral_to_agency"),
            Referral.service_code.label("referral_service_code"),
            Referral.purpose.label("referral_purpose"),
            Referral.shared_categories.label("referral_shared_categories"),
            ReferralMove.to_status.label("referral_state"),
            ReferralMove.assigned_to.label("referral_assigned_to"),
            sender.part2_program.label("referral_from_part2"),
        ),
        [
            (
                Referral,
                (Referral.client_id == client_id_column) & (Referral.to_agency == agency_param),
            ),
            (
                ReferralMove,
                (ReferralMove.referral_id == Referral.id)
                & _last_move_of_referral()
                & ReferralMove.to_status.in_([s.value for s in machine.OPENS_ACCESS])
                # a referral held by re-homing (its records went to another client, or to
                # two) opens nothing until a steward decides whose it is
                & ~held,
            ),
            (sender, sender.code == Referral.from_agency),
        ],
        (Referral.created_at, Referral.id),
    )


def referral_access(
    actor: Actor, client_id: str, at: datetime, facts: gate.ConsentFacts | None = None
) -> dict[str, str]:
    """The ``referral`` relationship of the actor to the client, read fresh (no cache), so
    a move, a revocation or an expiry ends it on the next request, in every worker. The
    same joins as the record view's first statement (``open_referral_rows``)."""
    if actor.agency is None or actor.user_id is None:
        return {}
    columns, joins, order = open_referral_rows(Client.id, actor.agency)
    statement = select(*columns).select_from(Client).where(Client.id == client_id)
    for target, condition in joins:
        statement = statement.outerjoin(target, condition)
    rows = column_rows(db.session, statement.order_by(*order), {})
    found = [facts for facts in map(referral_facts, rows) if facts is not None]
    return relationship_of(actor, client_id, found, facts, at)


# --- validation ---------------------------------------------------------------------------


def _invalid(field: str, message: str, summary: str | None = None) -> ValidationFailed:
    return ValidationFailed(summary or message, details={field: [message]})


def _recipient_worker(agency: str, username: str | None, field: str) -> str | None:
    """An active case worker or supervisor of ``agency``, or a 422 that says the same for
    a name of another agency as for no such name."""
    if username is None:
        return None
    user = db.session.scalar(select(User).where(User.username == username.lower()))
    if (
        user is None
        or not user.active
        or user.agency.code != agency
        or not (policy.roles_of(user.username, agency) & WORKERS)
    ):
        raise _invalid(field, f"No active case worker or supervisor of {agency} by that name.")
    return user.username


def _validate_create(actor: Actor, body: dict[str, Any], today: date) -> dict[str, Any]:
    to_agency = body["to_agency"]
    if db.session.scalar(select(Agency.id).where(Agency.code == to_agency)) is None:
        raise _invalid("to_agency", f"No agency {to_agency!r}.")
    if to_agency == actor.agency:
        raise _invalid("to_agency", "Refer to another agency; assign a colleague instead.")
    if body["service"] not in SERVICES:
        raise _invalid("service", f"One of: {', '.join(SERVICES)}.", "Unknown service.")
    if body["purpose"] not in PURPOSES:
        raise _invalid("purpose", f"One of: {', '.join(PURPOSES)}.", "Unknown purpose.")
    unknown = [c for c in body["shared_categories"] if c not in CATEGORIES]
    if unknown:
        raise _invalid("shared_categories", f"Unknown categories: {', '.join(unknown)}.")
    if len(set(body["shared_categories"])) != len(body["shared_categories"]):
        raise _invalid("shared_categories", "A category is listed twice.")
    if body["urgency"] not in URGENCIES:
        raise _invalid("urgency", f"One of: {', '.join(URGENCIES)}.")
    if body.get("due_on") is not None and body["due_on"] < today:
        raise _invalid("due_on", "Must be today or later.")
    return body


# --- creating and sending -----------------------------------------------------------------


def _gate(actor: Actor, referral: Referral, at: datetime) -> gate.GateAnswer:
    part2 = _agency_part2(referral.from_agency)
    sources = _sources(actor, referral.client_id, at)
    facts = _consent_facts(
        referral.client_id,
        [*referral.shared_categories, SERVICES[referral.service_code][1]],
        [referral.to_agency],
    )
    facts = replace(
        facts,
        agreements=agreements.for_decision(
            referral.to_agency, {referral.from_agency, *(s.agency for s in sources)}
        ),
    )
    return gate.check_send(
        facts,
        sender=referral.from_agency,
        sender_part2=part2.get(referral.from_agency, False),
        recipient=referral.to_agency,
        service_category=SERVICES[referral.service_code][1],
        purpose=referral.purpose,
        shared_categories=referral.shared_categories,
        sources=sources,
        at=at,
    )


def _refuse_send(actor: Actor, referral: Referral, answer: gate.GateAnswer) -> None:
    pairs = [f"{u.category} from {u.source}: {u.reason}" for u in answer.uncovered]
    refuse(
        actor,
        "referral.send",
        "The client's consents do not cover this referral.",
        reason="consent_gate",
        client_id=referral.client_id,
        target_type="referral",
        target_id=referral.id,
        detail={
            "to_agency": referral.to_agency,
            "uncovered": [
                {"category": u.category, "source": u.source, "reason": u.reason}
                for u in answer.uncovered
            ],
        },
        error=lambda message: ValidationFailed(
            message,
            details={"shared_categories": pairs},
            code="consent_required",
        ),
    )


def preview(
    actor: Actor, client_id: str, to_agency: str, service: str, purpose: str
) -> dict[str, Any]:
    """What the client's consents allow this referral to share, per category, before it is
    sent (the "Refer" page): within what the sender may know, and logged (it reads
    consents). Categories without a record held anywhere the sender knows are listed as
    having nothing to share yet."""
    load_client(actor, client_id)
    require(
        actor,
        "referrals",
        "create",
        action="referral.create",
        message="Your role does not refer.",
        client_id=client_id,
    )
    body = {
        "to_agency": to_agency,
        "service": service,
        "purpose": purpose,
        "shared_categories": [],
        "urgency": "routine",
    }
    _validate_create(actor, body, utcnow().date())
    at = utcnow()
    probe = Referral(
        id="preview",
        client_id=client_id,
        from_agency=actor.agency or "",
        to_agency=to_agency,
        service_code=service,
        purpose=purpose,
        shared_categories=list(CATEGORIES),
    )
    answer = _gate(actor, probe, at)
    sources = _sources(actor, client_id, at)
    held = {s.category for s in sources if s.known_to_sender}
    blocked: dict[str, list[dict[str, str]]] = {}
    itself = None
    for u in answer.uncovered:
        if u.source == gate.REFERRAL_ITSELF:
            itself = u.reason
        else:
            blocked.setdefault(u.category, []).append({"source": u.source, "reason": u.reason})
    categories = [
        {
            "category": category,
            "held": category in held,
            "allowed": category in held and category not in blocked,
            "uncovered": blocked.get(category, []),
        }
        for category in CATEGORIES
    ]
    audit(
        "referral.preview",
        actor=actor,
        target_type="client",
        target_id=client_id,
        client_id=client_id,
        purpose=purpose,
        detail={"to_agency": to_agency, "service": service, "referral_itself": itself or "ok"},
    )
    return {
        "to_agency": to_agency,
        "service": service,
        "purpose": purpose,
        "referral_allowed": itself is None,
        "referral_reason": itself,
        "categories": categories,
    }


def _new_move(
    referral_id: str,
    seq: int,
    frm: Status | None,
    to: Status,
    side: Side | None,
    actor: Actor,
    *,
    assigned_to: str | None,
    reason: str | None = None,
    outcome: str | None = None,
    consent_ids: Iterable[str] | None = None,
    at: datetime,
) -> ReferralMove:
    return ReferralMove(
        referral_id=referral_id,
        seq=seq,
        from_status=frm.value if frm else None,
        to_status=to.value,
        side=side.value if side else None,
        assigned_to=assigned_to,
        by_user=actor.username,
        by_agency=actor.agency or "",
        at=at,
        reason_encrypted=_seal(reason, referral_id, f"reason:{seq}"),
        outcome_encrypted=_seal(outcome, referral_id, f"outcome:{seq}"),
        consent_ids=sorted(consent_ids) if consent_ids is not None else None,
    )


def _emit(kind: str, agencies: Iterable[str], referral_id: str) -> None:
    """The change's event for agency systems, in the same transaction (the outbox)."""
    from caseops.webhooks import outbox  # webhooks sit beside referrals, not under them

    outbox.enqueue(kind, sorted(set(agencies)), {"referral_id": referral_id}, session=db.session)
    # and for the people of those sides (their desks' event streams), in the same transaction
    from caseops.events.producers import referral_event

    referral_event(kind, agencies, referral_id, db.session)


def create(actor: Actor, client_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A draft, or (``send``) a referral sent at once through the consent gate: nothing is
    written when the gate refuses."""
    load_client(actor, client_id)
    require(
        actor,
        "referrals",
        "create",
        action="referral.create",
        message="Your role does not refer clients.",
        client_id=client_id,
    )
    at = utcnow()
    if not _has_relationship(actor, client_id, at):
        refuse(
            actor,
            "referral.create",
            "Refer only clients you work with (care team or an accepted referral).",
            reason="no_relationship",
            client_id=client_id,
        )
    body = _validate_create(actor, body, at.date())
    to_user = _recipient_worker(body["to_agency"], body.get("to_user"), "to_user")
    referral_id = "ref_" + secrets.token_hex(10)
    referral = Referral(
        id=referral_id,
        client_id=client_id,
        from_agency=actor.agency or "",
        from_user=actor.username,
        to_agency=body["to_agency"],
        service_code=body["service"],
        service_text=(body.get("service_text") or SERVICES[body["service"]][0]).strip(),
        purpose=body["purpose"],
        shared_categories=list(body["shared_categories"]),
        note_encrypted=_seal(body.get("note"), referral_id, "note"),
        urgency=body["urgency"],
        due_on=body.get("due_on"),
        created_at=at,
    )
    status, consent_ids = Status.DRAFT, None
    if body.get("send"):
        answer = _gate(actor, referral, at)
        if not answer.passed:
            _refuse_send(actor, referral, answer)
        status, consent_ids = Status.REQUESTED, answer.consent_ids
    db.session.add(referral)
    db.session.flush()
    db.session.add(
        _new_move(
            referral_id,
            1,
            None,
            status,
            Side.SENDER,
            actor,
            assigned_to=to_user,
            consent_ids=consent_ids,
            at=at,
        )
    )
    audit(
        "referral.created",
        actor=actor,
        target_type="referral",
        target_id=referral_id,
        client_id=client_id,
        purpose=referral.purpose,
        detail={
            "to_agency": referral.to_agency,
            "service": referral.service_code,
            "shared_categories": referral.shared_categories,
            "status": status.value,
            "consent_ids": list(consent_ids or ()),
        },
        session=db.session,
    )
    if status is Status.REQUESTED:
        _emit("referral.requested", [referral.to_agency], referral_id)
    db.session.commit()
    return describe(actor, load_referral(actor, referral_id))


def _mover_may(actor: Actor, standing: Standing) -> bool:
    """Within a side, who moves: the sending worker, the assigned worker, supervisors and
    the agency's integration account."""
    if _is(actor, SUPERVISOR) or _is(actor, INTEGRATION):
        return True
    if standing.side is Side.SENDER:
        return actor.username == standing.referral.from_user
    return actor.username == standing.assigned_to


def _append(standing: Standing, move: ReferralMove) -> None:
    db.session.add(move)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            "The referral changed while you were moving it; reload and try again.",
            code="referral_changed",
        ) from None


def move(actor: Actor, referral_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """One move of the table (DESIGN.md): 409 with the allowed moves for anything else,
    403 for the wrong side, 422 for a missing reason or outcome or an unmet consent."""
    standing = load_referral(actor, referral_id)
    referral, state = standing.referral, standing.state
    require(
        actor,
        "referrals",
        "move",
        action="referral.move",
        message="Your role does not move referrals.",
        client_id=referral.client_id,
    )
    verdict = machine.check_move(
        state, body["status"], standing.side, reason=body.get("reason"), outcome=body.get("outcome")
    )
    allowed = list(verdict.allowed_moves)
    if verdict.refusal is machine.Refusal.UNKNOWN_STATUS:
        raise _invalid(
            "status", f"One of: {', '.join(s.value for s in Status)}.", "Unknown status."
        )
    if verdict.refusal is machine.Refusal.NOT_A_MOVE:
        raise Conflict(
            f"A {state.value} referral cannot move to {body['status']}.",
            details={"status": [f"Allowed from {state.value}: {', '.join(allowed) or 'none'}."]},
            code="not_a_move",
        )
    if verdict.refusal is machine.Refusal.WRONG_SIDE or not _mover_may(actor, standing):
        refuse(
            actor,
            "referral.move",
            f"The {standing.side.value} side may not make this move."
            if verdict.refusal is machine.Refusal.WRONG_SIDE
            else "Only the referring or assigned worker, a supervisor or the agency's system "
            "moves this referral.",
            reason="wrong_side",
            client_id=referral.client_id,
            target_type="referral",
            target_id=referral.id,
            detail={"from": state.value, "to": body["status"], "allowed": allowed},
        )
    if verdict.refusal is machine.Refusal.REASON_REQUIRED:
        raise _invalid(
            "reason", f"Say why the referral is {body['status']}.", "A reason is required."
        )
    if verdict.refusal is machine.Refusal.OUTCOME_REQUIRED:
        raise _invalid("outcome", "Say what was provided.", "An outcome is required.")
    to = Status(body["status"])
    at = utcnow()
    assigned = standing.assigned_to
    if body.get("assign_to") is not None:
        if standing.side is not Side.RECIPIENT or not (
            _is(actor, SUPERVISOR) or _is(actor, INTEGRATION)
        ):
            raise _invalid("assign_to", "Only the recipient agency's supervisors assign.")
        assigned = _recipient_worker(referral.to_agency, body["assign_to"], "assign_to")
    consent_ids = None
    if to is Status.REQUESTED:
        answer = _gate(actor, referral, at)
        if not answer.passed:
            _refuse_send(actor, referral, answer)
        consent_ids = answer.consent_ids
    _append(
        standing,
        _new_move(
            referral.id,
            standing.last.seq + 1,
            state,
            to,
            standing.side,
            actor,
            assigned_to=assigned,
            reason=body.get("reason"),
            outcome=body.get("outcome"),
            consent_ids=consent_ids,
            at=at,
        ),
    )
    audit(
        "referral.moved",
        actor=actor,
        target_type="referral",
        target_id=referral.id,
        client_id=referral.client_id,
        detail={"from": state.value, "to": to.value, "side": standing.side.value}
        | ({"consent_ids": list(consent_ids)} if consent_ids is not None else {}),
        session=db.session,
    )
    if to is Status.REQUESTED:
        _emit("referral.requested", [referral.to_agency], referral.id)
    else:
        told = [referral.to_agency]
        words = _part2_words_visible(Standing(referral, standing.history, Side.SENDER), at, None)
        side = standing.side.value
        if _shown_status(state.value, _reached_by(standing.history), words) != _shown_status(
            to.value, side, words
        ):
            told.append(referral.from_agency)  # a Part 2 program's own steps stay its own
        _emit("referral.status_changed", told, referral.id)
    db.session.commit()
    return describe(actor, load_referral(actor, referral_id))


def assign(actor: Actor, referral_id: str, username: str) -> dict[str, Any]:
    """The recipient agency's supervisors assign (or reassign) a worker while the referral
    is requested, accepted, in progress or on hold."""
    standing = load_referral(actor, referral_id)
    referral, state = standing.referral, standing.state
    if standing.side is not Side.RECIPIENT or not _is(actor, SUPERVISOR):
        refuse(
            actor,
            "referral.assign",
            "Only the recipient agency's supervisors assign referrals.",
            client_id=referral.client_id,
            target_type="referral",
            target_id=referral.id,
        )
    require(
        actor,
        "referrals",
        "assign",
        action="referral.assign",
        message="Your role does not assign referrals.",
        client_id=referral.client_id,
    )
    if state not in machine.ASSIGNABLE:
        raise Conflict(
            f"A {state.value} referral is not assigned any more.",
            details={
                "status": [
                    f"Assign while {', '.join(sorted(s.value for s in machine.ASSIGNABLE))}."
                ]
            },
            code="not_assignable",
        )
    worker = _recipient_worker(referral.to_agency, username, "username")
    at = utcnow()
    _append(
        standing,
        _new_move(
            referral.id,
            standing.last.seq + 1,
            state,
            state,
            None,
            actor,
            assigned_to=worker,
            at=at,
        ),
    )
    audit(
        "referral.assigned",
        actor=actor,
        target_type="referral",
        target_id=referral.id,
        client_id=referral.client_id,
        detail={"assigned_to": worker, "previous": standing.assigned_to},
        session=db.session,
    )
    db.session.commit()
    return describe(actor, load_referral(actor, referral_id))


# --- reading --------------------------------------------------------------------------------


def _part2_words_visible(
    standing: Standing,
    at: datetime,
    facts: gate.ConsentFacts | None,
    part2: dict[str, bool] | None = None,
) -> bool:
    """Whether the sender may read the recipient's words (reasons, outcome) and exact
    statuses: always, unless the recipient is a Part 2 program and no consent from it
    names the sender's agency for the referral's purpose."""
    referral = standing.referral
    if standing.side is Side.RECIPIENT:
        return True
    part2 = part2 if part2 is not None else _agency_part2(referral.to_agency)
    if not part2.get(referral.to_agency, False):
        return True
    facts = facts or _consent_facts(
        referral.client_id, [SERVICES[referral.service_code][1]], [referral.from_agency]
    )
    ok, _, _ = gate.referral_consent(
        facts,
        sender=referral.to_agency,
        sender_part2=True,
        recipient=referral.from_agency,
        service_category=SERVICES[referral.service_code][1],
        purpose=referral.purpose,
        at=at,
    )
    return ok


def _shown_status(status: str, reached_by: str | None, words: bool) -> str:
    """A status as the caller may see it: the recipient's steps of a Part 2 program
    collapse into "open" / "closed" for a sender without the program's consent."""
    if words or reached_by != Side.RECIPIENT.value:
        return status
    return CLOSED if Status(status) in machine.TERMINAL else OPEN


def _reached_by(history: list[ReferralMove]) -> str | None:
    """The side of the last move that changed the status (assignments change none)."""
    for move_ in reversed(history):
        if move_.from_status != move_.to_status:
            return move_.side
    return None


def _history_for(actor: Actor, standing: Standing, words: bool) -> list[dict[str, Any]]:
    referral = standing.referral
    sender_view = standing.side is Side.SENDER
    history: list[dict[str, Any]] = []
    for move_ in standing.history:
        assignment = move_.from_status is not None and move_.from_status == move_.to_status
        if assignment and sender_view:
            continue  # the recipient's staffing is its own business
        shown = _shown_status(move_.to_status, move_.side, words)
        if history and sender_view and not words and history[-1]["to"] == shown:
            continue  # the program's own steps collapse into "open" / "closed"
        entry: dict[str, Any] = {
            "seq": move_.seq,
            "at": move_.at,
            "from": history[-1]["to"] if history else None,
            "to": shown,
            "kind": "created"
            if move_.from_status is None
            else "assigned"
            if assignment
            else "moved",
            "agency": move_.by_agency,
            "by": move_.by_user if move_.by_agency == actor.agency else None,
            "assigned_to": move_.assigned_to if actor.agency == referral.to_agency else None,
            "reason": None,
            "outcome": None,
        }
        if words or move_.side != Side.RECIPIENT.value:
            entry["reason"] = _open(move_.reason_encrypted, referral.id, f"reason:{move_.seq}")
            entry["outcome"] = _open(move_.outcome_encrypted, referral.id, f"outcome:{move_.seq}")
        history.append(entry)
    return history


def _referral_consent(
    referral: Referral, facts: gate.ConsentFacts, at: datetime, part2: dict[str, bool]
) -> tuple[bool, str, str | None]:
    return gate.referral_consent(
        facts,
        sender=referral.from_agency,
        sender_part2=part2.get(referral.from_agency, False),
        recipient=referral.to_agency,
        service_category=SERVICES[referral.service_code][1],
        purpose=referral.purpose,
        at=at,
    )


def describe(actor: Actor, standing: Standing, *, at: datetime | None = None) -> dict[str, Any]:
    """The referral as the caller may see it (see the module docstring)."""
    at = at or utcnow()
    referral = standing.referral
    facts = _consent_facts(
        referral.client_id,
        [SERVICES[referral.service_code][1]],
        [referral.to_agency, referral.from_agency],
    )
    part2 = _agency_part2(referral.from_agency, referral.to_agency)
    words = _part2_words_visible(standing, at, facts, part2)
    history = _history_for(actor, standing, words)
    state = standing.state
    consent_ok, consent_reason, _ = _referral_consent(referral, facts, at, part2)
    outcome = next((h["outcome"] for h in reversed(history) if h["outcome"] is not None), None)
    lapsed = state in machine.OPEN and not consent_ok
    held = bool(rehoming.suspended_rows(Referral.__tablename__, [referral.id]))
    mover = _mover_may(actor, standing)
    return {
        "id": referral.id,
        "client_id": referral.client_id,
        "from_agency": referral.from_agency,
        "to_agency": referral.to_agency,
        "from_user": referral.from_user if actor.agency == referral.from_agency else None,
        "assigned_to": standing.assigned_to if actor.agency == referral.to_agency else None,
        "service": {
            "code": referral.service_code,
            "display": SERVICES[referral.service_code][0],
            "text": referral.service_text,
        },
        "purpose": referral.purpose,
        "shared_categories": list(referral.shared_categories),
        "note": _open(referral.note_encrypted, referral.id, "note"),
        "urgency": referral.urgency,
        "due_on": referral.due_on,
        "created_at": referral.created_at,
        "status": _shown_status(state.value, _reached_by(standing.history), words),
        "outcome": outcome,
        "side": standing.side.value,
        "allowed_moves": list(machine.moves_from(state, standing.side)) if mover else [],
        "may_assign": standing.side is Side.RECIPIENT
        and _is(actor, SUPERVISOR)
        and state in machine.ASSIGNABLE,
        "access_open": state in machine.OPENS_ACCESS and consent_ok and not held,
        "consent": {"standing": consent_ok, "reason": None if consent_ok else consent_reason},
        "flags": (["consent_lapsed"] if lapsed else []) + (["held_by_linkage"] if held else []),
        "history": history,
    }


def get(actor: Actor, referral_id: str) -> dict[str, Any]:
    standing = load_referral(actor, referral_id)
    audit(
        "referral.viewed",
        actor=actor,
        target_type="referral",
        target_id=referral_id,
        client_id=standing.referral.client_id,
        detail={"side": standing.side.value},
    )
    return describe(actor, standing)


def _status_matches(shown: str, wanted: str | None) -> bool:
    """``open`` / ``closed`` stand for every status of the kind (and for themselves, as a
    sender of a Part 2 program sees them); any other value for itself."""
    if wanted is None:
        return True
    if wanted == OPEN:
        return shown == OPEN or shown in {s.value for s in machine.OPEN}
    if wanted == CLOSED:
        return shown == CLOSED or shown in {s.value for s in machine.TERMINAL}
    return shown == wanted


def list_referrals(
    actor: Actor, direction: str, status: str | None, limit: int = 200
) -> list[dict[str, Any]]:
    """The caller's agency's referrals, newest first, at most ``limit``: incoming
    (addressed to it, sent, and visible to the caller: supervisors and the integration
    account see all, a case worker those assigned to them) or outgoing (sent by it).
    ``status`` filters on the status as the caller sees it (``open``, ``closed``: every
    status of the kind)."""
    if actor.agency is None or not (actor.roles & (WORKERS | {INTEGRATION})):
        refuse(actor, "referral.list", "Your role does not work with referrals.")
    column = Referral.to_agency if direction == "incoming" else Referral.from_agency
    rows = db.session.execute(
        select(Referral, ReferralMove.to_status, ReferralMove.assigned_to)
        .join(ReferralMove, ReferralMove.referral_id == Referral.id)
        .where(column == actor.agency, _last_move_of_referral())
        .order_by(Referral.created_at.desc(), Referral.id)
    ).all()
    out = []
    at = utcnow()
    for referral, to_status, assigned in rows:
        side = _side_of(actor, referral, Status(to_status), assigned)
        expected = Side.RECIPIENT if direction == "incoming" else Side.SENDER
        if side is not expected:
            continue
        described = describe(actor, Standing(referral, _history(referral.id), side), at=at)
        if not _status_matches(described["status"], status):
            continue
        out.append(described)
        if len(out) >= limit:
            break
    audit(
        "referral.list",
        actor=actor,
        detail={"direction": direction, "status": status, "count": len(out)},
    )
    return out
