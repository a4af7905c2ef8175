"""What the referral pages need beside ``service``: the choices of their forms, and the
lists' "open" / "closed" filters.

Both answers are the caller's own agency's business or public directory facts, so they
reveal nothing across agencies: the agencies a worker may refer to (codes and names, as
the consent forms list them), and the colleagues a recipient supervisor may assign (the
same check ``service.assign`` applies, so the page never offers a name it would refuse).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from caseops.agencies.models import Agency
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.extensions import db
from caseops.referrals import machine
from caseops.referrals import service as referrals
from caseops.referrals.service import SUPERVISOR, WORKERS
from caseops.users.models import User

# The operator's own agency runs the system; it takes no referrals.
NOT_REFERRED_TO = frozenset({"operations"})


def referral_agencies(actor: Actor) -> list[tuple[str, str]]:
    """``(code, name)`` of every agency the actor may refer to: any other agency that
    serves clients."""
    rows = db.session.execute(
        select(Agency.code, Agency.name, Agency.kind).order_by(Agency.name, Agency.code)
    ).all()
    return [
        (code, name)
        for code, name, kind in rows
        if code != actor.agency and kind not in NOT_REFERRED_TO
    ]


def assignable_workers(actor: Actor) -> list[str]:
    """The active case workers and supervisors of a supervisor's own agency (whom
    ``service.assign`` accepts); nothing for anyone else."""
    if actor.agency is None or SUPERVISOR not in actor.roles:
        return []
    users = db.session.scalars(
        select(User)
        .join(Agency, User.agency_id == Agency.id)
        .where(Agency.code == actor.agency, User.active.is_(True))
        .order_by(User.username)
    )
    return [u.username for u in users if policy.roles_of(u.username, actor.agency) & WORKERS]


# The list filters "open" and "closed" group the statuses as a worker thinks of them (a
# draft is neither: it is not sent yet). A Part 2 program's steps that a sender sees only
# as "open" / "closed" fall in the same groups.
OPEN_STATUSES = frozenset({*(s.value for s in machine.OPEN), referrals.OPEN})
CLOSED_STATUSES = frozenset({*(s.value for s in machine.TERMINAL), referrals.CLOSED})
GROUPS = {"open": OPEN_STATUSES, "closed": CLOSED_STATUSES}


def list_referrals(actor: Actor, direction: str, status: str | None) -> list[dict[str, Any]]:
    """``service.list_referrals``, where ``status`` may also name a group ("open",
    "closed"). One call to the service either way, so one ``referral.list`` entry."""
    group = GROUPS.get(status or "")
    if group is None:
        return referrals.list_referrals(actor, direction, status)
    return [r for r in referrals.list_referrals(actor, direction, None) if r["status"] in group]
