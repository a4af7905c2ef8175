"""User administration. Every change is one transaction with its before/after audit entry.

Who may manage whom is decided by the Casbin policy: ``admin:users:any`` (any agency) or
``admin:users:own`` (own agency only), and ``role:<name>``/``assign`` for every role the
target holds or is given — so an agency admin cannot touch admins or grant admin roles.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from caseops.agencies.models import Agency
from caseops.agencies.service import get_agency
from caseops.audit.service import record
from caseops.auth import service as auth_service
from caseops.auth.models import ApiToken
from caseops.auth.passwords import hash_password, password_problems
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.db_types import utcnow
from caseops.errors import Conflict, Forbidden, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.users.models import RecoveryCode, User
from caseops.users.schemas import UserCreateSchema

DEFAULT_TOKEN_DAYS = 90


def get_user(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username.lower()))
    if user is None:
        raise NotFound(f"No user named {username!r}.")
    return user


def view_user(actor: Actor, username: str) -> User:
    user = get_user(username)
    if user.id != actor.user_id and not _may_manage_agency(actor, user.agency.code):
        raise Forbidden("You may not view users of this agency.")
    return user


def _may_manage_agency(actor: Actor, agency_code: str) -> bool:
    if actor.is_operator:
        return True
    if policy.allowed(actor, "admin:users:any", "manage"):
        return True
    return agency_code == actor.agency and policy.allowed(actor, "admin:users:own", "manage")


def _unassignable(actor: Actor, roles: set[str]) -> list[str]:
    if actor.is_operator:
        return []
    return sorted(role for role in roles if not policy.allowed(actor, f"role:{role}", "assign"))


def _authorize(actor: Actor, action: str, agency_code: str, roles: set[str], target: str) -> None:
    """Refuse (and log the refusal) unless ``actor`` may manage this agency and these roles."""
    reason = None
    if not _may_manage_agency(actor, agency_code):
        reason = "You may not manage users of this agency."
    elif blocked := _unassignable(actor, roles):
        reason = f"You may not manage users holding or receiving: {', '.join(blocked)}."
    if reason:
        record(
            f"admin.{action}",
            actor=actor,
            outcome="denied",
            target_type="user",
            target_id=target,
            detail={"agency": agency_code, "roles": sorted(roles), "reason": reason},
        )
        raise Forbidden(reason)


def _authorize_existing(actor: Actor, action: str, user: User, new_roles: set[str] | None = None):
    held = set(policy.stored_roles(db.session, user.username))
    _authorize(actor, action, user.agency.code, held | (new_roles or set()), user.username)
    if user.id == actor.user_id and action != "token_created":
        raise Forbidden("Ask another administrator to change your own account.")
    return held


def describe(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "agency": user.agency.code,
        "kind": user.kind,
        "display_name": user.display_name,
        "email": user.email,
        "active": user.active,
        "roles": policy.stored_roles(db.session, user.username),
        "second_factor_enrolled": user.second_factor_enrolled,
        "locked_until": user.locked_until,
        "last_login_at": user.last_login_at,
        "created_at": user.created_at,
    }


def list_users(actor: Actor, agency_code: str | None = None) -> list[User]:
    if agency_code is None and not policy.allowed(actor, "admin:users:any", "manage"):
        agency_code = actor.agency
    if agency_code is not None and not _may_manage_agency(actor, agency_code):
        raise Forbidden("You may not list users of this agency.")
    query = select(User).join(Agency).order_by(User.username)
    if agency_code is not None:
        query = query.where(Agency.code == agency_code)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class CreatedUser:
    user: User
    initial_password: str | None


def create_user(actor: Actor, data: dict[str, Any]) -> CreatedUser:
    roles = set(data["roles"])
    username = data["username"].lower()
    _authorize(actor, "user_created", data["agency"], roles, username)
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
    user = User(
        username=username,
        agency_id=agency.id,
        kind=kind,
        display_name=data.get("display_name"),
        email=data.get("email"),
        password_hash=hash_password(password) if password else None,
    )
    db.session.add(user)
    db.session.flush()
    policy.set_roles(db.session, username, agency.code, roles)
    after = describe(user) | {"roles": sorted(roles)}
    record(
        "admin.user_created",
        actor=actor,
        target_type="user",
        target_id=username,
        detail={"before": None, "after": _jsonable(after)},
        session=db.session,
    )
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


def _change(actor: Actor, user: User, action: str, apply, new_roles: set[str] | None = None):
    """Authorize, apply, log before/after, commit: one transaction per change."""
    _authorize_existing(actor, action, user, new_roles)
    before = _jsonable(describe(user))
    apply()
    db.session.flush()
    after = _jsonable(describe(user))
    record(
        f"admin.{action}",
        actor=actor,
        target_type="user",
        target_id=user.username,
        detail={"before": before, "after": after},
        session=db.session,
    )
    db.session.commit()
    return user


def deactivate(actor: Actor, username: str) -> User:
    user = get_user(username)

    def apply() -> None:
        user.active = False
        auth_service.end_all_sessions(user, "deactivated", utcnow())

    return _change(actor, user, "user_deactivated", apply)


def reactivate(actor: Actor, username: str) -> User:
    user = get_user(username)

    def apply() -> None:
        user.active = True

    return _change(actor, user, "user_reactivated", apply)


def reset_second_factor(actor: Actor, username: str) -> User:
    """Forget the authenticator and recovery codes; the next login enrols afresh."""
    user = get_user(username)

    def apply() -> None:
        user.totp_secret_encrypted = None
        user.totp_confirmed_at = None
        user.totp_last_step = None
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        auth_service.end_all_sessions(user, "second_factor_reset", utcnow())

    return _change(actor, user, "second_factor_reset", apply)


def unlock(actor: Actor, username: str) -> User:
    user = get_user(username)

    def apply() -> None:
        user.failed_logins = 0
        user.locked_until = None

    return _change(actor, user, "user_unlocked", apply)


def change_roles(actor: Actor, username: str, roles: list[str]) -> User:
    user = get_user(username)
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

    def apply() -> None:
        policy.set_roles(db.session, user.username, user.agency.code, new_roles)

    return _change(actor, user, "roles_changed", apply, new_roles)


# --- tokens -----------------------------------------------------------------------------


def _authorize_token(actor: Actor, user: User, action: str) -> None:
    if actor.user_id != user.id:
        _authorize_existing(actor, action, user)


def create_token(actor: Actor, username: str, data: dict[str, Any]) -> auth_service.IssuedToken:
    """Issue a token for ``username``; its scopes never exceed the user's (or caller's) roles."""
    user = get_user(username)
    _authorize_token(actor, user, "token_created")
    held = set(policy.stored_roles(db.session, user.username))
    ceiling = held & actor.roles if actor.user_id == user.id and actor.token_id else held
    scopes = set(data.get("scopes") or ceiling)
    if excess := sorted(scopes - ceiling):
        raise ValidationFailed(
            "A token cannot carry more than its user's roles.",
            details={"scopes": [f"Not held: {', '.join(excess)}."]},
        )
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
    user = get_user(username)
    _authorize_token(actor, user, "tokens_listed")
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
        )
    )


def revoke_token(actor: Actor, username: str, token_id: int) -> ApiToken:
    user = get_user(username)
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
