"""Extension singletons, bound to an app in ``create_app``."""

from __future__ import annotations

import logging
from typing import Any

import flask_smorest
import marshmallow
from flask import Config, Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_login.signals import user_accessed
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase
from webargs.flaskparser import FlaskParser

from caseops.errors import database_unavailable

log = logging.getLogger(__name__)

# Stable constraint names so Alembic autogenerate and both databases agree.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CaseopsApi(Api):
    """flask-smorest Api whose errors go through caseops' single error mapper instead."""

    def _register_error_handlers(self) -> None:
        """caseops.errors registers the one handler for every error."""


class ArgumentsParser(FlaskParser):
    """webargs' parser, with each argument schema a route names built once.

    flask-smorest hands webargs the schema *class* a route's ``arguments`` names, and
    webargs builds an instance of it on every parse: about 1.7 % of the record view's
    CPU by a sampling profile (issue 20, docs/fast-path.md). An instance holds no state
    between loads (marshmallow 4 has no schema context; each load keeps its errors and
    partial data to itself), so one instance serves every request and thread, as the
    response schemas flask-smorest builds once at import already do. The one rule this
    sets: an argument schema's hooks (``validates_schema``, ``pre_load``...) never keep
    anything on ``self`` (none does)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schemas: dict[type[marshmallow.Schema], marshmallow.Schema] = {}

    def _get_schema(self, argmap: Any, req: Any) -> marshmallow.Schema:
        if isinstance(argmap, type) and issubclass(argmap, marshmallow.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:  # a race builds two alike; either serves
                schema = self._schemas[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)


class ApiBlueprint(flask_smorest.Blueprint):
    """The blueprint of every API route module: flask-smorest's, parsing arguments with
    ``ArgumentsParser``."""

    ARGUMENTS_PARSER = ArgumentsParser()


class CaseopsSQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy whose end-of-request clean-up survives a database that went away.

    The session is closed (its transaction rolled back) after the response is made. If
    the server ended the connection meanwhile (a restart, a fail-over), that ROLLBACK
    fails; the server has rolled back already, so the answer stands instead of becoming
    gunicorn's 500, and the pool (pre-ping) replaces the dead connection.
    """

    def _teardown_session(self, exc: BaseException | None) -> None:
        try:
            super()._teardown_session(exc)
        except Exception as error:
            if not database_unavailable(error):
                raise
            log.warning("session clean-up on a lost connection: %s", error.__class__.__name__)
            self.session.registry.clear()


class RequestLoaderLoginManager(LoginManager):
    """Flask-Login with caseops' one way in: its request loader (a bearer token, or the
    server-side session named by caseops' own cookie; ``caseops.auth.current``).

    caseops never calls ``login_user``, so Flask-Login's own session keys, its remember-me
    cookie and its session protection have nothing to guard. Its generic loader ran them
    anyway, every request, and that did harm: it hashed the caller's address and user
    agent (about 1 % of a record view's CPU, issue 20), wrote ``_fresh: false`` into every
    signed-in browser's cookie (a key nothing reads), and when a request carried any
    cookie named ``remember_token`` (another Flask-Login app's on a shared domain, say) it
    tried that cookie *instead of* the request loader, so a valid bearer token answered 401
    and a signed-in browser was sent back to the login page. Its after-request hook for
    that cookie read the session of every request, so every answer, a bearer token's
    too, carried ``Vary: Cookie`` (Flask adds it whenever the session is touched). Here
    every request goes to the request loader alone and the hook does nothing; Flask-Login's
    ``current_user``, ``user_accessed`` and ``user_loaded_from_request`` signals and
    anonymous user work as before, and an answer that read the session cookie still
    varies by it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_protection = None  # server-side session rows instead: docs/foundation.md

    def _load_user(self) -> None:
        if self._request_callback is None:
            raise RuntimeError("caseops.auth.current registers the request loader")
        user_accessed.send(current_app._get_current_object())
        user = self._load_user_from_request(request._get_current_object())
        return self._update_request_context_with_user(user)

    def _update_remember_cookie(self, response: Any) -> Any:
        return response  # caseops sets no remember-me cookie, so none to refresh or clear


db = CaseopsSQLAlchemy(model_class=Base)
login_manager = RequestLoaderLoginManager()
csrf = CSRFProtect()
api = CaseopsApi()
# Only the login endpoints carry limits; storage from CASEOPS_RATELIMIT_STORAGE_URI.
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def app_config() -> Config:
    """The running app's config, read from the app itself rather than through the
    ``current_app`` proxy, on whose own attributes every read first fails, formatting an
    AttributeError, before it falls back (for hot paths, issue 20)."""
    return current_app._get_current_object().config


def limits_only_its_hook_enforces(rate_limiter: Limiter) -> bool:
    """Does ``rate_limiter`` hold a limit that only its ``before_request`` hook checks: a
    default, application, blueprint or meta limit? A limit decorating a view (all caseops
    has: the sign-in posts) is checked by its decorator when the view runs, and not again
    by the hook. Fails safe: a Flask-Limiter that keeps these elsewhere (an attribute
    missing) counts as holding some."""
    manager = getattr(rate_limiter, "limit_manager", None)
    blueprint_limits = getattr(manager, "_blueprint_limits", None)
    meta_limits = getattr(rate_limiter, "_meta_limits", None)
    if manager is None or blueprint_limits is None or meta_limits is None:
        return True
    return bool(
        manager.default_limits
        or manager.application_limits
        or any(blueprint_limits.values())
        or meta_limits
    )


def drop_idle_limit_hook(app: Flask, rate_limiter: Limiter = limiter) -> None:
    """Remove the limiter's per-request hook when it has nothing to check (see
    ``limits_only_its_hook_enforces``): it resolved the limits of every request, found
    none, and cost about 6 % of a record view's instructions (issue 20,
    ``bench/view_instructions.py``). Call once every blueprint is registered; a default,
    application, blueprint or meta limit keeps the hook (tested), and decorated limits
    are enforced as before (tested)."""
    if limits_only_its_hook_enforces(rate_limiter):
        return
    check = Limiter._check_request_limit
    hooks = app.before_request_funcs.get(None, [])
    hooks[:] = [f for f in hooks if getattr(f, "__func__", None) is not check]
