"""Liveness and readiness for load balancers and ``make run``."""

from __future__ import annotations

from flask import Blueprint, jsonify

from caseops.auth.current import public
from caseops.migrations_state import migration_status

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@public
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
@public
def readyz():
    status = migration_status()
    body = {
        "status": "ready" if status.ready else "not_ready",
        "database": "reachable" if status.reachable else "unreachable",
        "migrations": {"current": status.current, "head": status.head},
    }
    return jsonify(body), 200 if status.ready else 503
