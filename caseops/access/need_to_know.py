"""Whether a worker has need-to-know of a client now: the question tasks and notes ask
before a worker writes about a client (issue 18), from the relationship facts the record
view reads (the care team, and the referral relationship of ``caseops.referrals``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from caseops.access.models import CareTeamMember
from caseops.authz.actor import Actor
from caseops.errors import ValidationFailed
from caseops.extensions import db
from caseops.referrals import service as referrals
from caseops.referrals.models import Referral, ReferralMove


def on_care_team(actor: Actor, client_id: str, at: datetime) -> bool:
    if actor.user_id is None:
        return False
    return (
        db.session.scalar(
            select(CareTeamMember.id)
            .where(
                CareTeamMember.client_id == client_id,
                CareTeamMember.user_id == actor.user_id,
                CareTeamMember.starts_at <= at,
                (CareTeamMember.ends_at.is_(None)) | (CareTeamMember.ends_at > at),
            )
            .limit(1)
        )
        is not None
    )


def has_relationship(actor: Actor, client_id: str, at: datetime) -> bool:
    """The care team at ``at``, or an open referral addressed to the worker whose consent
    still stands: read fresh (never cached), so an ended membership, a moved referral or
    a revocation ends it on the next request."""
    if actor.user_id is None or actor.agency is None:
        return False
    return on_care_team(actor, client_id, at) or bool(
        referrals.referral_access(actor, client_id, at)
    )


def referral_of_agency(actor: Actor, client_id: str, referral_id: str | None) -> str | None:
    """A referral of this client that the actor's agency is a side of (its sender, or its
    recipient once sent), to link a task or note to; a 422 that says the same for another
    agency's referral, another client's, or no referral at all."""
    if referral_id is None:
        return None
    referral = db.session.get(Referral, referral_id)
    if referral is not None and referral.client_id == client_id and actor.agency is not None:
        if actor.agency == referral.from_agency:
            return referral.id
        if actor.agency == referral.to_agency:
            status = db.session.scalar(
                select(ReferralMove.to_status)
                .where(ReferralMove.referral_id == referral.id)
                .order_by(ReferralMove.seq.desc())
                .limit(1)
            )
            if status != "draft":
                return referral.id
    raise ValidationFailed(
        "Link it to a referral of this client that your agency sent or received.",
        details={"referral_id": ["No referral of your agency for this client by that id."]},
    )
