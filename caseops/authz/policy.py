"""The Casbin enforcer: the single source of truth for what a role may do.

Rules live in ``casbin_rule`` (sqlalchemy-adapter's table) and are changed only inside
the caller's transaction together with a bump of ``policy_version`` and an audit entry.
Each process keeps one enforcer and reloads it when the version moved, checked once per
request, so every gunicorn worker sees a change on its next request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
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
from caseops.storage.pools import side_engine

MODEL_PATH = Path(__file__).with_name("model.conf")


# The one statement every request pays for the policy (its version, to know whether the
# cached enforcer is current); hot paths send it in their first pipeline
# (``caseops.storage.pipeline``), so it must stay this very statement.
VERSION_QUERY = select(PolicyVersion.version).where(PolicyVersion.id == 1)


class _EnforcerCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._enforcer: casbin.Enforcer | None = None
        self._version: int | None = None
        self._engine_id: int | None = None
        # (role, agency, obj, act) -> Casbin's verdict at this version: the policy compiled
        # lazily, question by question, and dropped whenever the version moves.
        self.answers: dict[tuple[str, str, str, str], tuple[bool, bool]] = {}

    @property
    def version(self) -> int:
        return self._version or 0

    def current(self) -> casbin.Enforcer:
        if has_request_context() and "casbin_enforcer" in g:
            return g.casbin_enforcer
        version = db.session.scalar(VERSION_QUERY)
        engine = db.engine
        with self._lock:
            if self._enforcer is None or version != self._version or id(engine) != self._engine_id:
                # read through the side pool: this request already holds a session
                # connection, and under load the session pool may have none left
                # (caseops.storage.pools)
                side = side_engine(engine, current_app.config["SQLALCHEMY_ENGINE_OPTIONS"])
                adapter = Adapter(side, db_class=CasbinRule, create_table=False)
                self._enforcer = casbin.Enforcer(str(MODEL_PATH), adapter)
                self._version = version
                self._engine_id = id(engine)
                self.answers = {}
            enforcer = self._enforcer
        if has_request_context():
            g.casbin_enforcer = enforcer
        return enforcer


_cache = _EnforcerCache()


def enforcer() -> casbin.Enforcer:
    return _cache.current()


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
    e = enforcer()
    answers = _cache.answers
    key = (role, agency, obj, act)
    if key not in answers:
        ok, rule = e.enforce_ex(role, agency, obj, act)
        answers[key] = (ok, not ok and bool(rule) and rule[-1] == "deny")
    return answers[key]


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
    enforcer()
    return _cache.version


def roles_of(username: str, agency: str) -> frozenset[str]:
    return frozenset(enforcer().get_roles_for_user_in_domain(username, agency))


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
