"""Who is calling: bearer tokens for API callers, server-side sessions for browsers.

Login is required everywhere except views marked ``@public``. CSRF is checked for
every state-changing request that rides on the session cookie; bearer requests carry
no ambient credential, so they need none. Authentication is checked first, so a caller
without credentials is told exactly that (401), not that a CSRF token is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, Request, g, redirect, request, session, url_for
from flask_login import current_user

from caseops.audit.service import record
from caseops.auth import service
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.errors import NotAuthenticated, wants_json
from caseops.extensions import csrf, db, login_manager
from caseops.storage.pipeline import autocommit_reads, prefetch
from caseops.users.models import User

F = TypeVar("F", bound=Callable[..., object])
PUBLIC_ATTR = "_caseops_public"
READS_ONLY_ATTR = "_caseops_reads_only"
SESSION_KEY = "sid"
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
        # the token, its user and the policy version: one statement, one round trip
        with prefetch(db.session, service.token_reads(bearer)):
            resolved = service.resolve_token(bearer)
            if isinstance(resolved, str):
                record(
                    "auth.token_rejected",
                    actor=Actor.unauthenticated(),
                    outcome="denied",
                    detail={"reason": resolved},
                )
                return None
            policy.decide_by(resolved.policy_version)
            g.actor = service.actor_for_token(resolved)
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
