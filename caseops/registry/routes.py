"""/api/v1 consent endpoints for consent and privacy officers."""

from __future__ import annotations

from flask import request

from caseops.auth.current import current_actor
from caseops.errors import ValidationFailed
from caseops.extensions import ApiBlueprint
from caseops.registry import service
from caseops.registry.schemas import (
    AttestationQueueQuery,
    ClientConsentsOut,
    ConsentBodySchema,
    ConsentOut,
    DocumentOut,
    ExpiringQuery,
    RevocationOut,
    RevokeSchema,
    SharingQuery,
)

blp = ApiBlueprint("consents", __name__, url_prefix="/api/v1", description="Consents")


def _described(row):
    return service.described(current_actor(), row)


@blp.post("/clients/<client_id>/consents")
@blp.arguments(ConsentBodySchema)
@blp.response(201, ConsentOut)
def record_consent(body, client_id):
    """Record a consent (consent_officer). Part 2 and FERPA elements are checked per field."""
    return _described(service.record_consent(current_actor(), client_id, body))


@blp.get("/clients/<client_id>/consents")
@blp.response(200, ClientConsentsOut)
def list_consents(client_id):
    """Every version with its status now, and the timeline (consent/privacy officers)."""
    return service.client_consents(current_actor(), client_id)


@blp.post("/consents/<consent_id>/amend")
@blp.arguments(ConsentBodySchema)
@blp.response(201, ConsentOut)
def amend_consent(body, consent_id):
    """A new version superseding this one (which stays, as it was, in the history)."""
    return _described(service.amend(current_actor(), consent_id, body))


@blp.post("/consents/<consent_id>/revoke")
@blp.arguments(RevokeSchema)
@blp.response(200, RevocationOut)
def revoke_consent(body, consent_id):
    """Revoke; effective immediately."""
    return service.revoke(current_actor(), consent_id, body["reason"], body["method"])


@blp.post("/consents/<consent_id>/attest")
@blp.response(200, ConsentOut)
def attest_consent(consent_id):
    """Stand behind a consent for your agency's records (consent officer of a named source)."""
    return _described(service.attest(current_actor(), consent_id))


@blp.get("/consents/attestations")
@blp.arguments(AttestationQueueQuery, location="query")
@blp.response(200, ConsentOut(many=True))
def attestation_queue(query):
    """Consents naming your agency as a source that it has not stood behind yet."""
    return service.attestation_queue(current_actor())


@blp.get("/clients/<client_id>/sharing")
@blp.arguments(SharingQuery, location="query")
@blp.response(200)
def sharing(query, client_id):
    """What may be shared with whom right now: categories x recipient agencies."""
    return service.sharing(current_actor(), client_id, query["purpose"])


@blp.get("/consents/expiring")
@blp.arguments(ExpiringQuery, location="query")
@blp.response(200, ConsentOut(many=True))
def expiring(query):
    """Active consents expiring within ``days`` (default 30)."""
    return service.expiring(current_actor(), query["days"])


@blp.post("/clients/<client_id>/consent-documents")
@blp.response(201, DocumentOut)
def upload_document(client_id):
    """Store a signed form (multipart field ``file``), encrypted; answers its SHA-256."""
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed("No file.", details={"file": ["Send the document as 'file'."]})
    return service.store_document(
        current_actor(), client_id, upload.filename or "document", upload.mimetype, upload.read()
    )
