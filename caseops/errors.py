"""Domain errors and the one place that maps them (and every other failure) to HTTP.

API and FHIR callers get ``{"error": {"code", "message", "details"}}``; browsers get an
HTML page. Unexpected exceptions never leak their text.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from marshmallow import ValidationError as SchemaValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

Details = dict[str, list[str]]


class DomainError(Exception):
    """A failure the caller can understand and act on."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Details | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code:
            self.code = code


class NotAuthenticated(DomainError):
    status, code = 401, "unauthenticated"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class Gone(DomainError):
    """An operation that no longer exists; the message says what replaced it."""

    status, code = 410, "gone"


class UnsupportedMediaType(DomainError):
    status, code = 415, "unsupported_media_type"


class ValidationFailed(DomainError):
    status, code = 422, "validation_failed"


class AuditUnavailable(DomainError):
    """The access log could not be written, so nothing may be shown (fail closed)."""

    status, code = 503, "audit_unavailable"


class DatabaseUnavailable(DomainError):
    """The database cannot be reached (or only read): a retry later will likely work."""

    status, code = 503, "database_unavailable"


# Seconds a client should wait before retrying a 503: about how long a PostgreSQL
# restart or a fail-over takes.
RETRY_AFTER_SECONDS = 5
# SQLSTATEs that mean "the database is not available now", not "your request is wrong":
# class 08 (connection exception), 57P (shutdown, crash, cannot connect now), 53300 (too
# many connections), 25006 (read-only transaction: a standby or a fail-over in progress).
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P", "53300", "25006")
_SQLITE_UNAVAILABLE = ("locked", "unable to open", "disk I/O", "readonly database")


def database_unavailable(error: BaseException) -> bool:
    """True when ``error`` says the database is down, unreachable, overloaded or read-only.

    Why here and not per call site: an outage can surface from any query (the token
    lookup, the access log, a page's query), and every one of them must answer the
    same 503 instead of a 500.
    """
    # An error raised while handling an outage (a rollback on a dead connection, say)
    # carries the outage in its chain.
    seen = 0
    link: BaseException | None = error
    while link is not None and seen < 8:
        if _unavailable_itself(link):
            return True
        link, seen = link.__cause__ or link.__context__, seen + 1
    return False


def _unavailable_itself(error: BaseException) -> bool:
    from sqlalchemy import exc as sa

    if isinstance(error, sa.PendingRollbackError) and error.code == "8s2b":
        return True  # "Can't reconnect until invalid transaction is rolled back"
    if isinstance(error, sa.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(getattr(error, "orig", None), sqlite3.Error):
        # SQLite's OperationalError also means "no such table" (a bug, not an outage).
        return any(sign in str(error.orig) for sign in _SQLITE_UNAVAILABLE)
    if isinstance(error, sa.OperationalError | sa.InterfaceError | sa.DisconnectionError):
        return True
    if isinstance(error, sa.TimeoutError):  # the connection pool stayed empty
        return True
    orig = getattr(error, "orig", None) or error
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or ""
    if sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - SQLite-only installs
        return False
    return isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError)


HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    411: "length_required",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
    503: "service_unavailable",
}


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/fhir/")) or (
        request.accept_mimetypes.best == "application/json"
    )


def flatten_messages(messages: Any) -> Details:
    """Turn marshmallow/webargs messages into ``{field: [reasons]}`` (nested fields dotted)."""
    details: Details = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            details.setdefault(prefix or "_schema", []).extend(value)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(f"{prefix}.{index}", inner)
        else:
            details.setdefault(prefix or "_schema", []).append(str(value))

    walk("", messages)
    return details


def error_response(status: int, code: str, message: str, details: Details | None = None):
    if request.path.startswith("/fhir/"):
        return _operation_outcome(status, code, message, details or {})
    if wants_json():
        body = {"error": {"code": code, "message": message, "details": details or {}}}
        response = jsonify(body)
        response.status_code = status
        return response
    html = render_template("error.html", status=status, code=code, message=message)
    return Response(html, status=status, mimetype="text/html")


def _unavailable_response(error: DomainError):
    """A 503 with Retry-After, after undoing whatever the request had begun to write.

    The page shell may itself need the database (navigation asks the policy), so if the
    usual error page cannot be drawn a bare one is sent: the 503 must not become a 500.
    """
    from caseops.extensions import db

    try:
        db.session.rollback()
    except Exception:  # the connection is gone: nothing was committed, drop it
        log.debug("rollback after an outage failed", exc_info=True)
    try:
        response = error_response(error.status, error.code, error.message, error.details)
    except Exception:
        log.warning("error page could not be drawn during an outage", exc_info=True)
        response = Response(
            f"<!doctype html><title>{error.status}</title><h1>{error.status}</h1>"
            "<p>caseops cannot reach its database just now. Try again in a moment.</p>",
            status=error.status,
            mimetype="text/html",
        )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _operation_outcome(status: int, code: str, message: str, details: Details):
    """FHIR callers get their errors as an R4 OperationOutcome."""
    fhir_code = {
        401: "login",
        403: "forbidden",
        404: "not-found",
        409: "conflict",
        422: "invalid",
        429: "throttled",
    }.get(status, "exception")
    issues = [{"severity": "error", "code": fhir_code, "diagnostics": f"{code}: {message}"}]
    issues += [
        {
            "severity": "error",
            "code": "invalid",
            "diagnostics": " ".join(reasons),
            "expression": [field],
        }
        for field, reasons in details.items()
    ]
    response = jsonify({"resourceType": "OperationOutcome", "issue": issues})
    response.status_code = status
    response.mimetype = "application/fhir+json"
    return response


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain(error: DomainError):
        if error.status == 503:
            return _unavailable_response(error)
        return error_response(error.status, error.code, error.message, error.details)

    @app.errorhandler(SchemaValidationError)
    def handle_schema(error: SchemaValidationError):
        return error_response(
            422,
            "validation_failed",
            "The request has invalid fields.",
            flatten_messages(error.messages),
        )

    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException):
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        messages = data.get("messages")
        if messages is not None:
            # webargs nests by location ("json", "query"); the field name is what matters.
            if isinstance(messages, dict) and len(messages) == 1:
                messages = next(iter(messages.values()))
            return error_response(
                status,
                HTTP_CODES.get(status, "error"),
                "The request has invalid fields.",
                flatten_messages(messages),
            )
        return error_response(status, HTTP_CODES.get(status, "error"), error.description or "")

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        if database_unavailable(error):
            log.warning("database unavailable: %s", getattr(error, "orig", None) or error)
            return _unavailable_response(
                DatabaseUnavailable("The database is not available just now; try again.")
            )
        if _value_does_not_fit(error):
            # A safety net behind the edge checks of caseops/http_limits.py: a value the
            # database refuses (too long, out of range, a NUL) is the caller's error.
            log.warning(
                "database refused a value: %s", type(getattr(error, "orig", error)).__name__
            )
            return _refused_value_response()
        if isinstance(error, RecursionError):
            return error_response(400, "bad_request", "The request is nested too deeply.")
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong; it has been logged.")


def _value_does_not_fit(error: BaseException) -> bool:
    from sqlalchemy.exc import DataError

    return isinstance(error, DataError)


def _refused_value_response():
    from caseops.extensions import db

    try:
        db.session.rollback()
    except Exception:
        log.debug("rollback after a refused value failed", exc_info=True)
    return error_response(
        422, "validation_failed", "A value does not fit the field it is stored in."
    )
