"""The limiter's per-request hook goes only when it has nothing to check (issue 20):
decorated limits (caseops' sign-in posts) are enforced by their decorators alone; a
default, application or blueprint limit keeps the hook, and is enforced."""

from __future__ import annotations

import pytest
from flask import Blueprint, Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from caseops.extensions import drop_idle_limit_hook, limits_only_its_hook_enforces


def _hooked(app: Flask) -> bool:
    return any(
        getattr(f, "__func__", None) is Limiter._check_request_limit
        for f in app.before_request_funcs.get(None, [])
    )


def _app(**limiter_options) -> tuple[Flask, Limiter]:
    app = Flask(__name__)
    app.config["RATELIMIT_STORAGE_URI"] = "memory://"
    limiter = Limiter(key_func=get_remote_address, **limiter_options)
    limiter.init_app(app)

    @app.post("/sign-in")
    @limiter.limit("2 per minute")
    def sign_in():
        return "ok"

    @app.get("/open")
    def open_():
        return "ok"

    return app, limiter


def _statuses(app: Flask, method: str, path: str, times: int = 4) -> list[int]:
    client = app.test_client()
    return [client.open(path, method=method).status_code for _ in range(times)]


def test_caseops_has_no_limit_hook_and_every_limited_endpoint_still_answers_429(app):
    """Every view caseops decorates with a limit (found from the limiter, not listed
    here) refuses the post past its limit with the hook gone."""
    from flask_limiter.util import get_qualified_name

    from tests.factories import csrf_token

    [limiter] = app.extensions["limiter"]
    assert not _hooked(app) and not limits_only_its_hook_enforces(limiter)
    limited = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods
        and get_qualified_name(app.view_functions[rule.endpoint]) in limiter._marked_for_limiting
    )
    assert len(limited) >= 4, limited  # the sign-in steps and the portal's sign-in
    app.config["CASEOPS_LOGIN_RATE_LIMIT"] = "3 per minute"
    for path in limited:
        client = app.test_client()
        token = csrf_token(client.get("/login").get_data(as_text=True))
        statuses = [client.post(path, data={"csrf_token": token}).status_code for _ in range(4)]
        assert 429 not in statuses[:3] and statuses[3] == 429, (path, statuses)


def test_without_the_hook_a_decorated_limit_is_enforced_and_nothing_else_limited():
    app, limiter = _app(default_limits=[])
    assert _hooked(app)
    drop_idle_limit_hook(app, limiter)
    assert not _hooked(app)
    assert _statuses(app, "POST", "/sign-in") == [200, 200, 429, 429]
    assert _statuses(app, "GET", "/open", 6) == [200] * 6


@pytest.mark.parametrize("kind", ["default", "application", "blueprint"])
def test_a_limit_only_the_hook_checks_keeps_it_and_is_enforced(kind):
    options = {
        "default": {"default_limits": ["3 per minute"]},
        "application": {"application_limits": ["3 per minute"]},
        "blueprint": {},
    }[kind]
    app, limiter = _app(**options)
    path = "/open"
    if kind == "blueprint":
        bp = Blueprint("limited", __name__)

        @bp.get("/limited")
        def limited():
            return "ok"

        limiter.limit("3 per minute")(bp)
        app.register_blueprint(bp)
        path = "/limited"
    assert limits_only_its_hook_enforces(limiter)
    drop_idle_limit_hook(app, limiter)
    assert _hooked(app)
    assert _statuses(app, "GET", path, 5) == [200, 200, 200, 429, 429]


def test_a_limiter_whose_state_cannot_be_read_keeps_the_hook():
    class Unknown:  # a Flask-Limiter that keeps its limits elsewhere
        limit_manager = object()

    assert limits_only_its_hook_enforces(Unknown())
