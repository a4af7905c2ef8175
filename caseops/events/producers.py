"""Events of other areas' changes, written in those changes' transactions.

The areas call these (lazily imported, a line each) where they already enqueue their
webhooks, so an agency's systems and its people hear of the same changes.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from caseops.events.publish import publish
from caseops.referrals.models import Referral, ReferralMove


def referral_event(kind: str, agencies: Iterable[str], referral_id: str, session: Session) -> None:
    """``referral.requested`` / ``referral.status_changed`` for the sides in ``agencies``:
    their supervisors (agency-addressed), the sending worker on the sending side and the
    assigned worker on the receiving side (by name), who are the people who know of it."""
    told = sorted(set(agencies))
    referral = session.get(Referral, referral_id)
    users: list[str] = []
    if referral is not None:
        assigned = session.scalar(
            select(ReferralMove.assigned_to)
            .where(ReferralMove.referral_id == referral_id)
            .order_by(ReferralMove.seq.desc())
            .limit(1)
        )
        if referral.from_agency in told:
            users.append(referral.from_user)
        if referral.to_agency in told and assigned:
            users.append(assigned)
    publish(kind, users=users, agencies=told, data={"referral_id": referral_id}, session=session)


def consent_revoked(agencies: Iterable[str], consent_id: str, session: Session) -> None:
    """``consent.revoked`` to the workers, supervisors and consent officers of the agencies
    the consent names (the webhook's agencies: never a wildcard expansion)."""
    publish(
        "consent.revoked",
        agencies=sorted(set(agencies)),
        data={"consent_id": consent_id},
        session=session,
    )
