"""User administration. Every change is one transaction with its before/after audit entry.

Who may manage whom: ``caseops.authz.permissions.may_manage_users_of`` (``admin:users:any``
for any agency, ``admin:users:own`` for one's own), and ``role:<name>``/``assign`` for
every role the target holds or is given, so an agency admin cannot touch admins or grant
admin roles.

Hidden = unknown. An account the caller may not manage (another agency's, for everybody
but a system administrator) answers every endpoint exactly as a name nobody holds: 404,
``No user named 'x'.`` The refusal is still logged (``guard.refuse``). People always see
their own account and tokens.

Roles that read client records follow the two-person rule (``caseops.users.grants``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from caseops.agencies.models import Agency
from caseops.agencies.service import get_agency
from caseops.audit.service import record
from caseops.auth import service as auth_service
from caseops.auth.models import ApiToken
from caseops.auth.passwords import hash_password, password_problems
from caseops.authz import permissions, policy
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
from caseops.context import current_origin
from caseops.db_types import utcnow
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.users import grants
from caseops.users.models import RecoveryCode, User
from caseops.users.schemas import UserCreateSchema
from caseops.vocabulary import ADMIN_ROLES

DEFAULT_TOKEN_DAYS = 90


def user_not_found(username: str) -> NotFound:
    """The one answer for an unknown name and for an account hidden from the caller."""
    return NotFound(f"No user named {username!r}.")


def get_user(username: str) -> User:
    """The account named ``username`` with no visibility check (operator and demo code)."""
    user = db.session.scalar(select(User).where(User.username == username.lower()))
    if user is None:
        raise user_not_found(username)
    return user


def may_see(actor: Actor, user: User) -> bool:
    """Oneself, or an account of an agency whose users the actor manages."""
    return user.id == actor.user_id or permissions.may_manage_users_of(actor, user.agency.code)


def load_user(actor: Actor, username: str, action: str) -> User:
    """Load-or-404: the account, if the actor may know of it; else exactly the answer an
    unknown name gets (the refusal logged as a denied ``admin.<action>``)."""
    user = get_user(username)
    if not may_see(actor, user):
        refuse(
            actor,
            f"admin.{action}",
            user_not_found(username).message,
            reason="not_managed",
            target_type="user",
            target_id=user.username,
            detail={"agency": user.agency.code},
            error=NotFound,
        )
    return user


def view_user(actor: Actor, username: str) -> User:
    return load_user(actor, username, "user_view")


def _unassignable(actor: Actor, roles: set[str]) -> list[str]:
    if actor.is_operator:
        return []
    return sorted(role for role in roles if not permissions.may(actor, f"role:{role}", "assign"))


def _refuse(actor: Actor, action: str, message: str, target: str, **detail: Any) -> NoReturn:
    refuse(
        actor,
        f"admin.{action}",
        message,
        target_type="user",
        target_id=target,
        detail={key: value for key, value in detail.items() if value is not None},
    )


def _authorize_roles(actor: Actor, action: str, agency: str, roles: set[str], target: str):
    if blocked := _unassignable(actor, roles):
        message = f"You may not manage users holding or receiving: {', '.join(blocked)}."
        _refuse(actor, action, message, target, agency=agency, roles=sorted(roles))


def _authorize_existing(actor: Actor, action: str, user: User, new_roles: set[str] | None = None):
    """The caller already sees ``user`` (``load_user``); may they change it?"""
    held = set(policy.stored_roles(db.session, user.username))
    _authorize_roles(actor, action, user.agency.code, held | (new_roles or set()), user.username)
    if user.id == actor.user_id and action != "token_created":
        _refuse(
            actor, action, "Ask another administrator to change your own account.", user.username
        )
    return held


def describe(user: User) -> dict[str, Any]:
    grant = grants.pending_grant(user)
    return {
        "username": user.username,
        "agency": user.agency.code,
        "kind": user.kind,
        "display_name": user.display_name,
        "email": user.email,
        "active": user.active,
        "roles": policy.stored_roles(db.session, user.username),
        "pending_roles": list(grant.roles) if grant is not None else [],
        "pending_granted_by": grant.granted_by if grant is not None else None,
        "second_factor_enrolled": user.second_factor_enrolled,
        "locked_until": user.locked_until,
        "last_login_at": user.last_login_at,
        "created_at": user.created_at,
    }


def list_users(actor: Actor, agency_code: str | None = None, *, pending: bool = False):
    """Accounts the actor manages (one agency's, or every agency's for a system admin);
    ``pending``: only those with roles waiting for approval."""
    if agency_code is None and not permissions.may(actor, "admin:users:any", "manage"):
        agency_code = actor.agency
    if agency_code is not None and not permissions.may_manage_users_of(actor, agency_code):
        refuse(
            actor,
            "admin.users_list",
            "You may not list users of this agency.",
            detail={"agency": agency_code},
        )
    query = select(User).join(Agency).order_by(User.username)
    if agency_code is not None:
        query = query.where(Agency.code == agency_code)
    listed = list(db.session.scalars(query))
    if pending:
        waiting = grants.pending_user_ids()
        listed = [user for user in listed if user.id in waiting]
    return listed


@dataclass(frozen=True)
class CreatedUser:
    user: User
    initial_password: str | None


def _cross_agency_admin_grant(actor: Actor, agency: str, roles: set[str]) -> bool:
    """Admin roles given by someone outside the agency designate who speaks for it: not
    blocked (a new agency's first administrator comes from outside), but flagged."""
    return bool(roles & ADMIN_ROLES) and not grants.is_agency_act(actor, agency)


def create_user(actor: Actor, data: dict[str, Any]) -> CreatedUser:
    """Create an account. Roles that read client records, granted from outside the
    account's agency, wait for that agency's approval and the account stays inactive."""
    roles = set(data["roles"])
    username = data["username"].lower()
    if not permissions.may_manage_users_of(actor, data["agency"]):
        _refuse(
            actor,
            "user_created",
            "You may not manage users of this agency.",
            username,
            agency=data["agency"],
            roles=sorted(roles),
        )
    _authorize_roles(actor, "user_created", data["agency"], roles, username)
    agency = get_agency(data["agency"])
    kind = "integration" if roles == {"integration"} else "human"
    if "integration" in roles and kind == "human":
        raise ValidationFailed(
            "An integration account holds only the integration role.",
            details={"roles": ["'integration' cannot be combined with other roles."]},
        )
    password = data.get("password")
    initial_password = None
    if kind == "integration" and password:
        raise ValidationFailed(
            "Integration accounts sign in with tokens only.",
            details={"password": ["Not allowed for an integration account."]},
        )
    if kind == "human" and not password:
        initial_password = password = secrets.token_urlsafe(15)
    if password and (problems := password_problems(password, username)):
        raise ValidationFailed("The password is too weak.", details={"password": problems})
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(
            f"A user named {username!r} already exists.", details={"username": ["Already taken."]}
        )
    pending = set()
    if not grants.is_agency_act(actor, agency.code):
        pending = roles & grants.reader_roles(agency.code)
    user = User(
        username=username,
        agency_id=agency.id,
        kind=kind,
        display_name=data.get("display_name"),
        email=data.get("email"),
        password_hash=hash_password(password) if password else None,
        active=not pending,
        created_by_user_id=actor.user_id,
        created_from_ip=current_origin().ip,
    )
    db.session.add(user)
    db.session.flush()
    policy.set_roles(db.session, username, agency.code, roles - pending)
    after = describe(user) | {"roles": sorted(roles - pending), "pending_roles": sorted(pending)}
    detail: dict[str, Any] = {"before": None, "after": _jsonable(after)}
    if _cross_agency_admin_grant(actor, agency.code, roles):
        detail["review_required"] = True
    record(
        "admin.user_created",
        actor=actor,
        target_type="user",
        target_id=username,
        detail=detail,
        session=db.session,
    )
    if pending:
        grants.open_grant(actor, user, pending, new_account=True)
    db.session.commit()
    return CreatedUser(user=user, initial_password=initial_password)


def bootstrap_admin(
    actor: Actor, username: str, password: str, agency_code: str, agency_name: str
) -> User:
    """First system administrator of an installation; creates its agency if needed."""
    from caseops.agencies.service import create_agency

    if not password:
        raise ValidationFailed(
            "The first administrator needs a password.", details={"password": ["Required."]}
        )
    if db.session.scalar(select(Agency.id).where(Agency.code == agency_code)) is None:
        create_agency(actor, {"code": agency_code, "name": agency_name, "kind": "operations"})
    data = UserCreateSchema().load(
        {
            "username": username,
            "agency": agency_code,
            "roles": ["system_admin"],
            "password": password,
        }
    )
    return create_user(actor, data).user


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items()}


def _change(
    actor: Actor,
    user: User,
    action: str,
    apply,
    new_roles: set[str] | None = None,
    review_required: bool = False,
):
    """Authorize, apply, log before/after, commit: one transaction per change."""
    _authorize_existing(actor, action, user, new_roles)
    before = _jsonable(describe(user))
    apply()
    db.session.flush()
    after = _jsonable(describe(user))
    detail: dict[str, Any] = {"before": before, "after": after}
    if review_required:
        detail["review_required"] = True
    record(
        f"admin.{action}",
        actor=actor,
        target_type="user",
        target_id=user.username,
        detail=detail,
        session=db.session,
    )
    db.session.commit()
    return user


def deactivate(actor: Actor, username: str) -> User:
    user = load_user(actor, username, "user_deactivated")

    def apply() -> None:
        user.active = False
        auth_service.end_all_sessions(user, "deactivated", utcnow())

    return _change(actor, user, "user_deactivated", apply)


def reactivate(actor: Actor, username: str) -> User:
    """Reactivate an account; one waiting for its agency's approval is activated only by
    the approval."""
    user = load_user(actor, username, "user_reactivated")
    grant = grants.pending_grant(user)
    if grant is not None and grant.new_account:
        raise Conflict(
            f"{user.username!r} awaits approval by an administrator of {user.agency.code}.",
            details={"username": ["Awaiting approval."]},
        )

    def apply() -> None:
        user.active = True

    return _change(actor, user, "user_reactivated", apply)


def reset_second_factor(actor: Actor, username: str) -> User:
    """Forget the authenticator and recovery codes; the next login enrols afresh."""
    user = load_user(actor, username, "second_factor_reset")

    def apply() -> None:
        user.totp_secret_encrypted = None
        user.totp_confirmed_at = None
        user.totp_last_step = None
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        auth_service.end_all_sessions(user, "second_factor_reset", utcnow())

    return _change(actor, user, "second_factor_reset", apply)


def unlock(actor: Actor, username: str) -> User:
    user = load_user(actor, username, "user_unlocked")

    def apply() -> None:
        user.failed_logins = 0
        user.locked_until = None

    return _change(actor, user, "user_unlocked", apply)


def change_roles(actor: Actor, username: str, roles: list[str]) -> User:
    """Replace the roles. Added roles that read client records, from outside the account's
    agency, wait for approval; removals apply at once (they only narrow)."""
    user = load_user(actor, username, "roles_changed")
    new_roles = set(roles)
    if user.kind == "integration" and new_roles != {"integration"}:
        raise ValidationFailed(
            "An integration account holds only the integration role.",
            details={"roles": ["Must be exactly ['integration'] for this account."]},
        )
    if user.kind == "human" and "integration" in new_roles:
        raise ValidationFailed(
            "A person cannot hold the integration role.",
            details={"roles": ["'integration' is for agency system accounts."]},
        )
    agency = user.agency.code
    held = set(policy.stored_roles(db.session, user.username))
    pending: set[str] = set()
    if not grants.is_agency_act(actor, agency):
        pending = (new_roles - held) & grants.reader_roles(agency)

    def apply() -> None:
        old = grants.supersede(actor, user)
        policy.set_roles(db.session, user.username, agency, new_roles - pending)
        if pending:
            new_account = old is not None and old.new_account and not user.active
            grants.open_grant(actor, user, pending, new_account=new_account)

    return _change(
        actor,
        user,
        "roles_changed",
        apply,
        new_roles,
        review_required=_cross_agency_admin_grant(actor, agency, new_roles - held),
    )


def approve(actor: Actor, username: str) -> User:
    """An administrator of the account's own agency (never the grantor) puts the pending
    roles in force, and activates an account created with them."""
    user = load_user(actor, username, "grant_approved")
    grant = grants.pending_grant(user)
    if grant is None:
        raise Conflict(
            f"Nothing of {user.username!r} awaits approval.",
            details={"username": ["No pending roles."]},
        )
    target = user.username
    if not grants.may_approve(actor, user):
        message = f"Only an administrator of {user.agency.code} may approve this grant."
        _refuse(actor, "grant_approved", message, target, grant=grant.id)
    if actor.username == grant.granted_by:
        message = "The administrator who granted the roles cannot approve them."
        _refuse(actor, "grant_approved", message, target, grant=grant.id, same_person=True)
    held = _authorize_existing(actor, "grant_approved", user, set(grant.roles))

    def apply() -> None:
        grants.decide(actor, grant, "approved")
        policy.set_roles(db.session, user.username, user.agency.code, held | set(grant.roles))
        if grant.new_account:
            user.active = True

    try:
        approved = _change(actor, user, "grant_approved", apply)
    except IntegrityError as error:  # a concurrent decision closed the grant first
        db.session.rollback()
        raise Conflict(f"The grant of {target!r} was already decided.") from error
    return approved


def may_approve(actor: Actor, user: User) -> bool:
    """Whether the page should offer ``actor`` the Approve button for ``user``."""
    grant = grants.pending_grant(user)
    return (
        grant is not None
        and grants.may_approve(actor, user)
        and actor.username != grant.granted_by
        and actor.user_id != user.id
    )


# --- tokens -----------------------------------------------------------------------------


def _authorize_token(actor: Actor, user: User, action: str) -> None:
    if actor.user_id != user.id:
        _authorize_existing(actor, action, user)


def create_token(actor: Actor, username: str, data: dict[str, Any]) -> auth_service.IssuedToken:
    """Issue a token for ``username``; its scopes never exceed the user's (or caller's) roles.

    A token carrying a role that reads client records, or an administrator role (which
    speaks for the agency, approvals included), is issued by the account itself or from
    inside its agency: an administrator elsewhere would otherwise read, or approve their
    own grants, through it.
    """
    user = load_user(actor, username, "token_created")
    _authorize_token(actor, user, "token_created")
    held = set(policy.stored_roles(db.session, user.username))
    ceiling = held & actor.roles if actor.user_id == user.id and actor.token_id else held
    scopes = set(data.get("scopes") or ceiling)
    if excess := sorted(scopes - ceiling):
        raise ValidationFailed(
            "A token cannot carry more than its user's roles.",
            details={"scopes": [f"Not held: {', '.join(excess)}."]},
        )
    agency = user.agency.code
    outside = actor.user_id != user.id and not grants.is_agency_act(actor, agency)
    if outside and (voiced := sorted(scopes & (grants.reader_roles(agency) | ADMIN_ROLES))):
        message = (
            "A token that reads client records or administers an agency is issued by "
            f"its account or an administrator of {agency}; leave out: {', '.join(voiced)}."
        )
        _refuse(actor, "token_created", message, user.username, scopes=voiced)
    if not user.active:
        raise Conflict("The user is deactivated.", details={"username": ["Deactivated."]})
    days = data.get("expires_in_days") or DEFAULT_TOKEN_DAYS
    issued = auth_service.issue_token(
        user,
        scopes=sorted(scopes),
        expires_at=utcnow() + timedelta(days=days),
        name=data.get("name"),
        created_by=actor,
    )
    record(
        "auth.token_created",
        actor=actor,
        target_type="api_token",
        target_id=str(issued.token.id),
        detail={
            "user": user.username,
            "scopes": sorted(scopes),
            "expires_at": issued.token.expires_at.isoformat(),
        },
        session=db.session,
    )
    db.session.commit()
    return issued


def list_tokens(actor: Actor, username: str) -> list[ApiToken]:
    user = load_user(actor, username, "tokens_listed")
    _authorize_token(actor, user, "tokens_listed")
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
        )
    )


def revoke_token(actor: Actor, username: str, token_id: int) -> ApiToken:
    user = load_user(actor, username, "token_revoked")
    _authorize_token(actor, user, "token_revoked")
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(f"{username!r} has no token {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        token.revoked_by = actor.username
        record(
            "auth.token_revoked",
            actor=actor,
            target_type="api_token",
            target_id=str(token.id),
            detail={"user": user.username},
            session=db.session,
        )
        db.session.commit()
    return token
