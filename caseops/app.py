"""The application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from caseops import errors, http_limits, metrics, observability, openapi, security
from caseops.auth import passwords
from caseops.authz import openapi_rules
from caseops.config import load_settings
from caseops.db_types import json_loads
from caseops.extensions import api, csrf, db, drop_idle_limit_hook, limiter, login_manager
from caseops.http_json import OrjsonProvider
from caseops.storage import pools


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment; ``config`` overrides settings (tests, CLI)."""
    settings = load_settings()
    app = Flask(__name__, instance_path=str(settings.instance_path), instance_relative_config=False)
    app.json = OrjsonProvider(app)  # Flask's JSON rules, written by orjson (issue 20)
    app.config.update(settings.flask_config())
    app.config.update(
        API_TITLE="caseops",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": "Consent-gated, audited case coordination across agencies."},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    if config:
        app.config.update(config)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"]
    ) | app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
    if app.config["CASEOPS_TRUSTED_PROXIES"]:
        hops = app.config["CASEOPS_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    observability.configure_logging(
        app.config["CASEOPS_LOG_LEVEL"], app.config["CASEOPS_LOG_FORMAT"]
    )
    passwords.use_profile("test" if app.config["CASEOPS_ENV"] == "test" else "standard")
    # The request context comes first: every later hook and log line needs its id.
    observability.register_request_context(app)
    http_limits.register(app)  # before CSRF and login: it reads raw bodies before forms
    register_extensions(app)
    register_blueprints(app)
    openapi.register(app)  # after current.register: 401 comes before 415
    openapi_rules.register(app)  # x-caseops-agency-rule (caseops/authz/endpoint_rules.py)
    errors.register_errorhandlers(app)
    security.register_security_headers(app)
    security.register_cookie_sessions(app)
    register_commands(app)
    metrics.register(app)  # /metrics and request metrics (after the proxy fix)
    drop_idle_limit_hook(app)  # last: every limit is declared by now
    return app


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}, "json_deserializer": json_loads}
    # Connections that died in an outage are replaced, not handed out (no restart after
    # the database is back): a connection idle for a while is pinged before it is handed
    # out (caseops.storage.connect), one in constant use is not — a ping on every checkout
    # cost each view two extra round trips (issue 20). Bounded waits so an outage answers
    # 503 fast. Every connection opened is kept (``pools.SESSION_POOL_SIZE`` says why).
    return {
        "pool_size": pools.SESSION_POOL_SIZE,
        "max_overflow": 0,
        "pool_timeout": 10,
        "connect_args": {"connect_timeout": 5},
        "json_deserializer": json_loads,
    }


def register_extensions(app: Flask) -> None:
    from caseops.storage import connect

    db.init_app(app)
    connect.configure(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    api.init_app(app)


def register_blueprints(app: Flask) -> None:
    from caseops.admin.routes import bp as admin_bp
    from caseops.agreements.routes import gone as trust_rules_gone_bp
    from caseops.audit.part2_routes import pages as part2_pages_bp
    from caseops.auth import current
    from caseops.auth.routes import bp as auth_bp
    from caseops.health.routes import bp as health_bp
    from caseops.portal.pages import bp as my_pages_bp
    from caseops.portal.pages import staff_bp as access_code_pages_bp
    from caseops.referrals.fhir_routes import bp as fhir_referrals_bp
    from caseops.registry.fhir_routes import bp as fhir_bp
    from caseops.ui.agreements import bp as agreement_pages_bp
    from caseops.ui.audit import bp as audit_pages_bp
    from caseops.ui.clients import bp as client_pages_bp
    from caseops.ui.clients_review import bp as linkage_pages_bp
    from caseops.ui.incidents import bp as incident_pages_bp
    from caseops.ui.policies import bp as policy_pages_bp
    from caseops.ui.referrals import bp as referral_pages_bp
    from caseops.ui.registry import bp as consent_pages_bp
    from caseops.ui.routes import bp as ui_bp
    from caseops.ui.tasks import bp as task_pages_bp

    current.register(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(ui_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(client_pages_bp)
    app.register_blueprint(consent_pages_bp)
    app.register_blueprint(linkage_pages_bp)
    app.register_blueprint(referral_pages_bp)
    app.register_blueprint(audit_pages_bp)
    app.register_blueprint(part2_pages_bp)
    app.register_blueprint(incident_pages_bp)
    app.register_blueprint(agreement_pages_bp)
    app.register_blueprint(trust_rules_gone_bp)
    app.register_blueprint(policy_pages_bp)
    app.register_blueprint(fhir_bp)
    app.register_blueprint(fhir_referrals_bp)
    app.register_blueprint(my_pages_bp)
    app.register_blueprint(access_code_pages_bp)
    app.register_blueprint(task_pages_bp)
    for blueprint in _api_blueprints():
        api.register_blueprint(blueprint)


def _api_blueprints():
    from caseops.access.routes import blp as access_blp
    from caseops.agencies.routes import blp as agencies_blp
    from caseops.agreements.routes import blp as agreements_blp
    from caseops.audit.part2_routes import blp as part2_list_blp
    from caseops.audit.routes import blp as audit_blp
    from caseops.audit.routes import clients_blp as audit_clients_blp
    from caseops.authz.routes import blp as policies_blp
    from caseops.clients.routes import blp as clients_blp
    from caseops.desk.routes import blp as desk_blp
    from caseops.events.routes import blp as events_blp
    from caseops.incidents.routes import blp as incidents_blp
    from caseops.matching.routes import blp as linkage_model_blp
    from caseops.notes.routes import blp as notes_blp
    from caseops.portal.routes import blp as access_codes_blp
    from caseops.records.routes import blp as records_blp
    from caseops.referrals.routes import blp as referrals_blp
    from caseops.registry.routes import blp as consents_blp
    from caseops.simulation.routes import blp as simulation_blp
    from caseops.tasks.routes import blp as tasks_blp
    from caseops.users.routes import blp as users_blp
    from caseops.webhooks.routes import blp as webhooks_blp

    return [
        agencies_blp,
        audit_blp,
        audit_clients_blp,
        part2_list_blp,
        users_blp,
        records_blp,
        clients_blp,
        linkage_model_blp,
        consents_blp,
        access_blp,
        referrals_blp,
        policies_blp,
        simulation_blp,
        webhooks_blp,
        incidents_blp,
        agreements_blp,
        desk_blp,
        events_blp,
        access_codes_blp,
        tasks_blp,
        notes_blp,
    ]


def register_commands(app: Flask) -> None:
    from caseops.cli import register

    register(app)
