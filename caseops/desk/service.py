"""The worker's desk: whom a case worker or supervisor works with now (the caseload).

A worker's caseload is the clients they have a need-to-know relationship with at this
instant, the very relationships the access decision reads (DESIGN.md, "Relationship
kinds"): the care team, and referrals addressed to their agency that are accepted,
in progress or on hold and assigned to them (a supervisor: to anyone of their agency,
since the decision lets the recipient's supervisors in too). Break-the-glass grants are
not a caseload: they are emergencies, reviewed, not work to come back to.

Each entry says whether what *this worker may see* changed since their last view: the
fingerprint of the same decision the record view runs (``access.current_fingerprint``)
against the one the access log holds for their last ``client.view``. A change to a
section the worker cannot see (another agency's Part 2 record, a category without
consent) changes no fingerprint, so it never marks a client. The per-client comparisons
are not logged one by one: they disclose nothing (a bit about sections the worker could
already see, no data), and the listing that carries them is logged once, naming every
client listed and every client marked changed (``desk.caseload``), as search is. The view
that follows is logged as every view is.

Cost: one statement for the relationships, one for the names' records, one for the last
views, one for open referrals; then one decision (three small queries) per client the
worker has viewed before. A client never viewed is "changed" without a decision. See
docs/desk.md for the measurement.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import aliased

from caseops.access import service as access
from caseops.access.models import CareTeamMember
from caseops.agencies.models import Agency
from caseops.audit.last_views import last_views
from caseops.audit.service import record as audit
from caseops.authz import permissions, policy
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
from caseops.db_types import utcnow
from caseops.errors import NotFound, ValidationFailed
from caseops.extensions import db
from caseops.matching import store
from caseops.matching.models import ClientKeyHold
from caseops.records.models import SourceRecord
from caseops.referrals import machine
from caseops.referrals.models import Referral, ReferralMove
from caseops.storage.pipeline import prefetch
from caseops.tasks import service as tasks
from caseops.users.models import User

WORKERS = frozenset({"case_worker", "supervisor"})
SUPERVISOR = "supervisor"
DEFAULT_PURPOSE = "care_coordination"
SCOPES = ("mine", "agency")
CARE_TEAM = "care_team"
REFERRAL = "referral"


@dataclass
class _Link:
    """One client in one worker's caseload and how they are linked."""

    client_id: str
    relationship: str
    referral_ids: set[str]


def _require_worker(actor: Actor, scope: str) -> None:
    if scope not in SCOPES:
        raise ValidationFailed(
            "Unknown scope.", details={"scope": [f"One of: {', '.join(SCOPES)}."]}
        )
    if actor.user_id is None or actor.agency is None or not (actor.roles & WORKERS):
        refuse(actor, "desk.caseload", "Only case workers and supervisors have a caseload.")
    if scope == "agency" and SUPERVISOR not in actor.roles:
        refuse(
            actor,
            "desk.caseload",
            "Only supervisors see their agency's caseload.",
            detail={"scope": scope},
        )


# --- who works with whom ---------------------------------------------------------------


def _current_state():
    """Each referral's last move (its state and assignee now), as a subquery."""
    return (
        select(ReferralMove.referral_id, func.max(ReferralMove.seq).label("seq"))
        .group_by(ReferralMove.referral_id)
        .subquery()
    )


def _held():
    """A referral held by re-homing opens nothing until a steward decides (as in the view)."""
    return exists().where(
        ClientKeyHold.table_name == Referral.__tablename__,
        ClientKeyHold.row_id == Referral.id,
        ClientKeyHold.resolved_at.is_(None),
    )


def _care_team_rows(user_ids: list[int], at: datetime) -> list[tuple[int, str]]:
    return list(
        db.session.execute(
            select(CareTeamMember.user_id, CareTeamMember.client_id).where(
                CareTeamMember.user_id.in_(user_ids),
                CareTeamMember.starts_at <= at,
                or_(CareTeamMember.ends_at.is_(None), CareTeamMember.ends_at > at),
            )
        ).all()
    )


def _referral_rows(agency: str) -> list[tuple[str | None, str, str]]:
    """(assignee, client, referral) of every referral addressed to ``agency`` whose state
    opens access now (accepted, in progress, on hold) and that no linkage hold suspends."""
    last = _current_state()
    move = aliased(ReferralMove)
    return list(
        db.session.execute(
            select(move.assigned_to, Referral.client_id, Referral.id)
            .join(last, last.c.referral_id == Referral.id)
            .join(move, (move.referral_id == Referral.id) & (move.seq == last.c.seq))
            .where(
                Referral.to_agency == agency,
                move.to_status.in_([s.value for s in machine.OPENS_ACCESS]),
                ~_held(),
            )
            .order_by(Referral.created_at, Referral.id)
        ).all()
    )


def _links(
    workers: dict[int, str], agency: str, at: datetime, *, every_referral_of: str | None = None
) -> dict[str, dict[str, _Link]]:
    """username -> client id -> link, for the given workers (user id -> username).
    ``every_referral_of``: a supervisor's username, who is linked to every open referral of
    the agency (the decision lets supervisors in), not only the ones assigned to them."""
    out: dict[str, dict[str, _Link]] = {name: {} for name in workers.values()}
    for user_id, client_id in _care_team_rows(list(workers), at):
        out[workers[user_id]][client_id] = _Link(client_id, CARE_TEAM, set())
    for assignee, client_id, referral_id in _referral_rows(agency):
        holders = {assignee} & set(out) if assignee else set()
        if every_referral_of is not None:
            holders.add(every_referral_of)
        for holder in holders:
            link = out[holder].setdefault(client_id, _Link(client_id, REFERRAL, set()))
            link.referral_ids.add(referral_id)
    return out


# --- what the listing shows of each client -----------------------------------------------


def _names(actor: Actor, client_ids: Iterable[str], at: datetime) -> dict[str, dict[str, Any]]:
    """Minimal demographics (name, birth date) as search shows them: from the newest record
    of the client that may make the client known to the actor (``knows_record``), so a
    name never comes from a record the actor may not know of (another program's Part 2
    record without a consent naming the actor's agency)."""
    wanted = sorted(set(client_ids))
    if not wanted:
        return {}
    rows = db.session.execute(
        select(SourceRecord, Agency.code, Agency.part2_program)
        .join(Agency, SourceRecord.agency_id == Agency.id)
        .where(SourceRecord.client_id.in_(wanted), SourceRecord.withdrawn_at.is_(None))
        .order_by(SourceRecord.updated_at.desc(), SourceRecord.id)
    ).all()
    out: dict[str, dict[str, Any]] = {}
    for found, agency, part2 in rows:
        if found.client_id in out:
            continue
        category = found.category
        if not permissions.knows_record(actor, found.client_id, agency, part2, category, at=at):
            continue
        person = store.decrypt_person(found)
        name = " ".join(p for p in (person.get("given_name"), person.get("family_name")) if p)
        out[found.client_id] = {"name": name or None, "birth_date": person.get("birth_date")}
    return out


def minimal_demographics(actor: Actor, client_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """client id -> {name, birth date} as search shows them, for pages that already
    decided (and logged) the client is known to the actor: the record page's head."""
    return _names(actor, client_ids, utcnow())


def _open_referrals(actor: Actor, client_ids: list[str]) -> dict[str, int]:
    """client id -> referrals of the client that are open (requested, accepted, in
    progress, on hold) and that the actor may see: sent by their agency, or addressed to
    it and (for a case worker) assigned to them; the count never includes a referral the
    actor would get "unknown" for."""
    if not client_ids or actor.agency is None:
        return {}
    last = _current_state()
    move = aliased(ReferralMove)
    incoming = (Referral.to_agency == actor.agency) & (move.to_status != "draft")
    if SUPERVISOR not in actor.roles:
        incoming = incoming & (move.assigned_to == actor.username)
    rows = db.session.execute(
        select(Referral.client_id, func.count(Referral.id))
        .join(last, last.c.referral_id == Referral.id)
        .join(move, (move.referral_id == Referral.id) & (move.seq == last.c.seq))
        .where(
            Referral.client_id.in_(client_ids),
            move.to_status.in_([s.value for s in machine.OPEN]),
            or_(Referral.from_agency == actor.agency, incoming),
        )
        .group_by(Referral.client_id)
    ).all()
    return dict(rows)


def _open_tasks(actor: Actor, client_ids: list[str]) -> dict[str, int]:
    """client id -> open tasks of the actor's agency on the client (tasks are coordination
    data of their agency: the count says nothing of other agencies)."""
    return tasks.open_tasks_by_client(actor, client_ids) if client_ids else {}


def _changed(
    actor: Actor, client_ids: list[str], at: datetime
) -> tuple[dict[str, bool], dict[str, datetime]]:
    """client id -> whether what this worker may see changed since their last logged view
    (never viewed, or viewed before fingerprints were logged: changed); and client id ->
    when that view was."""
    seen = last_views(actor.username, client_ids)
    permits = policy.permissions(actor)
    out: dict[str, bool] = {}
    compared = [c for c in client_ids if seen.get(c) and seen[c].fingerprint is not None]
    # every compared client's decision reads in one round trip (issue 20), not one each
    with prefetch(
        db.session, [r for c in compared for r in access.fingerprint_reads(actor, c, at)]
    ):
        out.update(_compare(actor, client_ids, seen, permits, at))
    return out, {client_id: last.at for client_id, last in seen.items()}


def _compare(actor: Actor, client_ids: list[str], seen, permits, at: datetime) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for client_id in client_ids:
        last = seen.get(client_id)
        if last is None or last.fingerprint is None:
            out[client_id] = True
            continue
        try:
            now = access.current_fingerprint(
                actor, client_id, last.purpose or DEFAULT_PURPOSE, permits, at
            )
        except NotFound:  # merged away since the listing began: nothing to compare
            out[client_id] = True
            continue
        out[client_id] = now != last.fingerprint
    return out


def _entries(
    actor: Actor, links: dict[str, _Link], at: datetime, *, with_changes: bool
) -> list[dict[str, Any]]:
    ids = sorted(links)
    names = _names(actor, ids, at)
    # a client with no record the actor may know of cannot be named: left out, as search
    # leaves it out (it cannot happen through a care team, which needs an agency record)
    ids = [client_id for client_id in ids if client_id in names]
    referrals = _open_referrals(actor, ids)
    task_counts = _open_tasks(actor, ids)
    changed, viewed = _changed(actor, ids, at) if with_changes else ({}, {})
    entries = [
        {
            "client_id": client_id,
            "name": names[client_id]["name"],
            "birth_date": names[client_id]["birth_date"],
            "relationship": links[client_id].relationship,
            "changed_since_my_last_view": changed.get(client_id) if with_changes else None,
            "last_viewed_at": viewed.get(client_id),
            "open_tasks": task_counts.get(client_id, 0),
            "open_referrals": referrals.get(client_id, 0),
        }
        for client_id in ids
    ]
    return sorted(entries, key=lambda e: (not e["changed_since_my_last_view"], e["name"] or ""))


# --- the two listings ----------------------------------------------------------------------


def caseload(actor: Actor) -> list[dict[str, Any]]:
    """The caller's own caseload, changed clients first, then by name; logged once."""
    _require_worker(actor, "mine")
    at = utcnow()
    assert actor.user_id is not None and actor.agency is not None
    links = _links(
        {actor.user_id: actor.username},
        actor.agency,
        at,
        every_referral_of=actor.username if SUPERVISOR in actor.roles else None,
    )[actor.username]
    entries = _entries(actor, links, at, with_changes=True)
    audit(
        "desk.caseload",
        actor=actor,
        detail={
            "scope": "mine",
            "result_client_ids": [e["client_id"] for e in entries],
            "changed_client_ids": [
                e["client_id"] for e in entries if e["changed_since_my_last_view"]
            ],
        },
    )
    return entries


def _agency_workers(agency: str) -> dict[int, str]:
    """user id -> username of the agency's active case workers and supervisors."""
    users = db.session.execute(
        select(User.id, User.username)
        .join(Agency, User.agency_id == Agency.id)
        .where(Agency.code == agency, User.active.is_(True), User.kind == "human")
    ).all()
    return {
        user_id: username
        for user_id, username in users
        if policy.roles_of(username, agency) & WORKERS
    }


def agency_caseload(actor: Actor) -> list[dict[str, Any]]:
    """A supervisor's agency caseload by worker: each worker's care team and the open
    referrals assigned to them (``worker`` names them), then the open referrals assigned
    to nobody (``worker`` null), as one list ordered by worker and name. A client two
    workers share appears once per worker. No "changed" marks: those are about the
    supervisor's own views (their own caseload has them). Logged once."""
    _require_worker(actor, "agency")
    at = utcnow()
    assert actor.agency is not None
    workers = _agency_workers(actor.agency)
    by_worker = _links(workers, actor.agency, at)
    unassigned: dict[str, _Link] = {}
    for assignee, client_id, referral_id in _referral_rows(actor.agency):
        if assignee is None or assignee not in by_worker:
            link = unassigned.setdefault(client_id, _Link(client_id, REFERRAL, set()))
            link.referral_ids.add(referral_id)
    out: list[dict[str, Any]] = []
    for username in sorted(by_worker):
        entries = _entries(actor, by_worker[username], at, with_changes=False)
        out.extend(e | {"worker": username} for e in entries)
    out.extend(e | {"worker": None} for e in _entries(actor, unassigned, at, with_changes=False))
    audit(
        "desk.caseload",
        actor=actor,
        detail={"scope": "agency", "result_client_ids": sorted({e["client_id"] for e in out})},
    )
    return out


def caseload_of(actor: Actor, scope: str) -> dict[str, Any]:
    """The API's answer for either scope."""
    _require_worker(actor, scope)
    clients = agency_caseload(actor) if scope == "agency" else caseload(actor)
    return {"scope": scope, "clients": clients}
