"""The Casbin enforcer: the single source of truth for what a role may do.

Rules live in ``casbin_rule`` (sqlalchemy-adapter's table) and are changed only inside
the caller's transaction together with a bump of ``policy_version`` and an audit entry.
Each process keeps one enforcer and reloads it when the version moved, checked once per
request, so every gunicorn worker sees a change on its next request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import casbin
from flask import current_app, g, has_request_context
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy_adapter import Adapter

from caseops.authz.actor import Actor
from caseops.authz.models import CasbinRule, PolicyVersion
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.storage.pipeline import column_rows
from caseops.storage.pools import side_engine

MODEL_PATH = Path(__file__).with_name("model.conf")


# The one statement every request pays for the policy (its version, to know whether the
# cached enforcer is current); hot paths send it in their first pipeline
# (``caseops.storage.pipeline``), so it must stay this very statement.
VERSION_QUERY = select(PolicyVersion.version).where(PolicyVersion.id == 1)
# The version as a column of another statement (NULL when the row is missing, as
# ``VERSION_QUERY`` then answers no row).
VERSION_COLUMN = VERSION_QUERY.scalar_subquery()


class _Loaded:
    """One loaded policy: its enforcer, the version it was loaded at, and what was asked
    of it. The answers belong to this enforcer alone, so a request still holding an older
    one (it began before the version moved) can never write its answers where a newer
    enforcer's are kept."""

    __slots__ = ("answers", "enforcer", "engine_id", "roles", "version")

    def __init__(self, enforcer: casbin.Enforcer, version: int | None, engine_id: int) -> None:
        self.enforcer = enforcer
        self.version = version
        self.engine_id = engine_id
        # (role, agency, obj, act) -> Casbin's verdict at this version: the policy
        # compiled lazily, question by question
        self.answers: dict[tuple[str, str, str, str], tuple[bool, bool]] = {}
        # (username, agency) -> the roles granted at this version (every request asks)
        self.roles: dict[tuple[str, str], frozenset[str]] = {}


_UNREAD = object()  # ``_EnforcerCache.current``: the version is not read yet


class _EnforcerCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None

    def current(self, version: int | object | None = _UNREAD) -> _Loaded:
        """The policy this request decides by: loaded once per request (kept in ``g``),
        reloaded when the version moved. ``version``: already read in this request's
        transaction by another statement (None if there is no row); read here if not."""
        # g itself, not its proxy: each attribute read through the proxy first fails on
        # the proxy and formats an AttributeError, and this runs for every policy
        # question, a dozen a view (issue 20)
        if _guessing.get():
            loaded = self._loaded
            if loaded is None:
                raise LookupError("no policy loaded in this process yet")
            return loaded
        here = g._get_current_object() if has_request_context() else None
        if here is not None:
            kept = here.get("casbin_enforcer")
            if kept is not None:
                return kept
        if version is _UNREAD:
            rows = column_rows(db.session, VERSION_QUERY, {})
            version = rows[0].version if rows else None
        engine = db.engine
        with self._lock:
            loaded = self._loaded
            if loaded is None or version != loaded.version or id(engine) != loaded.engine_id:
                # read through the side pool: this request already holds a session
                # connection, and under load the session pool may have none left
                # (caseops.storage.pools)
                side = side_engine(engine, current_app.config["SQLALCHEMY_ENGINE_OPTIONS"])
                adapter = Adapter(side, db_class=CasbinRule, create_table=False)
                loaded = _Loaded(casbin.Enforcer(str(MODEL_PATH), adapter), version, id(engine))
                self._loaded = loaded
        if here is not None:
            here.casbin_enforcer = loaded
        return loaded


_cache = _EnforcerCache()
_guessing: ContextVar[bool] = ContextVar("caseops_policy_guessing", default=False)


@contextmanager
def last_loaded() -> Iterator[bool]:
    """Inside the block, policy questions are answered by the policy this process loaded
    last, without reading whether it is still current and without making it the
    request's: for a *guess* (``caseops.auth.current.reads_ahead`` guessing a caller's
    reads before the token is read), never for a decision. Yields False when no policy
    is loaded yet (then there is nothing to guess by)."""
    token = _guessing.set(True)
    try:
        yield _cache._loaded is not None
    finally:
        _guessing.reset(token)


def decide_by(version: int | None) -> None:
    """Decide this request by the policy at ``version``, read by the caller in this
    request (the bearer token's statement reads it beside the token: one statement, no
    pipeline, for every API request); as fresh as reading it here."""
    _cache.current(version)


def enforcer() -> casbin.Enforcer:
    return _cache.current().enforcer


def allowed(actor: Actor, obj: str, act: str) -> bool:
    """Does the policy let the actor's roles in force (a token's scopes, if any) do this?

    Each role is asked of Casbin in the actor's agency; deny-override holds across roles
    as it does within one: an explicit deny for any role wins over another's allow.
    """
    if actor.agency is None or not actor.roles:
        return False
    verdicts = [role_verdict(role, actor.agency, obj, act) for role in sorted(actor.roles)]
    if any(denied for _, denied in verdicts):
        return False
    return any(ok for ok, _ in verdicts)


def role_verdict(role: str, agency: str, obj: str, act: str) -> tuple[bool, bool]:
    """(allowed, explicitly denied) for one role, from Casbin, remembered per version."""
    loaded = _cache.current()
    key = (role, agency, obj, act)
    answer = loaded.answers.get(key)
    if answer is None:
        ok, rule = loaded.enforcer.enforce_ex(role, agency, obj, act)
        answer = loaded.answers[key] = (ok, not ok and bool(rule) and rule[-1] == "deny")
    return answer


def permissions(actor: Actor) -> Callable[[str, str], bool]:
    """``allowed`` for one actor, memoised for the request: a view asks about every
    section's category, and each answer is a Casbin evaluation per role."""
    answers: dict[tuple[str, str], bool] = {}

    def permits(obj: str, act: str) -> bool:
        if (obj, act) not in answers:
            answers[(obj, act)] = allowed(actor, obj, act)
        return answers[(obj, act)]

    return permits


def current_version() -> int:
    """The policy version the running request's enforcer was loaded at."""
    return _cache.current().version or 0


def roles_of(username: str, agency: str) -> frozenset[str]:
    """The roles granted to the user in the agency, by the request's policy (remembered
    with it: every authenticated request asks)."""
    loaded = _cache.current()
    key = (username, agency)
    roles = loaded.roles.get(key)
    if roles is None:
        roles = frozenset(loaded.enforcer.get_roles_for_user_in_domain(username, agency))
        loaded.roles[key] = roles
    return roles


def bump_version(session: Session) -> int:
    session.execute(
        update(PolicyVersion)
        .where(PolicyVersion.id == 1)
        .values(version=PolicyVersion.version + 1, changed_at=utcnow())
    )
    return session.scalar(select(PolicyVersion.version).where(PolicyVersion.id == 1)) or 0


def set_roles(session: Session, username: str, agency: str, roles: Iterable[str]) -> None:
    """Replace a user's role grouping lines (``g, user, role, agency``) in this transaction."""
    session.execute(delete(CasbinRule).where(CasbinRule.ptype == "g", CasbinRule.v0 == username))
    for role in sorted(set(roles)):
        session.add(CasbinRule(ptype="g", v0=username, v1=role, v2=agency))
    bump_version(session)


def stored_roles(session: Session, username: str) -> list[str]:
    """Roles as stored right now (inside the caller's transaction, for before/after audits)."""
    rows = session.scalars(
        select(CasbinRule.v1).where(CasbinRule.ptype == "g", CasbinRule.v0 == username)
    )
    return sorted(value for value in rows if value)
