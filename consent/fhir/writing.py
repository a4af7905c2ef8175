"""caseops consent -> FHIR R4 Consent (`to_fhir`), and the R4 ids of stored consents."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from consent.fhir.codes import (
    _SCOPES,
    ACT_CODE,
    CONSENT_ACTION,
    CONSENT_CATEGORY_LOINC,
    CONSENT_SCOPE,
    EXT_EVIDENCE_METHOD,
    EXT_EXPIRY_EVENT,
    EXT_REVOCATION_ACK,
    PART2_2024_EXTENSIONS,
    PARTICIPATION_TYPE,
    ROLE_CODE,
    CodeMapping,
)
from consent.fhir.context import FhirContext, StoredDocument, _iso, _lookup
from consent.model import (
    ANY,
    Consent,
    GrantorKind,
    Provision,
    Status,
    status_at,
)

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def fhir_id(internal_id: str) -> str | None:
    """The R4 `id` of a stored consent: the caseops id with `_` written as `-`.

    caseops ids are `cns_<hex>`, and R4 ids may hold only `[A-Za-z0-9\\-.]{1,64}`; without
    a mapping a read would come back without the `id` R4 requires. caseops ids never
    contain `-`, so `internal_id` undoes this exactly. The access log, the `identifier`
    element and every other caseops answer keep the caseops id. None when even the
    mapped form is not a valid R4 id (then the resource goes out without `id`).
    """
    mapped = internal_id.replace("_", "-")
    return mapped if _FHIR_ID.fullmatch(mapped) else None


def internal_id(resource_id: str) -> str:
    """The caseops id a FHIR id names: `cns-<hex>` -> `cns_<hex>`. A caseops id given as
    it is (`cns_<hex>`) comes back unchanged, so lookups accept both forms."""
    return resource_id.replace("-", "_")


def consent_body(consent: Consent) -> dict[str, Any]:
    """The caseops consent API body of a stored consent, in the form `from_fhir` produces."""
    body: dict[str, Any] = {"client_id": consent.client_id, "provision": consent.provision.value}
    for scope in _SCOPES:
        body[scope] = sorted(getattr(consent, scope))
    body["effective_from"] = _iso(consent.effective_from)
    if consent.expires_at is not None:
        body["expires_at"] = _iso(consent.expires_at)
    if consent.expiry_event is not None:
        body["expiry_event"] = consent.expiry_event
    body["grantor"] = {"kind": consent.grantor.kind.value, "name": consent.grantor.name}
    if consent.signed_at is not None:
        body["signed_at"] = _iso(consent.signed_at)
    evidence: dict[str, Any] = {"method": consent.evidence.method.value}
    if consent.evidence.document_sha256:
        evidence["document_sha256"] = consent.evidence.document_sha256
    body["evidence"] = evidence
    body["revocation_right_acknowledged"] = consent.revocation_right_acknowledged
    for _, field, _ in PART2_2024_EXTENSIONS:
        value = getattr(consent, field)
        if value:  # only what the consent carries: the defaults are left out
            body[field] = str(value) if field == "general_designation" else value
    return body


_FHIR_STATUS = {
    Status.DRAFT: "draft",
    Status.NOT_YET_EFFECTIVE: "active",
    Status.ACTIVE: "active",
    Status.EXPIRED: "inactive",
    Status.REVOKED: "inactive",
    Status.SUPERSEDED: "inactive",
}
_RELATIONSHIP_FOR = {GrantorKind.PARENT: "PRN", GrantorKind.GUARDIAN: "GUARD"}


def _coding(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code}


def to_fhir(
    consent: Consent, context: FhirContext, *, status: Status | None = None
) -> dict[str, Any]:
    """R4 JSON for a stored consent.

    `status` is the consent's derived status, which only the caller can know (it needs the
    revocations and later versions); without it, the status is derived from the consent alone
    at `context.now` (or the current time).
    """
    if status is None:
        at = context.now or datetime.now(UTC)
        status = status_at(consent, at, revocations=(), successors=())
    patient = dict(context.patient_reference(consent.client_id))
    resource: dict[str, Any] = {"resourceType": "Consent"}
    resource_id = fhir_id(consent.id)
    if resource_id is not None:
        resource["id"] = resource_id
    resource["meta"] = {"versionId": str(consent.version)}

    extensions = _extensions(consent, context)
    performer, related = _performer(consent, patient)
    if related is not None:
        resource["contained"] = [related]
    resource["extension"] = extensions
    resource["identifier"] = [{"system": context.identifier_system, "value": consent.id}]
    resource["status"] = _FHIR_STATUS[status]
    resource["scope"] = {"coding": [_coding(CONSENT_SCOPE, "patient-privacy")]}
    resource["category"] = [{"coding": [_coding(CONSENT_CATEGORY_LOINC, "59284-0")]}]
    resource["patient"] = patient
    if consent.signed_at is not None:
        resource["dateTime"] = _iso(consent.signed_at)
    resource["performer"] = [performer]
    sources = sorted(consent.source_agencies - {ANY})
    if ANY not in consent.source_agencies and sources:
        resource["organization"] = [dict(context.agency_reference(s)) for s in sources]

    attachment = _attachment(consent, context)
    if attachment is not None:
        resource["sourceAttachment"] = attachment

    rule = "OPTIN" if consent.provision is Provision.PERMIT else "OPTOUT"
    resource["policyRule"] = {"coding": [_coding(ACT_CODE, rule)]}
    resource["provision"] = _provision(consent, context)
    return resource


def _extensions(consent: Consent, context: FhirContext) -> list[dict[str, Any]]:
    """The caseops-only fields as extensions."""
    extensions: list[dict[str, Any]] = [
        {
            "url": context.extension_url(EXT_EVIDENCE_METHOD),
            "valueCode": consent.evidence.method.value,
        },
        {
            "url": context.extension_url(EXT_REVOCATION_ACK),
            "valueBoolean": consent.revocation_right_acknowledged,
        },
    ]
    if consent.expiry_event is not None:
        extensions.append(
            {"url": context.extension_url(EXT_EXPIRY_EVENT), "valueString": consent.expiry_event}
        )
    for name, field, value_type in PART2_2024_EXTENSIONS:
        value = getattr(consent, field)
        if value:  # 42 CFR Part 2 (2024) elements, only where the consent carries them
            extensions.append(
                {
                    "url": context.extension_url(name),
                    value_type: str(value) if value_type == "valueCode" else value,
                }
            )
    return extensions


def _performer(
    consent: Consent, patient: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The grantor as `performer`: the Patient for `self`, otherwise a reference to a contained
    RelatedPerson (returned second, None for `self`)."""
    grantor = consent.grantor
    if grantor.kind is GrantorKind.SELF:
        performer = {**patient, "display": grantor.name}
        if "reference" not in performer:
            performer["type"] = "Patient"  # an identifier alone does not say it is the client
        return performer, None
    related: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "id": "grantor",
        "patient": patient,
        "name": [{"text": grantor.name}],
    }
    if grantor.kind in _RELATIONSHIP_FOR:
        related["relationship"] = [
            {"coding": [_coding(ROLE_CODE, _RELATIONSHIP_FOR[grantor.kind])]}
        ]
    return {"reference": "#grantor", "display": grantor.name}, related


def _attachment(consent: Consent, context: FhirContext) -> dict[str, Any] | None:
    """The stored document embedded (`data` plus SHA-1 `hash`), when `document_for` has it."""
    document = None
    if consent.evidence.document_sha256:
        document = _lookup(context.document_for, consent.evidence.document_sha256)
    if not isinstance(document, StoredDocument):
        return None
    attachment: dict[str, Any] = {
        "contentType": document.content_type,
        "data": base64.b64encode(document.data).decode(),
        "size": len(document.data),
        "hash": base64.b64encode(
            hashlib.sha1(document.data, usedforsecurity=False).digest()
        ).decode(),
    }
    if document.title:
        attachment["title"] = document.title
    return attachment


def _provision(consent: Consent, context: FhirContext) -> dict[str, Any]:
    """The untyped root provision: period, actors, action, purposes and categories."""
    provision: dict[str, Any] = {}
    period = {"start": _iso(consent.effective_from)}
    if consent.expires_at is not None:
        period["end"] = _iso(consent.expires_at)
    provision["period"] = period
    actors = []
    for scope, role in (("recipients", "IRCP"), ("source_agencies", "CST")):
        codes = getattr(consent, scope)
        if ANY in codes:
            continue
        for code in sorted(codes):
            actors.append(
                {
                    "role": {"coding": [_coding(PARTICIPATION_TYPE, role)]},
                    "reference": dict(context.agency_reference(code)),
                }
            )
    if actors:
        provision["actor"] = actors
    provision["action"] = [{"coding": [_coding(CONSENT_ACTION, "disclose")]}]
    if ANY not in consent.purposes:
        first: dict[str, CodeMapping] = {}
        for mapping in context.purpose_codes:
            if mapping.exact:
                first.setdefault(mapping.target, mapping)
        provision["purpose"] = [
            _coding(first[p].system, first[p].code)
            if p in first
            else _coding(context.purpose_system, p)
            for p in sorted(consent.purposes)
        ]
    if ANY not in consent.categories:
        provision["code"] = [
            {"coding": [_coding(context.category_system, c)]} for c in sorted(consent.categories)
        ]
    return provision
