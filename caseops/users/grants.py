"""The two-person rule: no administrator becomes a reader of client records alone.

A role *reads client records* when the policy lets it ``read`` (or ``break_glass``) some
``record:<category>`` in the account's agency: the set is derived from the Casbin policy,
not listed, so a role the operator later allows to read is covered the day the rule is
added (today: case_worker and supervisor).

Granting such a role (creating an account with it, or adding it) is the agency's own act
when the grantor belongs to the account's agency (its agency administrator, say). Anybody
else (a system administrator of the operations agency) leaves a *pending grant*: the roles
are not in the policy, a new account stays inactive, and the access log carries a
``admin.grant_pending`` entry with ``review_required: true`` for the privacy officers,
until an administrator of the account's agency, never the grantor, approves.

The CLI operator (``Actor.operator()``: ``caseops`` commands, ``caseops demo seed``, the
test factories) is exempt: it is the installation's owner acting with database rights,
who could write the policy table directly; its acts are logged as ``<operator>``.
"""

from __future__ import annotations

from sqlalchemy import select

from caseops.audit.service import record
from caseops.authz import permissions, policy
from caseops.authz.actor import Actor
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.users.models import RoleGrant, RoleGrantDecision, User
from caseops.vocabulary import CATEGORIES, ROLES

READ_ACTS = ("read", "break_glass")


def reader_roles(agency_code: str) -> frozenset[str]:
    """Roles that read client records in ``agency_code``, by the policy in force."""
    return frozenset(
        role
        for role in ROLES
        if any(
            policy.role_verdict(role, agency_code, f"record:{category}", act)[0]
            for category in CATEGORIES
            for act in READ_ACTS
        )
    )


def is_agency_act(actor: Actor, agency_code: str) -> bool:
    """Whether a grant by ``actor`` is the account's own agency speaking (no second person)."""
    return actor.is_operator or actor.agency == agency_code


def may_approve(actor: Actor, user: User) -> bool:
    """Administrators of the account's own agency approve (``admin:grants``/``approve``)."""
    if actor.is_operator:
        return True
    return actor.agency == user.agency.code and permissions.may(actor, "admin:grants", "approve")


def pending_grant(user: User) -> RoleGrant | None:
    """The grant of ``user`` still waiting for a decision (at most one is open)."""
    return db.session.scalar(
        select(RoleGrant)
        .outerjoin(RoleGrantDecision, RoleGrantDecision.grant_id == RoleGrant.id)
        .where(RoleGrant.user_id == user.id, RoleGrantDecision.id.is_(None))
        .order_by(RoleGrant.id.desc())
        .limit(1)
    )


def pending_user_ids() -> set[int]:
    rows = db.session.scalars(
        select(RoleGrant.user_id)
        .outerjoin(RoleGrantDecision, RoleGrantDecision.grant_id == RoleGrant.id)
        .where(RoleGrantDecision.id.is_(None))
    )
    return set(rows)


def decide(actor: Actor, grant: RoleGrant, decision: str) -> None:
    db.session.add(
        RoleGrantDecision(
            grant_id=grant.id, decision=decision, decided_by=actor.username, decided_at=utcnow()
        )
    )


def supersede(actor: Actor, user: User) -> RoleGrant | None:
    """Close the open grant of ``user`` (a later change of roles replaces it)."""
    grant = pending_grant(user)
    if grant is not None:
        decide(actor, grant, "superseded")
    return grant


def open_grant(actor: Actor, user: User, roles: set[str], *, new_account: bool) -> RoleGrant:
    """Record a pending grant inside the caller's transaction and flag it for review."""
    grant = RoleGrant(
        user_id=user.id,
        roles=sorted(roles),
        new_account=new_account,
        granted_by=actor.username,
        granted_by_agency=actor.agency,
        granted_at=utcnow(),
    )
    db.session.add(grant)
    db.session.flush()
    record(
        "admin.grant_pending",
        actor=actor,
        target_type="user",
        target_id=user.username,
        detail={
            "review_required": True,
            "grant": grant.id,
            "agency": user.agency.code,
            "roles": sorted(roles),
            "new_account": new_account,
            "approver": f"an agency_admin of {user.agency.code}, not {actor.username}",
        },
        session=db.session,
    )
    return grant
