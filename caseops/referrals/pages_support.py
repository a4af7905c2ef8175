"""What the referral pages need beside ``service``: the choices of their forms.

Both answers are the caller's own agency's business or public directory facts, so they
reveal nothing across agencies: the agencies a worker may refer to (codes and names, as
the consent forms list them), and the colleagues a recipient supervisor may assign (the
same check ``service.assign`` applies, so the page never offers a name it would refuse).
"""

from __future__ import annotations

from sqlalchemy import select

from caseops.agencies.models import Agency
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.extensions import db
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
