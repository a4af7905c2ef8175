"""The consent officer's workflow: record, amend, revoke, explain; and the consent side
of every access decision (``consents_of`` feeds ``consent.decide``).

Status is never stored: it is derived from the versions and revocations at the instant
asked, so a revocation counts from the moment it is committed, in every process.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select

import consent
from caseops.agencies.models import Agency
from caseops.audit.service import record as audit
from caseops.authz.actor import Actor
from caseops.authz.guard import require
from caseops.clients import linking
from caseops.clients.models import Client
from caseops.consents.models import ConsentDocument, ConsentRecord, ConsentRevocation
from caseops.crypto import keyring_from_config
from caseops.db_types import utcnow
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.records.models import SourceRecord
from caseops.vocabulary import CATEGORIES, PURPOSES

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
DOCUMENT_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/tiff")


# --- the consent side of decisions -------------------------------------------------------


def to_domain(row: ConsentRecord, superseded: bool = False) -> consent.Consent:
    return consent.Consent(
        id=row.id,
        client_id=row.client_id,
        grantor=consent.Grantor(kind=row.grantor_kind, name=row.grantor_name),
        provision=row.provision,
        source_agencies=frozenset(row.source_agencies),
        categories=frozenset(row.categories),
        recipients=frozenset(row.recipients),
        purposes=frozenset(row.purposes),
        effective_from=row.effective_from,
        expires_at=row.expires_at,
        expiry_event=row.expiry_event,
        signed_at=row.signed_at,
        evidence=consent.Evidence(method=row.evidence_method, document_sha256=row.document_sha256),
        revocation_right_acknowledged=row.revocation_right_acknowledged,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
        version=row.version,
        supersedes=row.supersedes,
    )


def revocation_to_domain(row: ConsentRevocation) -> consent.Revocation:
    return consent.Revocation(
        consent_id=row.consent_id,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        reason=row.reason,
        method=row.method,
    )


@dataclass(frozen=True)
class ClientConsents:
    rows: list[ConsentRecord]
    revocations: list[ConsentRevocation]

    @property
    def domain(self) -> tuple[list[consent.Consent], list[consent.Revocation]]:
        return [to_domain(r) for r in self.rows], [
            revocation_to_domain(r) for r in self.revocations
        ]


_CLIENT_CONSENTS = (
    select(ConsentRecord, ConsentRevocation)
    .outerjoin(ConsentRevocation, ConsentRevocation.consent_id == ConsentRecord.id)
    .where(ConsentRecord.client_id == bindparam("client_id"))
    .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
)


def consents_of(client_id: str) -> ClientConsents:
    """Every version and revocation of a client's consents, read fresh (never cached),
    in one round trip (a consent has at most one revocation)."""
    rows: list[ConsentRecord] = []
    revocations: list[ConsentRevocation] = []
    for row, revocation in db.session.execute(_CLIENT_CONSENTS, {"client_id": client_id}):
        rows.append(row)
        if revocation is not None:
            revocations.append(revocation)
    return ClientConsents(rows, revocations)


def client_birth_date(client_id: str) -> date | None:
    """The client's birth date as the agencies report it (for the FERPA signer rule)."""
    for record in db.session.scalars(
        select(SourceRecord).where(
            SourceRecord.client_id == client_id, SourceRecord.withdrawn_at.is_(None)
        )
    ):
        value = linking.decrypt_person(record).get("birth_date")
        if value:
            return date.fromisoformat(value)
    return None


# --- authorization and lookups ------------------------------------------------------------


def _require(actor: Actor, act: str, action: str, client_id: str | None = None) -> None:
    require(
        actor,
        "consents",
        act,
        action=action,
        message="Your role may not do this with consents.",
        client_id=client_id,
    )


def require_manage(actor: Actor) -> None:
    """For callers that must refuse before even parsing (the FHIR endpoint)."""
    _require(actor, "manage", "consent.record")


def _client(client_id: str) -> Client:
    client = db.session.get(Client, client_id)
    if client is None:
        raise NotFound(f"No client {client_id!r}.")
    return client


def _consent(consent_id: str) -> ConsentRecord:
    row = db.session.get(ConsentRecord, consent_id)
    if row is None:
        raise NotFound(f"No consent {consent_id!r}.")
    return row


# --- recording --------------------------------------------------------------------------


def _agency_flags() -> dict[str, bool]:
    return {
        code: part2 for code, part2 in db.session.execute(select(Agency.code, Agency.part2_program))
    }


def _validate(client_id: str, body: dict[str, Any], now: datetime) -> None:
    agencies = _agency_flags()
    errors: dict[str, list[str]] = {}
    for field in ("source_agencies", "recipients"):
        unknown = sorted(set(body.get(field) or []) - set(agencies) - {consent.ANY})
        if unknown:
            errors[field] = [f"Unknown agency code: {', '.join(unknown)}."]
    context = consent.ValidationContext(
        now=now,
        part2_source=any(agencies.get(code, False) for code in body.get("source_agencies") or []),
        client_birth_date=client_birth_date(client_id),
        categories=frozenset(CATEGORIES),
        purposes=frozenset(PURPOSES),
    )
    for field, reasons in consent.validate_consent(
        body | {"client_id": client_id}, context
    ).items():
        errors.setdefault(field, []).extend(reasons)
    if errors:
        raise ValidationFailed("The consent is incomplete or inconsistent.", details=errors)


def _document_for(client_id: str, sha256: str | None) -> int | None:
    if not sha256:
        return None
    return db.session.scalar(
        select(ConsentDocument.id).where(
            ConsentDocument.client_id == client_id, ConsentDocument.sha256 == sha256
        )
    )


def _scope(row: ConsentRecord) -> dict[str, Any]:
    return {
        "provision": row.provision,
        "source_agencies": row.source_agencies,
        "categories": row.categories,
        "recipients": row.recipients,
        "purposes": row.purposes,
        "effective_from": row.effective_from.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
    }


def _insert(
    actor: Actor, client_id: str, body: dict[str, Any], version: int, supersedes: str | None
) -> ConsentRecord:
    now = utcnow()
    _validate(client_id, body, now)
    evidence = body.get("evidence") or {}
    grantor = body.get("grantor") or {}
    row = ConsentRecord(
        id="cns_" + secrets.token_hex(10),
        client_id=client_id,
        version=version,
        supersedes=supersedes,
        provision=body["provision"],
        source_agencies=sorted(body["source_agencies"]),
        categories=sorted(body["categories"]),
        recipients=sorted(body["recipients"]),
        purposes=sorted(body["purposes"]),
        effective_from=body["effective_from"],
        expires_at=body.get("expires_at"),
        expiry_event=body.get("expiry_event"),
        signed_at=body["signed_at"],
        grantor_kind=grantor["kind"],
        grantor_name=grantor["name"],
        evidence_method=evidence["method"],
        document_sha256=evidence.get("document_sha256"),
        document_id=_document_for(client_id, evidence.get("document_sha256")),
        revocation_right_acknowledged=bool(body.get("revocation_right_acknowledged")),
        recorded_by=actor.username,
        recorded_at=now,
    )
    db.session.add(row)
    db.session.flush()
    return row


def record_consent(actor: Actor, client_id: str, body: dict[str, Any]) -> ConsentRecord:
    """Record a new consent (version 1) for a client, with its audit entry, atomically."""
    row = add_consent(actor, client_id, body)
    db.session.commit()
    return row


def add_consent(actor: Actor, client_id: str, body: dict[str, Any]) -> ConsentRecord:
    """Record a consent inside the caller's transaction (FHIR may record several at once)."""
    _require(actor, "manage", "consent.record", client_id)
    _client(client_id)
    row = _insert(actor, client_id, body, version=1, supersedes=None)
    audit(
        "consent.recorded",
        actor=actor,
        target_type="consent",
        target_id=row.id,
        client_id=client_id,
        detail={"version": 1, "scope": _scope(row)},
        session=db.session,
    )
    return row


def amend(actor: Actor, consent_id: str, body: dict[str, Any]) -> ConsentRecord:
    """A new version that supersedes the latest one; the old version stays as it was."""
    _require(actor, "manage", "consent.amend")
    previous = _consent(consent_id)
    if db.session.scalar(select(ConsentRecord.id).where(ConsentRecord.supersedes == consent_id)):
        raise Conflict("Amend the latest version of this consent.", code="not_latest_version")
    if db.session.scalar(
        select(ConsentRevocation.id).where(ConsentRevocation.consent_id == consent_id)
    ):
        raise Conflict("A revoked consent cannot be amended; record a new one.", code="revoked")
    row = _insert(
        actor, previous.client_id, body, version=previous.version + 1, supersedes=previous.id
    )
    audit(
        "consent.amended",
        actor=actor,
        target_type="consent",
        target_id=row.id,
        client_id=row.client_id,
        detail={
            "version": row.version,
            "supersedes": previous.id,
            "before": _scope(previous),
            "after": _scope(row),
        },
        session=db.session,
    )
    db.session.commit()
    return row


def revoke(actor: Actor, consent_id: str, reason: str, method: str) -> ConsentRevocation:
    """Revoke a consent; it stops permitting from this instant, everywhere."""
    _require(actor, "manage", "consent.revoke")
    row = _consent(consent_id)
    if db.session.scalar(select(ConsentRecord.id).where(ConsentRecord.supersedes == consent_id)):
        raise Conflict("Revoke the latest version of this consent.", code="not_latest_version")
    if db.session.scalar(
        select(ConsentRevocation.id).where(ConsentRevocation.consent_id == consent_id)
    ):
        raise Conflict("The consent is already revoked.", code="already_revoked")
    revocation = ConsentRevocation(
        consent_id=consent_id,
        revoked_at=utcnow(),
        revoked_by=actor.username,
        reason=reason,
        method=method,
    )
    db.session.add(revocation)
    audit(
        "consent.revoked",
        actor=actor,
        target_type="consent",
        target_id=consent_id,
        client_id=row.client_id,
        detail={"reason": reason, "method": method},
        session=db.session,
    )
    db.session.commit()
    return revocation


# --- reading ----------------------------------------------------------------------------


def describe(row: ConsentRecord, data: ClientConsents, at: datetime) -> dict[str, Any]:
    consents, revocations = data.domain
    status = consent.status_at(to_domain(row), at, revocations=revocations, successors=consents)
    revocation = next((r for r in data.revocations if r.consent_id == row.id), None)
    successor = next((r.id for r in data.rows if r.supersedes == row.id), None)
    return {
        "id": row.id,
        "client_id": row.client_id,
        "version": row.version,
        "supersedes": row.supersedes,
        "superseded_by": successor,
        "status": str(status),
        **_scope(row),
        "effective_from": row.effective_from,
        "expires_at": row.expires_at,
        "expiry_event": row.expiry_event,
        "signed_at": row.signed_at,
        "grantor": {"kind": row.grantor_kind, "name": row.grantor_name},
        "evidence": {
            "method": row.evidence_method,
            "document_sha256": row.document_sha256,
            "document_stored": row.document_id is not None,
        },
        "revocation_right_acknowledged": row.revocation_right_acknowledged,
        "recorded_by": row.recorded_by,
        "recorded_at": row.recorded_at,
        "revocation": revocation,
    }


def timeline(data: ClientConsents) -> list[dict[str, Any]]:
    events = [
        {
            "at": r.recorded_at,
            "event": "amended" if r.supersedes else "recorded",
            "consent_id": r.id,
            "version": r.version,
            "by": r.recorded_by,
            "detail": f"supersedes {r.supersedes}" if r.supersedes else None,
        }
        for r in data.rows
    ]
    versions = {r.id: r.version for r in data.rows}
    events += [
        {
            "at": r.revoked_at,
            "event": "revoked",
            "consent_id": r.consent_id,
            "version": versions[r.consent_id],
            "by": r.revoked_by,
            "detail": r.reason,
        }
        for r in data.revocations
    ]
    return sorted(events, key=lambda e: (e["at"], e["consent_id"]))


def client_consents(actor: Actor, client_id: str) -> dict[str, Any]:
    """Every version with its status now, and the timeline of events (logged as a view)."""
    _require(actor, "read", "consent.view", client_id)
    _client(client_id)
    data = consents_of(client_id)
    now = utcnow()
    result = {
        "client_id": client_id,
        "consents": [describe(row, data, now) for row in data.rows],
        "timeline": timeline(data),
    }
    audit(
        "consent.viewed",
        actor=actor,
        target_type="client",
        target_id=client_id,
        client_id=client_id,
        detail={"consent_ids": [r.id for r in data.rows]},
    )
    return result


def readable_consent(actor: Actor, consent_id: str) -> ConsentRecord:
    """One consent for reading (consent and privacy officers), logged as a view."""
    _require(actor, "read", "consent.view")
    row = _consent(consent_id)
    audit(
        "consent.viewed",
        actor=actor,
        target_type="consent",
        target_id=row.id,
        client_id=row.client_id,
        detail={"consent_ids": [row.id]},
    )
    return row


def sharing(actor: Actor, client_id: str, purpose: str) -> dict[str, Any]:
    """What may be shared with whom right now: for each category and recipient agency, the
    source agencies whose records the consents release, and the consent behind each."""
    _require(actor, "manage", "consent.sharing", client_id)
    _client(client_id)
    if purpose not in PURPOSES:
        raise ValidationFailed(
            "Unknown purpose.", details={"purpose": [f"One of {', '.join(PURPOSES)}."]}
        )
    consents, revocations = consents_of(client_id).domain
    agencies = _agency_flags()
    birth_date = client_birth_date(client_id)
    now = utcnow()
    cells = []
    for category in CATEGORIES:
        for recipient in sorted(agencies):
            sources, reasons = [], set()
            for source, part2 in sorted(agencies.items()):
                if source == recipient:
                    continue
                decision = consent.decide(
                    consents,
                    revocations,
                    consent.AccessRequest(
                        client_id=client_id,
                        source_agency=source,
                        source_is_part2_program=part2,
                        category=category,
                        recipient_agency=recipient,
                        purpose=purpose,
                        at=now,
                        client_birth_date=birth_date,
                    ),
                )
                if decision.permitted:
                    sources.append(
                        {
                            "agency": source,
                            "consent_id": decision.consent_id,
                            "notice": bool(decision.obligations),
                        }
                    )
                else:
                    reasons.add(str(decision.reason))
            cells.append(
                {
                    "category": category,
                    "recipient": recipient,
                    "sources": sources,
                    "withheld_reasons": sorted(reasons - {"no_consent"}) or None,
                }
            )
    audit(
        "consent.sharing_viewed",
        actor=actor,
        target_type="client",
        target_id=client_id,
        client_id=client_id,
        purpose=purpose,
    )
    return {"client_id": client_id, "purpose": purpose, "at": now, "cells": cells}


def expiring(actor: Actor, days: int) -> list[dict[str, Any]]:
    """Active consents (latest versions) that expire within ``days``."""
    _require(actor, "manage", "consent.expiring")
    now = utcnow()
    rows = list(
        db.session.scalars(
            select(ConsentRecord)
            .where(
                ConsentRecord.expires_at > now,
                ConsentRecord.expires_at <= now + timedelta(days=days),
            )
            .order_by(ConsentRecord.expires_at)
        )
    )
    out = []
    for row in rows:
        data = consents_of(row.client_id)
        described = describe(row, data, now)
        if described["status"] == "active":
            out.append(described)
    return out


# --- documents ----------------------------------------------------------------------------


def document_context(client_id: str, sha256: str) -> str:
    return f"consent-document:{client_id}:{sha256}"


def store_document(
    actor: Actor, client_id: str, filename: str, content_type: str, content: bytes
) -> ConsentDocument:
    """Keep the signed form, encrypted; its SHA-256 is what a consent's evidence names."""
    _require(actor, "manage", "consent.document", client_id)
    _client(client_id)
    if content_type not in DOCUMENT_TYPES:
        raise ValidationFailed(
            "Unsupported document type.",
            details={"file": [f"Use one of {', '.join(DOCUMENT_TYPES)}."]},
        )
    if not content or len(content) > MAX_DOCUMENT_BYTES:
        raise ValidationFailed(
            "Empty or too large.",
            details={"file": [f"Between 1 byte and {MAX_DOCUMENT_BYTES} bytes."]},
        )
    digest = hashlib.sha256(content).hexdigest()
    existing = db.session.scalar(
        select(ConsentDocument).where(
            ConsentDocument.client_id == client_id, ConsentDocument.sha256 == digest
        )
    )
    if existing is not None:
        return existing
    keyring = keyring_from_config(current_app.config)
    document = ConsentDocument(
        client_id=client_id,
        sha256=digest,
        filename=filename[:200] or "document",
        content_type=content_type,
        size=len(content),
        content_encrypted=keyring.encrypt(
            base64.b64encode(content), document_context(client_id, digest)
        ),
        uploaded_by=actor.username,
    )
    db.session.add(document)
    db.session.flush()
    audit(
        "consent.document_stored",
        actor=actor,
        target_type="consent_document",
        target_id=str(document.id),
        client_id=client_id,
        detail={"sha256": digest, "size": len(content)},
        session=db.session,
    )
    db.session.commit()
    return document
