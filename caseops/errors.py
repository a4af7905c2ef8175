"""Domain errors and the one place that maps them (and every other failure) to HTTP.

API and FHIR callers get ``{"error": {"code", "message", "details"}}``; browsers get an
HTML page. Unexpected exceptions never leak their text.
"""

from __future__ import annotations

import logging
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


class UnsupportedMediaType(DomainError):
    status, code = 415, "unsupported_media_type"


class ValidationFailed(DomainError):
    status, code = 422, "validation_failed"


class AuditUnavailable(DomainError):
    """The access log could not be written, so nothing may be shown (fail closed)."""

    status, code = 503, "audit_unavailable"


HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal_error",
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
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong; it has been logged.")
