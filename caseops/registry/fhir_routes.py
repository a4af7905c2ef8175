"""/fhir/Consent: FHIR R4 Consent in and out (consent.fhir does the mapping).

Resources carry R4 ids (`cns-<hex>`, see `consent.fhir.fhir_id`); a read accepts that form
or the caseops id (`cns_<hex>`), and the access log names the caseops id either way.

A resource that cannot be mapped whole, or whose mapped consents fail the recording-time
checks, is answered with an OperationOutcome naming each element; nothing is stored.

`GET /fhir/metadata` (and `GET /fhir/`) answer the endpoint's CapabilityStatement (Consent
here; referrals as Task and ServiceRequest in `caseops.referrals.fhir_routes`).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, request, url_for
from marshmallow import Schema, fields
from sqlalchemy import select

from caseops.agencies.models import Agency
from caseops.auth.current import current_actor
from caseops.clients.models import Client
from caseops.crypto import keyring_from_config
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.referrals.fhir import TASK_PROFILE
from caseops.registry import service
from caseops.registry.models import ConsentDocument, ConsentRecord
from consent.fhir import (
    FhirContext,
    StoredDocument,
    fhir_id,
    from_fhir,
    internal_id,
    to_fhir,
    to_operation_outcome,
    validation_issues,
)

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
FHIR_JSON = "application/fhir+json"


class _Body(Schema):
    """The consent body as the JSON API loads it (aware datetimes from ISO strings)."""

    effective_from = fields.AwareDateTime(load_default=None)
    expires_at = fields.AwareDateTime(load_default=None)
    signed_at = fields.AwareDateTime(load_default=None)


def _reference_id(reference: str, kind: str) -> str | None:
    prefix = f"{kind}/"
    return reference.split("/", 1)[1] if reference.startswith(prefix) else None


def _context(client_id: str | None = None) -> FhirContext:
    def client_for(reference: str) -> str | None:
        key = _reference_id(reference, "Patient")
        return key if key and db.session.get(Client, key) is not None else None

    def agency_for(reference: str) -> str | None:
        code = _reference_id(reference, "Organization")
        found = db.session.scalar(select(Agency.code).where(Agency.code == code)) if code else None
        return found

    def document_for(sha256: str) -> StoredDocument | None:
        row = db.session.scalar(
            select(ConsentDocument).where(
                ConsentDocument.sha256 == sha256, ConsentDocument.client_id == client_id
            )
        )
        if row is None:
            return None
        keyring = keyring_from_config(current_app.config)
        data = base64.b64decode(
            keyring.decrypt(
                row.content_encrypted, service.document_context(row.client_id, row.sha256)
            )
        )
        return StoredDocument(data=data, content_type=row.content_type, title=row.filename)

    return FhirContext(
        client_for=client_for,
        agency_for=agency_for,
        document_for=document_for,
        canonical_base=url_for("fhir.base", _external=True).rstrip("/"),
        now=utcnow(),
    )


def _fhir(body: dict[str, Any], status: int, headers: dict[str, str] | None = None):
    response = current_app.response_class(
        current_app.json.dumps(body), status=status, mimetype=FHIR_JSON
    )
    response.headers.update(headers or {})
    return response


def _base_url() -> str:
    return url_for("fhir.base", _external=True).rstrip("/")


def capability_statement(base_url: str, date: str) -> dict[str, Any]:
    """What this endpoint serves, as an R4 CapabilityStatement: Consent (create, read),
    and referrals as Task (SDOHCC Task For Referral Management) and ServiceRequest (read).
    Every interaction needs a token or a session, as every other caseops answer does."""
    resources = [
        {"type": "Consent", "interaction": [{"code": "read"}, {"code": "create"}]},
        {
            "type": "Task",
            "supportedProfile": [TASK_PROFILE],
            "interaction": [{"code": "read"}],
        },
        {"type": "ServiceRequest", "interaction": [{"code": "read"}]},
    ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "implementation": {"description": "caseops FHIR R4 endpoint", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": [FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "security": {"description": "A bearer token or a signed-in session."},
                "resource": resources,
            }
        ],
    }


@bp.get("/")
def base():
    """The FHIR base (for canonical URLs), answering what it serves: Consent, and
    referrals as Task and ServiceRequest (caseops.referrals.fhir_routes)."""
    return _fhir(capability_statement(_base_url(), utcnow().date().isoformat()), 200)


@bp.get("/metadata")
def metadata():
    """The capabilities interaction (`GET [base]/metadata`): the same CapabilityStatement."""
    return _fhir(capability_statement(_base_url(), utcnow().date().isoformat()), 200)


def _loaded(body: dict[str, Any]) -> dict[str, Any]:
    times = _Body().load({k: body.get(k) for k in ("effective_from", "expires_at", "signed_at")})
    return body | times


@bp.post("/Consent")
def create_consent():
    actor = current_actor()
    service.require_manage(actor)
    resource = request.get_json(silent=True)
    context = _context()
    mapping = from_fhir(resource, context)
    if not mapping.ok:
        return _fhir(to_operation_outcome(mapping.issues), 422)
    items = []
    for body in mapping.bodies:
        client_id = body.pop("client_id")
        items.append((client_id, _loaded(body)))
    rows, failures = service.record_consents(actor, items)
    if failures:
        issues = [
            issue
            for index, details in failures
            for issue in validation_issues(details, mapping.origins[index])
        ]
        return _fhir(to_operation_outcome(issues), 422)
    created = [_as_fhir(row) for row in rows]
    location = url_for("fhir.read_consent", consent_id=fhir_id(rows[0].id) or rows[0].id)
    if len(created) == 1:
        return _fhir(created[0], 201, {"Location": location})
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": item} for item in created],
    }
    return _fhir(bundle, 201, {"Location": location})


def _as_fhir(row: ConsentRecord, at: datetime | None = None) -> dict[str, Any]:
    status = service.status_of(row, at)
    return to_fhir(service.to_domain(row), _context(row.client_id), status=status)


@bp.get("/Consent/<consent_id>")
def read_consent(consent_id: str):
    """By its R4 id (`cns-<hex>`, as `to_fhir` writes it) or its caseops id (`cns_<hex>`)."""
    row = service.readable_consent(current_actor(), internal_id(consent_id))
    return _fhir(_as_fhir(row), 200)
