"""Login (password, then TOTP), server-side sessions and API tokens.

Every outcome is written through the audit writer. Failures all raise the same
``LoginFailed`` so a caller cannot tell an unknown name from a wrong password, a wrong
code or a locked account.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, or_, select, update

from caseops.agencies.models import Agency
from caseops.audit.service import record
from caseops.auth import totp
from caseops.auth.models import ApiToken, UserSession
from caseops.auth.passwords import hash_password, needs_rehash, verify_password
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.context import current_origin
from caseops.crypto import keyring_from_config
from caseops.db_types import utcnow
from caseops.errors import DomainError
from caseops.extensions import db
from caseops.storage.pipeline import Read, column_rows
from caseops.users.models import RecoveryCode, User

# An account used within this long of its creation, from its creator's address or still-open
# session, is flagged: an administrator may be reading through an account they made.
CREATOR_USE_WINDOW = timedelta(hours=24)
LOCKOUT_THRESHOLD = 5
LOCKOUT_BASE = timedelta(seconds=30)
LOCKOUT_MAX = timedelta(hours=1)
TOKEN_PREFIX = "cop"  # noqa: S105 - a label, not a secret
LAST_USED_GRANULARITY = timedelta(seconds=60)
SESSION_TOUCH_GRANULARITY = timedelta(seconds=15)
GENERIC_LOGIN_MESSAGE = "Invalid username, password or code."


class LoginFailed(DomainError):
    status, code = 401, "login_failed"

    def __init__(self) -> None:
        super().__init__(GENERIC_LOGIN_MESSAGE)


def actor_for(user: User) -> Actor:
    """The user's roles in force now (a bearer request's: ``actor_for_token``)."""
    return Actor(
        username=user.username,
        user_id=user.id,
        agency=user.agency.code,
        roles=policy.roles_of(user.username, user.agency.code),
    )


def lockout_delay(failures: int) -> timedelta | None:
    """Doubling delay once the threshold is reached: 30 s, 60 s, 120 s ... up to an hour."""
    if failures < LOCKOUT_THRESHOLD:
        return None
    doublings = min(failures - LOCKOUT_THRESHOLD, 16)
    return min(LOCKOUT_BASE * (2**doublings), LOCKOUT_MAX)


def _find_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username.strip().lower()))


def _fail(user: User | None, claimed: str, reason: str, now: datetime) -> LoginFailed:
    """Count the failure, maybe lock, log it, commit; return the generic error to raise."""
    actor = actor_for(user) if user is not None else Actor.unauthenticated(claimed)
    if user is not None and reason != "locked":
        user.failed_logins += 1
        delay = lockout_delay(user.failed_logins)
        if delay is not None:
            user.locked_until = now + delay
            record(
                "auth.lockout",
                actor=actor,
                outcome="denied",
                target_type="user",
                target_id=user.username,
                detail={
                    "failed_logins": user.failed_logins,
                    "locked_seconds": int(delay.total_seconds()),
                },
                session=db.session,
            )
    record(
        "auth.login",
        actor=actor,
        outcome="failure",
        target_type="user",
        target_id=user.username if user else None,
        detail={"reason": reason},
        session=db.session,
    )
    db.session.commit()
    return LoginFailed()


def _usable(user: User | None) -> bool:
    return user is not None and user.active and user.is_human


def check_password(username: str, password: str, now: datetime | None = None) -> User:
    """First step: the password. Returns the user, who must still pass the second factor."""
    now = now or utcnow()
    user = _find_user(username)
    if user is not None and user.locked_until is not None and user.locked_until > now:
        verify_password(None, password)
        raise _fail(user, username, "locked", now)
    if not verify_password(user.password_hash if _usable(user) else None, password):
        raise _fail(user if _usable(user) else None, username, "bad_credentials", now)
    assert user is not None
    if needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
        db.session.commit()
    return user


def _check_not_locked(user: User, now: datetime) -> None:
    if not _usable(user):
        raise _fail(None, user.username, "bad_credentials", now)
    if user.locked_until is not None and user.locked_until > now:
        raise _fail(user, user.username, "locked", now)


def _secret(user: User) -> str:
    if user.totp_secret_encrypted is None:
        raise LoginFailed()
    keyring = keyring_from_config(current_app.config)
    return keyring.decrypt(user.totp_secret_encrypted, f"totp:{user.id}").decode()


def begin_enrolment(user: User) -> str:
    """The not-yet-confirmed secret of a user who must enrol (made once, encrypted at rest),
    so reloading the page does not invalidate a code already scanned."""
    if user.second_factor_enrolled:
        raise DomainError("Second factor already enrolled.", code="already_enrolled")
    if user.totp_secret_encrypted is not None:
        return _secret(user)
    secret = totp.new_secret()
    keyring = keyring_from_config(current_app.config)
    user.totp_secret_encrypted = keyring.encrypt(secret.encode(), f"totp:{user.id}")
    user.totp_last_step = None
    db.session.commit()
    return secret


@dataclass(frozen=True)
class LoginResult:
    session: UserSession
    recovery_codes: list[str]


def confirm_enrolment(user: User, code: str, now: datetime | None = None) -> LoginResult:
    """Prove the authenticator works, then issue recovery codes and log in."""
    now = now or utcnow()
    _check_not_locked(user, now)
    if user.second_factor_enrolled:
        raise LoginFailed()
    step = totp.matching_step(_secret(user), code, now, user.totp_last_step)
    if step is None:
        raise _fail(user, user.username, "bad_enrolment_code", now)
    user.totp_last_step = step
    user.totp_confirmed_at = now
    codes = totp.new_recovery_codes()
    for material in codes:
        db.session.add(
            RecoveryCode(
                user_id=user.id, selector=material.selector, code_hash=material.verifier_hash
            )
        )
    record(
        "auth.second_factor_enrolled",
        actor=actor_for(user),
        target_type="user",
        target_id=user.username,
        session=db.session,
    )
    session = _start_session(user, now, method="totp_enrolment")
    return LoginResult(session=session, recovery_codes=[m.code for m in codes])


def verify_second_factor(user: User, code: str, now: datetime | None = None) -> UserSession:
    """Second step: a TOTP code (never the same step twice) or an unused recovery code."""
    now = now or utcnow()
    _check_not_locked(user, now)
    if not user.second_factor_enrolled:
        raise LoginFailed()
    step = totp.matching_step(_secret(user), code, now, user.totp_last_step)
    if step is not None:
        user.totp_last_step = step
        return _start_session(user, now, method="totp")
    parts = totp.split_recovery_code(code)
    if parts is not None:
        row = db.session.scalar(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.selector == parts[0],
                RecoveryCode.used_at.is_(None),
            )
        )
        if row is not None and totp.recovery_verifier_matches(row.code_hash, parts[1]):
            # Conditional update: two racing uses of one code cannot both succeed.
            used = db.session.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                .values(used_at=now)
            )
            if used.rowcount == 1:
                return _start_session(user, now, method="recovery_code")
    raise _fail(user, user.username, "bad_second_factor", now)


def creator_origin(user: User, now: datetime) -> dict[str, object] | None:
    """Whether ``user`` is being used from where the administrator who created it works.

    "Same address": the request comes from the IP the account was created from. "Same
    session": the creator still has an open session from this IP and browser (the login
    form replaces the creator's cookie, so the open server-side session is what remains
    of it). Only within ``CREATOR_USE_WINDOW`` of the creation, and only for people:
    accounts the CLI operator made (no creator account) are exempt, and integration
    accounts are set up by administrators by design.
    """
    creator = user.created_by_user_id
    if not user.is_human or creator is None or creator == user.id:
        return None
    if now - user.created_at > CREATOR_USE_WINDOW:
        return None
    origin = current_origin()
    if origin.ip is None:
        return None
    reasons = []
    if user.created_from_ip == origin.ip:
        reasons.append("same_address")
    creator_session = db.session.scalar(
        select(UserSession.id)
        .where(
            UserSession.user_id == creator,
            UserSession.ended_at.is_(None),
            UserSession.ip == origin.ip,
            UserSession.user_agent == ((origin.user_agent or "")[:512] or None),
        )
        .limit(1)
    )
    if creator_session is not None:
        reasons.append("same_session")
    if not reasons:
        return None
    by = db.session.get(User, creator)
    return {
        "review_required": True,
        "creator": by.username if by is not None else None,
        "created_at": user.created_at.isoformat(),
        "reasons": reasons,
    }


def _flag_creator_use(user: User, now: datetime, via: str) -> dict[str, object] | None:
    """Log ``auth.creator_used_account`` for the privacy officers if the account is used
    from its creator's address or session; the flag, for the caller's own entry."""
    flag = creator_origin(user, now)
    if flag is not None:
        record(
            "auth.creator_used_account",
            actor=actor_for(user),
            target_type="user",
            target_id=user.username,
            detail=flag | {"via": via},
            session=db.session,
        )
    return flag


def _start_session(user: User, now: datetime, method: str) -> UserSession:
    origin = current_origin()
    session = UserSession(
        id=secrets.token_urlsafe(32),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        ip=origin.ip,
        user_agent=(origin.user_agent or "")[:512] or None,
    )
    db.session.add(session)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    detail: dict[str, object] = {"method": method}
    if _flag_creator_use(user, now, "login") is not None:
        detail |= {"review_required": True, "flag": "creator_origin"}
    record(
        "auth.login",
        actor=actor_for(user),
        target_type="user",
        target_id=user.username,
        detail=detail,
        session=db.session,
    )
    db.session.commit()
    return session


def end_session(session_id: str, reason: str, actor: Actor, now: datetime | None = None) -> None:
    row = db.session.get(UserSession, session_id)
    if row is None or row.ended_at is not None:
        return
    row.ended_at = now or utcnow()
    row.end_reason = reason
    action = "auth.logout" if reason == "logout" else "auth.session_ended"
    record(
        action,
        actor=actor,
        target_type="user",
        target_id=row.user.username,
        detail={"reason": reason},
        session=db.session,
    )
    db.session.commit()


def end_all_sessions(user: User, reason: str, now: datetime) -> int:
    """End every open session of ``user`` inside the caller's transaction."""
    result = db.session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )
    return result.rowcount or 0


_SESSION_QUERY = select(UserSession).where(UserSession.id == bindparam("session_id"))


def session_reads(session_id: str) -> list[Read]:
    """What resolving a session cookie and the user's roles read — the session row with
    its user and agency, and the policy version — for one pipeline (``token_reads``)."""
    return [(_SESSION_QUERY, {"session_id": session_id}), (policy.VERSION_QUERY, {})]


def resolve_session(session_id: str, now: datetime | None = None) -> User | None:
    """The user behind a session cookie, or None if it ended, idled or outlived its maximum."""
    now = now or utcnow()
    row = db.session.scalar(_SESSION_QUERY, {"session_id": session_id})
    if row is None or row.ended_at is not None:
        return None
    user = row.user
    idle = timedelta(seconds=current_app.config["CASEOPS_IDLE_TIMEOUT"])
    absolute = timedelta(seconds=current_app.config["CASEOPS_ABSOLUTE_TIMEOUT"])
    expired = None
    if now - row.created_at > absolute:
        expired = "absolute_timeout"
    elif now - row.last_seen_at > idle:
        expired = "idle_timeout"
    elif not user.active:
        expired = "deactivated"
    if expired:
        end_session(row.id, expired, actor_for(user), now)
        return None
    if now - row.last_seen_at > SESSION_TOUCH_GRANULARITY:
        row.last_seen_at = now
        db.session.commit()
    return user


# --- API tokens -----------------------------------------------------------------------


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str


def issue_token(
    user: User,
    *,
    scopes: list[str],
    expires_at: datetime | None,
    name: str | None,
    created_by: Actor,
) -> IssuedToken:
    """Create a token inside the caller's transaction; the plaintext exists only here."""
    public_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    token = ApiToken(
        public_id=public_id,
        secret_hash=_hash_secret(secret),
        user_id=user.id,
        name=name,
        scopes=sorted(set(scopes)),
        created_by=created_by.username,
        expires_at=expires_at,
    )
    db.session.add(token)
    db.session.flush()
    return IssuedToken(token=token, plaintext=f"{TOKEN_PREFIX}_{public_id}_{secret}")


_TOKEN_ROW = (
    select(
        ApiToken.id.label("token_id"),
        ApiToken.secret_hash,
        ApiToken.scopes,
        ApiToken.expires_at,
        ApiToken.revoked_at,
        ApiToken.last_used_at,
        User.id.label("user_id"),
        User.username,
        User.active,
        User.locked_until,
        Agency.code.label("agency"),
        policy.VERSION_COLUMN.label("policy_version"),
    )
    .join(User, User.id == ApiToken.user_id)
    .join(Agency, Agency.id == User.agency_id)
    .where(ApiToken.public_id == bindparam("public_id"))
)


class TokenCaller:
    """Who a bearer request is, read as one row (the token, its user, their agency):
    what Flask-Login holds as ``current_user`` for the request. Every bearer request
    reads it, so it is columns rather than three ORM entities (issue 20: the entities
    cost more than the rest of authentication); nothing of the request writes through
    it (the last-used time is written through the ``ApiToken`` entity, loaded then)."""

    __slots__ = (
        "active",
        "agency",
        "id",
        "locked_until",
        "policy_version",
        "scopes",
        "token_id",
        "username",
    )
    is_authenticated = True
    is_anonymous = False

    def __init__(self, row) -> None:
        self.id: int = row.user_id
        self.username: str = row.username
        self.agency: str = row.agency
        self.active: bool = bool(row.active)
        self.locked_until: datetime | None = row.locked_until
        self.token_id: int = row.token_id
        self.scopes: frozenset[str] = frozenset(row.scopes or ())
        # read in the same statement as the token (``token_reads``)
        self.policy_version: int | None = row.policy_version

    @property
    def is_active(self) -> bool:  # flask-login, as ``User.is_active``
        return self.active

    def get_id(self) -> str:
        return str(self.id)


def actor_for_token(caller: TokenCaller) -> Actor:
    """A bearer caller's actor: the user's roles in force now, narrowed to the token's
    scopes."""
    return Actor(
        username=caller.username,
        user_id=caller.id,
        agency=caller.agency,
        roles=policy.roles_of(caller.username, caller.agency) & caller.scopes,
        token_id=caller.token_id,
    )


def _token_parts(raw: str) -> tuple[str, str] | None:
    prefix, _, rest = raw.partition("_")
    public_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or not public_id or not secret:
        return None
    return public_id, secret


def token_reads(raw: str) -> list[Read]:
    """What resolving this bearer value reads — the token with its user, their agency and
    the policy version, one statement — for a prefetch (``caseops.storage.pipeline``:
    one statement, so one plain execution, no pipeline). Nothing about any client is read
    before the caller is known: a view's reads may go in the same statement only behind
    ``token_gate`` (below), so the time a refused token takes cannot depend on a client's
    records."""
    parts = _token_parts(raw)
    if parts is None:
        return []
    return [(_TOKEN_ROW, {"public_id": parts[0]})]


# ``resolve_token``'s acceptance as SQL, for one identity: a row exactly when
# ``resolve_token(raw, now)`` accepts the token and answers this user of this agency.
# Property-tested equal (tests/auth/test_token_gate.py), so a request may send its view's
# reads in the token's own statement behind it: PostgreSQL runs them only for a caller
# ``resolve_token`` will accept (caseops.storage.pipeline.prefetch's ``gate``).
_TOKEN_GATE = (
    select(ApiToken.id)
    .join(User, User.id == ApiToken.user_id)
    .join(Agency, Agency.id == User.agency_id)
    .where(
        ApiToken.public_id == bindparam("public_id"),
        ApiToken.secret_hash == bindparam("secret_hash"),
        ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > bindparam("now")),
        User.active,
        User.id == bindparam("user_id"),
        Agency.code == bindparam("agency"),
    )
)

# Who each bearer value accepted in this process last answered, by the token's public id
# and secret hash: what a request may *guess* its caller is, to build its view's reads
# before the token is read. Never an authority: the gate and ``resolve_token`` decide on
# the row read in the request, a wrong guess only costs a round trip, and a refusal
# forgets the value. Bounded; cleared whole when full.
_RECENT_CALLERS_MAX = 4096
_recent_callers: dict[tuple[str, str], TokenCaller] = {}


def recent_caller(raw: str, now: datetime) -> tuple[TokenCaller, Read] | None:
    """Who this bearer value was when last accepted here, with the gate that holds
    exactly when it still is (``_TOKEN_GATE`` with ``now``); None for a value not
    accepted in this process (a forged or mistyped one never is)."""
    parts = _token_parts(raw)
    if parts is None:
        return None
    public_id, secret = parts
    secret_hash = _hash_secret(secret)
    caller = _recent_callers.get((public_id, secret_hash))
    if caller is None:
        return None
    gate = {
        "public_id": public_id,
        "secret_hash": secret_hash,
        "now": now,
        "user_id": caller.id,
        "agency": caller.agency,
    }
    return caller, (_TOKEN_GATE, gate)


def _remember_caller(key: tuple[str, str], caller: TokenCaller | None) -> None:
    if caller is None:
        _recent_callers.pop(key, None)
        return
    if len(_recent_callers) >= _RECENT_CALLERS_MAX and key not in _recent_callers:
        _recent_callers.clear()
    _recent_callers[key] = caller


def resolve_token(raw: str, now: datetime | None = None) -> TokenCaller | str:
    """Who is behind a bearer value, or a short reason it was refused."""
    now = now or utcnow()
    parts = _token_parts(raw)
    if parts is None:
        return "malformed"
    public_id, secret = parts
    secret_hash = _hash_secret(secret)
    accepted = _accepted_row(public_id, secret_hash, now)
    if isinstance(accepted, str):  # why it was refused
        _remember_caller((public_id, secret_hash), None)
        return accepted
    caller = TokenCaller(accepted)
    _remember_caller((public_id, secret_hash), caller)
    return caller


def _accepted_row(public_id: str, secret_hash: str, now: datetime):
    """The token's row when it is accepted (``_TOKEN_GATE`` holds exactly then, for its
    user and agency), else why not."""
    rows = column_rows(db.session, _TOKEN_ROW, {"public_id": public_id})
    row = rows[0] if rows else None
    if row is None or not hmac.compare_digest(row.secret_hash, secret_hash):
        return "unknown"
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    if not row.active:
        return "user_inactive"
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY:
        # once a minute per token: the entity, to write through
        token = db.session.get(ApiToken, row.token_id)
        if token is not None:
            if token.last_used_at is None:  # first use: checked once per token
                _flag_creator_use(token.user, now, f"token:{token.id}")
            token.last_used_at = now
            db.session.commit()
    return row
