"""``client.updated``: who is told that a record changed, decided off the ingest's path.

A record write (``caseops.records``) queues a ``record_changes`` row in its own
transaction (``publish.record_changed``). ``drain`` takes queued rows (deleting them in
its transaction, so two processes never take the same row and a failed pass gives them
back), finds the workers with a relationship to the client (its care team now, and for
referrals of the client that open access now, the assigned worker and the receiving
agency's supervisors) and asks, for each, the SAME decision as the record view
(``gather_facts`` + ``decide_section``) whether the changed section (agency, category)
is shown to them. Only then it publishes ``client.updated`` (``{"client_id"}``) to them.

The decision here is not logged per worker (issue 18): it discloses nothing, the event
carries only the id of a client the worker already works with, and only for a section
they could already see; the view the page then asks for is logged as every view is.
A withdrawn record is decided as if it were still there: its disappearance changes what
the worker sees exactly when its presence was shown to them.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import replace

from flask import Flask
from sqlalchemy import delete, or_, select

from caseops.access.models import CareTeamMember
from caseops.access.rules import SectionFacts, decide_section
from caseops.access.service import gather_facts
from caseops.agencies.models import Agency
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.db_types import utcnow
from caseops.errors import NotFound
from caseops.events.models import RecordChange
from caseops.events.publish import publish
from caseops.extensions import db
from caseops.referrals import machine
from caseops.referrals.models import Referral, ReferralMove
from caseops.users.models import User
from caseops.vocabulary import PURPOSES

log = logging.getLogger(__name__)
BATCH = 500
WORKER_ROLES = frozenset({"case_worker", "supervisor"})
# A section shown for any of these purposes is one the worker sees (emergency is
# break-the-glass, which the decision considers under every purpose).
VIEW_PURPOSES = tuple(p for p in PURPOSES if p != "emergency")


def _take(batch: int) -> list[tuple[str, str, str]]:
    """Delete up to ``batch`` queued changes and return them, in this transaction.

    Looked for first with a read: on SQLite a DELETE takes the database's one write lock
    even when it finds nothing, and this runs every half second in every process."""
    if db.session.scalar(select(RecordChange.id).limit(1)) is None:
        return []
    oldest = (
        select(RecordChange.id)
        .order_by(RecordChange.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    rows = db.session.execute(
        delete(RecordChange)
        .where(RecordChange.id.in_(oldest))
        .returning(RecordChange.client_id, RecordChange.agency_code, RecordChange.category)
    ).all()
    return [tuple(row) for row in rows]


def candidates(client_id: str) -> list[User]:
    """Workers with a relationship to the client now: a superset the decision narrows."""
    now = utcnow()
    on_team = select(CareTeamMember.user_id).where(
        CareTeamMember.client_id == client_id,
        CareTeamMember.starts_at <= now,
        or_(CareTeamMember.ends_at.is_(None), CareTeamMember.ends_at > now),
    )
    ids = set(db.session.scalars(on_team))
    last = (
        select(ReferralMove.referral_id, ReferralMove.to_status, ReferralMove.assigned_to)
        .join(Referral, Referral.id == ReferralMove.referral_id)
        .where(Referral.client_id == client_id)
        .order_by(ReferralMove.referral_id, ReferralMove.seq)
    )
    current: dict[str, tuple[str, str | None]] = {}
    for referral_id, status, assigned in db.session.execute(last):
        current[referral_id] = (status, assigned)
    opening = {s.value for s in machine.OPENS_ACCESS}
    open_ids = [rid for rid, (status, _) in current.items() if status in opening]
    names = {assigned for rid in open_ids if (assigned := current[rid][1])}
    agencies = set(db.session.scalars(select(Referral.to_agency).where(Referral.id.in_(open_ids))))
    users = list(
        db.session.scalars(
            select(User).where(
                User.active.is_(True),
                User.kind == "human",
                or_(
                    User.id.in_(ids),
                    User.username.in_(names),
                    User.agency.has(Agency.code.in_(agencies)),
                ),
            )
        )
    )
    chosen = []
    for user in users:
        roles = policy.roles_of(user.username, user.agency.code)
        if not roles & WORKER_ROLES:
            continue
        if user.id in ids or user.username in names or "supervisor" in roles:
            chosen.append(user)
    return sorted(chosen, key=lambda u: u.id)


def sees(user: User, client_id: str, sections: set[tuple[str, str]]) -> bool:
    """Whether any of ``sections`` (agency, category) is shown to ``user`` now, by the
    record view's own decision (not logged: see the module docstring)."""
    actor = Actor(
        username=user.username,
        user_id=user.id,
        agency=user.agency.code,
        roles=policy.roles_of(user.username, user.agency.code),
    )
    permits = policy.permissions(actor)
    at = utcnow()
    facts, _, _ = gather_facts(actor, client_id, at)
    part2 = dict(
        db.session.execute(
            select(Agency.code, Agency.part2_program).where(
                Agency.code.in_({agency for agency, _ in sections})
            )
        ).all()
    )
    for agency, category in sorted(sections):
        section = SectionFacts(-1, agency, bool(part2.get(agency)), category)
        facts_with = replace(facts, sections=[section])
        for purpose in VIEW_PURPOSES:
            if decide_section(section, facts_with, actor.agency or "", permits, purpose, at).shown:
                return True
    return False


def drain(batch: int = BATCH) -> int:
    """One pass: take queued changes, publish ``client.updated`` to the workers who see a
    changed section, commit. Returns the number of events published."""
    published = 0
    while True:
        taken = _take(batch)
        if not taken:
            db.session.commit()
            return published
        by_client: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for client_id, agency, category in taken:
            by_client[client_id].add((agency, category))
        for client_id, sections in sorted(by_client.items()):
            try:
                told = [u.id for u in candidates(client_id) if sees(u, client_id, sections)]
            except NotFound:  # the client is gone (merged away): nobody to tell about it
                continue
            published += len(
                publish(
                    "client.updated",
                    users=told,
                    data={"client_id": client_id},
                    session=db.session,
                )
            )
        db.session.commit()
        if len(taken) < batch:
            return published


class Notifier:
    """Runs ``drain`` from a daemon thread of a server process, every ``interval``
    seconds or at once when woken (the hub wakes it on a record change's NOTIFY)."""

    def __init__(self, app: Flask, interval: float) -> None:
        self.app = app
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def start(self) -> None:
        threading.Thread(target=self._run, name="caseops-events-notifier", daemon=True).start()

    def _run(self) -> None:
        from caseops.context import Origin, new_request_id, origin_scope

        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            with (
                self.app.app_context(),
                origin_scope(Origin(request_id=new_request_id(), channel="internal")),
            ):
                try:
                    drain()
                except Exception:
                    log.exception("client.updated pass failed; retrying")
                    db.session.rollback()
                finally:
                    db.session.remove()
