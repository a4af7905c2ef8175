"""The OpenAPI document is the contract: this module makes it say what the server does.

flask-smorest describes each operation from its decorators, which know the success
answer and the fields, but not how caseops fails: errors leave through the one mapper in
``caseops.errors`` as ``{"error": {"code", "message", "details"}}``, authentication is
checked for every operation before it runs, and a body of the wrong media type is refused
before any field is read. Those rules hold for every operation alike, so they are stated
here, once, by completing the generated document — not by decorating each route (route
files stay one line per handler, and a new route is described correctly without anyone
remembering to list its failures).

``register(app)`` wraps the spec's ``to_dict`` (so ``/api/v1/openapi.json``, ``flask
openapi write`` and the browsable reference all serve the same completed document) and
installs the media-type gate, which reads the accepted types from that same document:
what is documented is what is enforced.

The FHIR endpoints live in a plain blueprint (their bodies are FHIR resources, not
marshmallow schemas); they are described here by hand in ``FHIR_PATHS``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from flask import Flask, Response, current_app, render_template, request

from caseops.errors import UnsupportedMediaType

Document = dict[str, Any]
JSON = "application/json"
FHIR_JSON = "application/fhir+json"
API_PREFIX = "/api/v1"
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
WRITE_METHODS = frozenset({"put", "post", "delete", "patch"})

# Statuses and why each can happen; the documented description of each error response.
STATUS_TEXT = {
    "400": (
        "The request could not be read: malformed JSON, undecodable text, or a "
        "cookie-authenticated state change without its CSRF token."
    ),
    "401": "No valid credentials: send `Authorization: Bearer <token>` or log in.",
    "403": "Authenticated, but this account (or this token's scopes) may not do this.",
    "404": (
        "No such resource — or one the caller may not know exists: hidden and unknown answer alike."
    ),
    "409": "The request conflicts with the current state (e.g. a stale version, already done).",
    "413": "The body is larger than the server accepts (8 MiB).",
    "414": "The URL (path and query) is longer than 4,096 characters.",
    "415": "The body's Content-Type is not one this operation accepts; the message names them.",
    "422": "The input is well formed but invalid; `details` names each field and why.",
    "503": (
        "The service cannot answer safely right now (database or access log unavailable); "
        "nothing was done or shown. Retry after the `Retry-After` seconds when given."
    ),
}

# Where the general rules below are not enough, the extra statuses an operation can answer
# (found in its service code). Keyed by "METHOD path" as in the document.
EXTRA_STATUSES: dict[str, tuple[str, ...]] = {
    # No checkpoint yet: the log has not been sealed.
    "GET /api/v1/audit/checkpoints/latest": ("404",),
    "GET /api/v1/audit/consistency": ("404",),
    # The entry exists but is not sealed in the requested tree yet.
    "GET /api/v1/audit/events/{seq}/proof": ("409",),
    # The agency named in the body does not exist.
    "POST /api/v1/users": ("404",),
    # No such rule to delete.
    "DELETE /api/v1/policies": ("404",),
}

# Request bodies that flask-smorest cannot see (read straight from the request).
EXTRA_REQUEST_BODIES: dict[str, Document] = {
    "POST /api/v1/agencies/{code}/records:bulk": {
        "required": True,
        "description": (
            "NDJSON: one PUT body per line, each with its `source_record_id`. Every line "
            "stands alone and is reported on."
        ),
        "content": {
            media: {"schema": {"type": "string"}}
            for media in ("application/x-ndjson", "application/jsonl", "text/plain")
        },
    },
    "POST /api/v1/clients/{client_id}/consent-documents": {
        "required": True,
        "description": "The signed consent form as the multipart field `file`.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    },
}

ERROR_SCHEMA: Document = {
    "type": "object",
    "description": "Every error of the JSON API (FHIR endpoints answer an OperationOutcome).",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "additionalProperties": False,
            "properties": {
                "code": {
                    "type": "string",
                    "description": (
                        "Stable machine-readable code: bad_request, unauthenticated, "
                        "forbidden, not_found, method_not_allowed, conflict (or a narrower "
                        "conflict such as not_latest_version), payload_too_large, "
                        "unsupported_media_type, validation_failed, too_many_requests, "
                        "service_unavailable, audit_unavailable, internal_error."
                    ),
                    "example": "validation_failed",
                },
                "message": {"type": "string", "description": "For people; may change."},
                "details": {
                    "type": "object",
                    "description": "Field name (nested fields dotted) to its reasons.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "example": {"name": ["Missing data for required field."]},
                },
            },
        }
    },
}

OPERATION_OUTCOME_SCHEMA: Document = {
    "type": "object",
    "description": "FHIR R4 OperationOutcome: one issue per problem, naming the element.",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {
                        "type": "string",
                        "enum": ["fatal", "error", "warning", "information"],
                    },
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

FHIR_CONSENT_SCHEMA: Document = {
    "type": "object",
    "description": (
        "FHIR R4 Consent (scope patient-privacy, status active). See docs/fhir.md for the "
        "element-by-element mapping onto caseops consents."
    ),
    "required": ["resourceType"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Consent"]},
        "id": {"type": "string"},
        "status": {"type": "string"},
        "scope": {"type": "object"},
        "category": {"type": "array", "items": {"type": "object"}},
        "patient": {"type": "object"},
        "dateTime": {"type": "string"},
        "performer": {"type": "array", "items": {"type": "object"}},
        "organization": {"type": "array", "items": {"type": "object"}},
        "policyRule": {"type": "object"},
        "provision": {"type": "object"},
    },
}

REQUEST_ID_HEADER: Document = {
    "description": "The request's id (yours if you sent a usable X-Request-Id); it is in the log.",
    "schema": {"type": "string"},
}


def _fhir_error(status: str) -> Document:
    return {
        "description": STATUS_TEXT[status],
        "content": {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}},
    }


def _fhir_paths() -> Document:
    consent = {"$ref": "#/components/schemas/FhirConsent"}
    bundle = {
        "type": "object",
        "required": ["resourceType", "type", "entry"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["Bundle"]},
            "type": {"type": "string", "enum": ["collection"]},
            "entry": {
                "type": "array",
                "items": {"type": "object", "properties": {"resource": consent}},
            },
        },
    }
    auth_errors = {code: _fhir_error(code) for code in ("400", "401", "403", "414", "503")}
    return {
        "/fhir/": {
            "get": {
                "operationId": "fhir.base",
                "tags": ["fhir"],
                "summary": (
                    "The FHIR base: its CapabilityStatement (Consent: create, read; referrals "
                    "as Task and ServiceRequest: read)."
                ),
                "responses": _capabilities(),
            }
        },
        "/fhir/metadata": {
            "get": {
                "operationId": "fhir.metadata",
                "tags": ["fhir"],
                "summary": "The capabilities interaction: the endpoint's CapabilityStatement.",
                "responses": _capabilities(),
            }
        },
        "/fhir/Consent": {
            "post": {
                "operationId": "fhir.create_consent",
                "tags": ["fhir"],
                "summary": "Record consents from one FHIR R4 Consent (consent_officer).",
                "description": (
                    "A resource that cannot be mapped whole, or whose consents fail the "
                    "recording-time checks, is answered 422 with an OperationOutcome naming "
                    "each element; nothing is stored. One consent answers the Consent; a "
                    "resource that maps onto several answers a Bundle of them."
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        FHIR_JSON: {"schema": consent},
                        JSON: {"schema": consent},
                    },
                },
                "responses": {
                    "201": {
                        "description": "Recorded; Location names the (first) consent.",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": {FHIR_JSON: {"schema": {"oneOf": [consent, bundle]}}},
                    },
                    **auth_errors,
                    **{code: _fhir_error(code) for code in ("404", "413", "415", "422")},
                },
            }
        },
        "/fhir/Consent/{consent_id}": {
            "parameters": [
                {
                    "in": "path",
                    "name": "consent_id",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1},
                }
            ],
            "get": {
                "operationId": "fhir.read_consent",
                "tags": ["fhir"],
                "summary": "Read one consent as FHIR R4 (consent and privacy officers).",
                "responses": {
                    "200": {
                        "description": "The consent, with its status now.",
                        "content": {FHIR_JSON: {"schema": consent}},
                    },
                    **auth_errors,
                    **{code: _fhir_error(code) for code in ("404", "422")},
                },
            },
        },
        **{
            f"/fhir/{kind}/{{referral_id}}": _fhir_referral_read(kind, auth_errors)
            for kind in ("Task", "ServiceRequest")
        },
    }


def _capabilities() -> Document:
    return {
        "200": {
            "description": "The endpoint's R4 CapabilityStatement.",
            "content": {
                FHIR_JSON: {"schema": {"$ref": "#/components/schemas/FhirCapabilityStatement"}}
            },
        },
        **{code: _fhir_error(code) for code in ("400", "401", "414", "503")},
    }


def _fhir_referral_read(kind: str, auth_errors: Document) -> Document:
    """A referral as a Task or ServiceRequest (caseops.referrals.fhir_routes)."""
    operation = "read_task" if kind == "Task" else "read_service_request"
    return {
        "parameters": [
            {
                "in": "path",
                "name": "referral_id",
                "required": True,
                "schema": {"type": "string", "minLength": 1},
            }
        ],
        "get": {
            "operationId": f"fhir_referrals.{operation}",
            "tags": ["fhir"],
            "summary": f"Read one referral as an HL7 Gravity SDOH {kind} (either side).",
            "description": (
                "`ref-<hex>` or the caseops `ref_<hex>`. Both sides of the referral may read "
                "it (their integration accounts included), as `GET /api/v1/referrals/{id}` "
                "shows it to them; anyone else gets the 404 an unknown id gets. See "
                "docs/fhir.md for the mapping."
            ),
            "responses": {
                "200": {
                    "description": f"The referral as a FHIR R4 {kind}.",
                    "content": {
                        FHIR_JSON: {"schema": {"$ref": f"#/components/schemas/Fhir{kind}"}}
                    },
                },
                **auth_errors,
                **{code: _fhir_error(code) for code in ("404", "422")},
            },
        },
    }


CAPABILITY_STATEMENT_SCHEMA: Document = {
    "type": "object",
    "description": "FHIR R4 CapabilityStatement: the resources and interactions served.",
    "required": ["resourceType", "status", "date", "kind", "fhirVersion", "format", "rest"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["CapabilityStatement"]},
        "status": {"type": "string"},
        "date": {"type": "string"},
        "kind": {"type": "string"},
        "fhirVersion": {"type": "string"},
        "format": {"type": "array", "items": {"type": "string"}},
        "rest": {"type": "array", "items": {"type": "object"}},
    },
}


FHIR_REFERRAL_SCHEMAS: Document = {
    f"Fhir{kind}": {
        "type": "object",
        "description": f"FHIR R4 {kind} of a referral. See docs/fhir.md for the mapping.",
        "required": ["resourceType", "id", "intent"],
        "properties": {
            "resourceType": {"type": "string", "enum": [kind]},
            "id": {"type": "string"},
            "meta": {"type": "object"},
            "identifier": {"type": "array", "items": {"type": "object"}},
            "status": {"type": "string"},
            "_status": {"type": "object"},
            "intent": {"type": "string", "enum": ["order"]},
            "priority": {"type": "string", "enum": ["routine", "urgent"]},
            "authoredOn": {"type": "string"},
            "requester": {"type": "object"},
        },
    }
    for kind in ("Task", "ServiceRequest")
}


# Text caseops cannot store (caseops.http_limits refuses it with 422 naming the field).
NO_NUL = "^[^\\x00]*$"
ERROR_SCHEMAS = frozenset({"Error", "OperationOutcome"})


def _edge_limits() -> tuple[dict[str, int], int, dict[str, int], int]:
    """The edge's limits on path parameters, read from caseops.http_limits so the document
    cannot drift from what is enforced (defaults while that module is absent)."""
    try:
        from caseops import http_limits as limits
    except ImportError:  # pragma: no cover - the limits are enforced by that module
        return {}, 200, {}, 2**31 - 1
    return (
        getattr(limits, "PATH_PARAMETER_LENGTH", {}),
        getattr(limits, "DEFAULT_PATH_PARAMETER_LENGTH", 200),
        getattr(limits, "INT_PARAMETER_MAX", {}),
        getattr(limits, "INT32_MAX", 2**31 - 1),
    )


def _storable_text(schema: Any) -> None:
    """Every plain string schema, however nested, refuses NUL (as the edge does)."""
    if isinstance(schema, list):
        for item in schema:
            _storable_text(item)
        return
    if not isinstance(schema, dict):
        return
    if (
        schema.get("type") == "string"
        and not {"enum", "pattern", "format"} & schema.keys()
        and "$ref" not in schema
    ):
        schema["pattern"] = NO_NUL
    for key, value in schema.items():
        if key in {"example", "examples", "default", "enum"}:
            continue
        _storable_text(value)


def _bound_parameters(parameters: list[Document]) -> None:
    lengths, default_length, int_max, default_int_max = _edge_limits()
    for parameter in parameters:
        schema = parameter.get("schema", {})
        if parameter.get("in") != "path":
            continue
        name = parameter.get("name", "")
        if schema.get("type") == "integer":
            schema.setdefault("maximum", int_max.get(name, default_int_max))
        elif schema.get("type") == "string":
            schema.setdefault("maxLength", lengths.get(name, default_length))


def _error_response(status: str) -> Document:
    response: Document = {
        "description": STATUS_TEXT[status],
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status == "503":
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before retrying (when the outage is transient).",
                "schema": {"type": "integer"},
            }
        }
    return response


def _statuses_for(key: str, method: str, operation: Document, path_item: Document) -> list[str]:
    """Which error statuses an operation can answer, from what the operation takes."""
    params = [*path_item.get("parameters", []), *operation.get("parameters", [])]
    has_body = "requestBody" in operation
    statuses = {"400", "401", "403", "414", "503"}
    if any(p.get("in") == "path" for p in params):
        statuses.add("404")
    if params or has_body:
        statuses.add("422")
    if has_body:
        statuses |= {"413", "415"}
    if method in WRITE_METHODS:
        statuses.add("409")
    statuses |= set(EXTRA_STATUSES.get(key, ()))
    return sorted(statuses)


def complete(document: Document, *, session_cookie: str) -> Document:
    """The generated document, made to describe caseops' real answers (a new dict)."""
    doc = copy.deepcopy(document)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["OperationOutcome"] = OPERATION_OUTCOME_SCHEMA
    schemas["FhirConsent"] = FHIR_CONSENT_SCHEMA
    schemas.update(FHIR_REFERRAL_SCHEMAS)
    schemas["FhirCapabilityStatement"] = CAPABILITY_STATEMENT_SCHEMA
    # flask-smorest's generic responses name its own flat error shape; caseops states its own.
    components["responses"] = {
        name: response
        for name, response in components.get("responses", {}).items()
        if name not in {"DEFAULT_ERROR", "UNPROCESSABLE_ENTITY"}
    }
    components["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An API token (`POST /api/v1/users/{username}/tokens`), sent as "
                "`Authorization: Bearer <token>`. Integration accounts use only tokens."
            ),
        },
        "session": {
            "type": "apiKey",
            "in": "cookie",
            "name": session_cookie,
            "description": (
                "The browser session after password and second-factor login. State-changing "
                "requests on the session must also carry the page's CSRF token "
                "(`X-CSRFToken` header)."
            ),
        },
    }
    doc["security"] = [{"bearer": []}, {"session": []}]
    doc.setdefault("paths", {}).update(_fhir_paths())
    for path, path_item in doc["paths"].items():
        _bound_parameters(path_item.get("parameters", []))
        for method in HTTP_METHODS:
            if method in path_item:
                _bound_parameters(path_item[method].get("parameters", []))
        if not path.startswith(API_PREFIX):
            continue
        for method in HTTP_METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            key = f"{method.upper()} {path}"
            if key in EXTRA_REQUEST_BODIES:
                operation["requestBody"] = copy.deepcopy(EXTRA_REQUEST_BODIES[key])
            responses = operation.setdefault("responses", {})
            responses.pop("default", None)
            for status in _statuses_for(key, method, operation, path_item):
                documented = responses.get(status, {})
                # Keep an operation's own wording (e.g. why a record PUT conflicts).
                response = _error_response(status)
                if "$ref" not in documented and documented.get("description"):
                    response["description"] = documented["description"]
                responses[status] = response
            for status, response in responses.items():
                if status.startswith("2") and "$ref" not in response:
                    response.setdefault("headers", {})["X-Request-Id"] = REQUEST_ID_HEADER
    # Request-side text only: an error's details and an OperationOutcome's expressions
    # name the refused field as it was sent, NUL included.
    _storable_text(doc["paths"])
    _storable_text({name: schema for name, schema in schemas.items() if name not in ERROR_SCHEMAS})
    tags = doc.setdefault("tags", [])
    if not any(tag.get("name") == "fhir" for tag in tags):
        tags.append(
            {"name": "fhir", "description": "FHIR R4 Consent; referrals as Task and ServiceRequest"}
        )
    return doc


def openapi_path(rule: str) -> str:
    """Werkzeug's ``/users/<username>/tokens/<int:token_id>`` as OpenAPI's ``{token_id}``."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule)


def _accepted_media_types(document: Document) -> dict[tuple[str, str], frozenset[str]]:
    """(OpenAPI path, METHOD) -> media types its request body accepts."""
    accepted = {}
    for path, path_item in document.get("paths", {}).items():
        for method in HTTP_METHODS:
            body = (path_item.get(method) or {}).get("requestBody")
            if body:
                accepted[(path, method.upper())] = frozenset(body.get("content", {}))
    return accepted


def _acceptable(mimetype: str, accepted: frozenset[str]) -> bool:
    if mimetype in accepted:
        return True
    # application/<anything>+json is JSON to every JSON reader caseops uses.
    return JSON in accepted and mimetype.startswith("application/") and mimetype.endswith("+json")


def register(app: Flask) -> None:
    """Serve the completed document and refuse bodies of media types it does not list."""
    from caseops.extensions import api

    spec = api.spec
    generated: Callable[[], Document] = spec.to_dict

    def to_dict() -> Document:
        cookie = app.config.get("SESSION_COOKIE_NAME", "session")
        return complete(generated(), session_cookie=cookie)

    spec.to_dict = to_dict  # type: ignore[method-assign]

    @cache
    def accepted_types() -> dict[tuple[str, str], frozenset[str]]:
        # Built on first use: every blueprint has been registered by then.
        return _accepted_media_types(spec.to_dict())

    @app.before_request
    def require_documented_media_type() -> None:
        """415 naming the expected type, before any field is read (after authentication)."""
        # the request, not its proxy: see caseops.http_limits.check_request
        req = request._get_current_object()
        method = req.method
        if req.url_rule is None or method not in {"POST", "PUT", "PATCH", "DELETE"}:
            return
        accepted = accepted_types().get((openapi_path(req.url_rule.rule), method))
        if not accepted:
            return
        mimetype = req.mimetype
        has_body = bool(req.content_length) or "chunked" in req.headers.get("Transfer-Encoding", "")
        if not mimetype and not has_body:
            return  # no body at all: the fields' own rules say what is missing
        if mimetype and _acceptable(mimetype, accepted):
            return
        expected = " or ".join(sorted(accepted))
        sent = mimetype or "no Content-Type"
        raise UnsupportedMediaType(
            f"Send the body as {expected} (got {sent}).",
            details={"Content-Type": [f"Must be {expected}."]},
        )

    @app.get(f"{API_PREFIX}/docs")
    def api_reference() -> Response:
        """The browsable reference: Swagger UI from our own static files (docs/api.md)."""
        html = render_template("api_reference.html", spec_url=f"{API_PREFIX}/openapi.json")
        return current_app.response_class(html, mimetype="text/html")

    from caseops.auth.current import public

    public(api_reference)
