"""Who is calling: bearer tokens for API callers, server-side sessions for browsers.

Login is required everywhere except views marked ``@public``. CSRF is checked for
every state-changing request that rides on the session cookie; bearer requests carry
no ambient credential, so they need none. Authentication is checked first, so a caller
without credentials is told exactly that (401), not that a CSRF token is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from flask import Flask, Request, current_app, g, redirect, request, session, url_for
from flask_login import current_user

from caseops.audit.service import record
from caseops.auth import service
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.db_types import utcnow
from caseops.errors import NotAuthenticated, wants_json
from caseops.extensions import csrf, db, login_manager
from caseops.storage.pipeline import Read, autocommit_reads, drop_carried, prefetch
from caseops.users.models import User

F = TypeVar("F", bound=Callable[..., object])
PUBLIC_ATTR = "_caseops_public"
READS_ONLY_ATTR = "_caseops_reads_only"
READS_AHEAD_ATTR = "_caseops_reads_ahead"
# What a handler's reads are, given the caller, the URL's arguments and the instant.
ReadsAhead = Callable[[Actor, dict[str, Any], datetime], list[Read]]
SESSION_KEY = "sid"
_log = logging.getLogger(__name__)
# Static assets and the OpenAPI document hold no data.
PUBLIC_ENDPOINTS = {"static", "ui.static", "api-docs.openapi_json"}


def public(view: F) -> F:
    """Mark a view as reachable without logging in."""
    setattr(view, PUBLIC_ATTR, True)
    return view


def reads_only(view: F) -> F:
    """Mark a hot read-only view (GET): on PostgreSQL its reads run without a transaction
    of their own, saving the BEGIN and the ROLLBACK round trips (issue 20). Nothing is
    weakened: at READ COMMITTED each statement took its own snapshot already, the log
    entry is committed by the audit writer on its own connection either way, and a write
    such a view makes (a token's last-used time) commits on its own as it did."""
    setattr(view, READS_ONLY_ATTR, True)
    return view


def reads_ahead(reads: ReadsAhead) -> Callable[[F], F]:
    """Mark a hot read-only view whose reads can be sent with the bearer token's own
    statement: ``reads(actor, view_args, at)`` lists what the handler will read for that
    caller at that instant, and the handler passes ``read_instant()`` as its instant.
    Two round trips for a view instead of three (issue 20), and nothing weakened:

    * the reads go only when this bearer value was accepted in this process before (a
      guess at who it is; a forged value never was), and behind a gate equal to the
      token's acceptance for that identity (``service.recent_caller``, property-tested):
      PostgreSQL runs them only for a caller ``resolve_token`` accepts, so a refused
      token's time does not depend on any client;
    * the handler's own reads are answered from them only when they are exactly the same
      statements with the same values (the real caller's), else sent as before;
    * they are read in this request, after it arrived: nothing is cached."""

    def mark(view: F) -> F:
        setattr(view, READS_AHEAD_ATTR, reads)
        return view

    return mark


def read_instant() -> datetime:
    """The instant this request's reads were sent ahead for (``reads_ahead``), or now."""
    at = g._get_current_object().get("read_at")
    return at if at is not None else utcnow()


def _bearer_value(req: Request) -> str | None:
    header = req.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def load_user_from_request(req: Request) -> User | service.TokenCaller | None:
    """The request loader: ``req`` is the request itself, not its proxy
    (``caseops.extensions.RequestLoaderLoginManager`` passes it so)."""
    bearer = _bearer_value(req)
    if bearer is not None:
        now = utcnow()
        then, gate = _reads_ahead(req, bearer, now)
        # the token, its user and the policy version: one statement, one round trip; with
        # the view's reads behind the token's gate when they can go (``reads_ahead``)
        with prefetch(db.session, service.token_reads(bearer), then=then, gate=gate) as ahead:
            resolved = service.resolve_token(bearer, now)
            if isinstance(resolved, str):
                record(
                    "auth.token_rejected",
                    actor=Actor.unauthenticated(),
                    outcome="denied",
                    detail={"reason": resolved},
                )
                return None
            policy.decide_by(resolved.policy_version)
            here = g._get_current_object()
            here.actor = service.actor_for_token(resolved)
            if ahead:
                here.read_at = now
        return resolved
    session_id = session.get(SESSION_KEY)
    if not session_id:
        return None
    with prefetch(db.session, service.session_reads(session_id)):
        user = service.resolve_session(session_id)
        if user is None:
            session.clear()
            return None
        g.actor = service.actor_for(user)
    return user


def _reads_ahead(req: Request, bearer: str, now: datetime) -> tuple[list[Read], Read | None]:
    """The reads the request's handler will make (``reads_ahead``) for the caller this
    bearer value was when last accepted, with the gate that holds exactly while it still
    is; nothing for a handler that declares none or a value not accepted before."""
    app = current_app._get_current_object()  # not through the proxy: see require_login
    view = app.view_functions.get(req.endpoint) if req.endpoint else None
    reads = getattr(view, READS_AHEAD_ATTR, None)
    if reads is None or req.method not in ("GET", "HEAD"):
        return [], None
    recent = service.recent_caller(bearer, now)
    if recent is None:
        return [], None
    caller, gate = recent
    # the roles by the policy this process holds, not read again: a guess, checked below
    # (the handler's reads answer from these only when they are the same reads)
    try:
        with policy.last_loaded() as loaded:
            if not loaded:
                return [], None
            return reads(service.actor_for_token(caller), req.view_args or {}, now), gate
    except Exception:
        # a guess that fails costs the round trip it would have saved, never the request
        _log.warning("reads ahead not built; the handler sends its own", exc_info=True)
        return [], None


def current_actor() -> Actor:
    """The authenticated actor of this request (login is enforced before views run)."""
    here = g._get_current_object()  # not through the proxy: see require_login
    if not current_user._get_current_object().is_authenticated or "actor" not in here:
        raise NotAuthenticated("Log in or send a bearer token.")
    return here.actor


def current_session_id() -> str | None:
    return session.get(SESSION_KEY)


def register(app: Flask) -> None:
    login_manager.request_loader(load_user_from_request)
    # reads sent ahead that no handler used end with the request (a 422 before it ran)
    app.teardown_request(lambda _exc: drop_carried())

    @app.before_request
    def require_login():
        """Who is calling comes first: a caller without credentials learns only that (401),
        whatever else is wrong with the request; then CSRF for cookie-borne state changes."""
        # The request and the user themselves, not their proxies: each attribute read
        # through a proxy first fails on the proxy, formatting an AttributeError, then
        # falls back; about 4,000 instructions a read, tens a request (issue 20).
        req = request._get_current_object()
        endpoint = req.endpoint
        if endpoint is None:
            # No such route (404/405): nothing runs, so there is nothing to authenticate
            # or forge; the routing error answers as it is.
            return None
        view = app.view_functions.get(endpoint)
        if getattr(view, READS_ONLY_ATTR, False) and req.method in ("GET", "HEAD"):
            autocommit_reads(db.session)
        if endpoint in PUBLIC_ENDPOINTS or getattr(view, PUBLIC_ATTR, False):
            return _check_csrf(req)
        if not current_user._get_current_object().is_authenticated:
            if wants_json() or _bearer_value(req) is not None:
                raise NotAuthenticated("Log in or send a valid bearer token.")
            target = req.full_path if req.query_string else req.path
            return redirect(url_for("auth.login", next=target))
        return _check_csrf(req)


def _check_csrf(req: Request) -> None:
    """Bearer requests carry no ambient credential, so only cookie requests need a token."""
    if _bearer_value(req) is None:
        csrf.protect()
