"""The consent officer's workflow: record, amend, revoke, explain; and the consent side
of every access decision (``consents_of`` feeds ``consent.decide``).

Status is never stored: it is derived from the versions and revocations at the instant
asked, so a revocation counts from the moment it is committed, in every process.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import String, bindparam, cast, select

import consent
from caseops.agencies.models import Agency
from caseops.agreements import service as agreements
from caseops.audit.service import record as audit
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
from caseops.clients.models import Client
from caseops.crypto import keyring_from_config
from caseops.db_types import utcnow
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.matching import store
from caseops.records.models import SourceRecord
from caseops.registry.models import (
    ConsentAttestation,
    ConsentDocument,
    ConsentRecord,
    ConsentRevocation,
)
from caseops.storage.pipeline import column_rows
from caseops.vocabulary import CATEGORIES, PURPOSES
from caseops.webhooks import outbox

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
        recorded_by_agency=row.recorded_by_agency,
        version=row.version,
        supersedes=row.supersedes,
        intermediary=row.intermediary,
        general_designation=row.general_designation,
        recipient_description=row.recipient_description,
        hipaa_redisclosure_statement=bool(row.hipaa_redisclosure_statement),
    )


def revocation_to_domain(row: ConsentRevocation) -> consent.Revocation:
    return consent.Revocation(
        consent_id=row.consent_id,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        reason=row.reason,
        method=row.method,
    )


def attestation_to_domain(row: ConsentAttestation) -> consent.Attestation:
    return consent.Attestation(
        consent_id=row.consent_id,
        agency=row.agency_code,
        attested_by=row.attested_by,
        attested_at=row.attested_at,
    )


@dataclass(frozen=True)
class ClientConsents:
    """A client's consent versions and revocations, and what bears on whom they speak for:
    the attestations of those versions and the standing trust rules in force."""

    rows: list[ConsentRecord]
    revocations: list[ConsentRevocation]
    attestations: list[ConsentAttestation] = field(default_factory=list)
    rules: list[consent.TrustRule] = field(default_factory=list)

    @property
    def domain(self) -> tuple[list[consent.Consent], list[consent.Revocation]]:
        return [to_domain(r) for r in self.rows], [
            revocation_to_domain(r) for r in self.revocations
        ]

    @property
    def trust(self) -> consent.Trust:
        """The facts ``consent.decide(..., trust=)`` needs for this client."""
        return consent.Trust(
            attestations=[attestation_to_domain(a) for a in self.attestations], rules=self.rules
        )


_CLIENT_CONSENTS = (
    select(ConsentRecord, ConsentRevocation)
    .outerjoin(ConsentRevocation, ConsentRevocation.consent_id == ConsentRecord.id)
    .where(ConsentRecord.client_id == bindparam("client_id"))
    .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
)
_CLIENT_ATTESTATIONS = (
    select(ConsentAttestation)
    .join(ConsentRecord, ConsentRecord.id == ConsentAttestation.consent_id)
    .where(ConsentRecord.client_id == bindparam("client_id"))
    .order_by(ConsentAttestation.attested_at, ConsentAttestation.id)
)


def rules_in_force() -> list[consent.TrustRule]:
    """The trust clauses of data sharing agreements, each in force while its agreement is
    (``consent.agreements``; migration 0020 converted the standing rules into these)."""
    return agreements.trust_rules()


# What a decision reads of a client's consents, as columns (``decision_consents``): the
# same rows in the same order as ``_CLIENT_CONSENTS`` and ``_CLIENT_ATTESTATIONS``, every
# consent column under its own name (``to_domain`` reads a row of them as it reads the
# entity) and the revocation's beside it, ``revocation_id`` telling whether there is one.
_REVOCATION_FIELDS = ("id", "revoked_at", "revoked_by", "reason", "method")
_DECISION_CONSENTS = (
    select(
        *ConsentRecord.__table__.c,
        *(
            ConsentRevocation.__table__.c[name].label(f"revocation_{name}")
            for name in _REVOCATION_FIELDS
        ),
    )
    .outerjoin(ConsentRevocation, ConsentRevocation.consent_id == ConsentRecord.id)
    .where(ConsentRecord.client_id == bindparam("client_id"))
    .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
)
_DECISION_ATTESTATIONS = (
    select(
        ConsentAttestation.consent_id,
        ConsentAttestation.agency_code,
        ConsentAttestation.attested_by,
        ConsentAttestation.attested_at,
    )
    .join(ConsentRecord, ConsentRecord.id == ConsentAttestation.consent_id)
    .where(ConsentRecord.client_id == bindparam("client_id"))
    .order_by(ConsentAttestation.attested_at, ConsentAttestation.id)
)


@dataclass(frozen=True)
class DecisionConsents:
    """What ``consent.decide`` takes of a client's consents: ``consents_of(...).domain``
    and ``.trust``, read as columns."""

    consents: list[consent.Consent]
    revocations: list[consent.Revocation]
    trust: consent.Trust


def consent_reads(client_id: str) -> list[tuple[Any, dict[str, Any]]]:
    """The statements ``decision_consents(client_id)`` runs, for a hot path's one
    pipeline (``caseops.storage.pipeline``); the attestations are sent even when the
    client has no consent (an empty answer in the same round trip costs less than a
    second one)."""
    params = {"client_id": client_id}
    return [(_DECISION_CONSENTS, params), (_DECISION_ATTESTATIONS, params)]


def decision_consents(client_id: str) -> DecisionConsents:
    """A client's consents as a decision takes them, read fresh (never cached): what
    ``consents_of(client_id)``'s ``domain`` and ``trust`` give, without building the ORM
    entities a decision never changes (the view, its poll and search read them on every
    request; issue 20). Equal to those by test (tests/registry)."""
    params = {"client_id": client_id}
    rows = column_rows(db.session, _DECISION_CONSENTS, params)
    if not rows:
        return DecisionConsents([], [], consent.Trust(attestations=[], rules=[]))
    revocations = [
        consent.Revocation(
            consent_id=row.id,
            revoked_at=row.revocation_revoked_at,
            revoked_by=row.revocation_revoked_by,
            reason=row.revocation_reason,
            method=row.revocation_method,
        )
        for row in rows
        if row.revocation_id is not None
    ]
    attestations = [
        attestation_to_domain(row)
        for row in column_rows(db.session, _DECISION_ATTESTATIONS, params)
    ]
    return DecisionConsents(
        [to_domain(row) for row in rows],
        revocations,
        consent.Trust(attestations=attestations, rules=rules_in_force()),
    )


def consents_of(client_id: str) -> ClientConsents:
    """Every version and revocation of a client's consents, read fresh (never cached), in
    one round trip (a consent has at most one revocation); with their attestations and the
    standing rules in force (two more, only when the client has consents at all)."""
    rows: list[ConsentRecord] = []
    revocations: list[ConsentRevocation] = []
    for row, revocation in db.session.execute(_CLIENT_CONSENTS, {"client_id": client_id}):
        rows.append(row)
        if revocation is not None:
            revocations.append(revocation)
    if not rows:
        return ClientConsents(rows, revocations)
    attestations = list(db.session.scalars(_CLIENT_ATTESTATIONS, {"client_id": client_id}))
    return ClientConsents(rows, revocations, attestations, rules_in_force())


def client_birth_date(client_id: str) -> date | None:
    """The client's birth date as the agencies report it (for the FERPA signer rule)."""
    for record in db.session.scalars(
        select(SourceRecord).where(
            SourceRecord.client_id == client_id, SourceRecord.withdrawn_at.is_(None)
        )
    ):
        value = store.decrypt_person(record).get("birth_date")
        if value:
            return date.fromisoformat(value)
    return None


# --- authorization and lookups ------------------------------------------------------------

DENIED = "consent.denied"
WHAT = {
    "consent.record": "record",
    "consent.amend": "amend",
    "consent.revoke": "revoke",
    "consent.view": "read",
    "consent.sharing": "sharing",
    "consent.expiring": "expiring",
    "consent.document": "document",
    "consent.attest": "attest",
}


def _require(actor: Actor, act: str, action: str, client_id: str | None = None) -> None:
    """The role policy on consents; a refusal is one ``consent.denied`` entry naming what
    was attempted."""
    if permissions.may(actor, "consents", act):
        return
    refuse(
        actor,
        DENIED,
        "Your role may not do this with consents.",
        client_id=client_id,
        detail={"attempted": WHAT.get(action, action)},
    )


def require_manage(actor: Actor) -> None:
    """For callers that must refuse before even parsing (the FHIR endpoint)."""
    _require(actor, "manage", "consent.record")


def _client(actor: Actor, client_id: str) -> Client:
    """The client if the actor may know of it; else exactly the unknown-id answer."""
    return permissions.load_client(actor, client_id)


def consent_not_found(consent_id: str) -> NotFound:
    """The one answer for an unknown consent and for one the caller may not know of."""
    return NotFound(f"No consent {consent_id!r}.")


def _scoped_agency(actor: Actor) -> str | None:
    """The agency whose involvement limits which consents the actor sees, or None when the
    actor sees every consent: the operator, an organisation-wide consent scope by policy,
    and privacy officers whose audit scope is organisation-wide (the operator's compliance
    function). Every other privacy officer oversees the consents of their own agency only,
    as they oversee its part of the access log."""
    if actor.is_operator or permissions.has_organisation_scope(actor, "consents"):
        return None
    if "privacy_officer" in actor.roles and permissions.has_organisation_scope(actor, "audit"):
        return None
    return actor.agency or ""


def _part2_programs() -> frozenset[str]:
    return frozenset(code for code, part2 in _agency_flags().items() if part2)


def _involves(agency: str, row: ConsentRecord, part2_programs: frozenset[str]) -> bool:
    """Whether one version involves ``agency``: it recorded it, or the version names it
    explicitly as a recipient, or as a source next to no other Part 2 program (a co-source
    must not learn of a Part 2 program's involvement it was not told of)."""
    if row.recorded_by_agency == agency or agency in row.recipients:
        return True
    return agency in row.source_agencies and not (
        set(row.source_agencies) & (part2_programs - {agency})
    )


def _chains(rows: list[ConsentRecord]) -> dict[str, str]:
    """Each version's first version: a consent and its amendments are seen together."""
    by_id = {r.id: r for r in rows}
    root: dict[str, str] = {}
    for row in rows:
        current, seen = row, set()
        while current.supersedes and current.supersedes in by_id and current.id not in seen:
            seen.add(current.id)
            current = by_id[current.supersedes]
        root[row.id] = current.id
    return root


def visible_rows(actor: Actor, rows: list[ConsentRecord]) -> list[ConsentRecord]:
    """The versions the actor may know of: all of a consent's versions once any of them
    involves the actor's agency (see ``_involves``)."""
    agency = _scoped_agency(actor)
    if agency is None:
        return list(rows)
    part2 = _part2_programs()
    root = _chains(rows)
    seen_chains = {root[r.id] for r in rows if _involves(agency, r, part2)}
    return [r for r in rows if root[r.id] in seen_chains]


def _visible(data: ClientConsents, rows: list[ConsentRecord]) -> ClientConsents:
    ids = {r.id for r in rows}
    return ClientConsents(
        rows,
        [r for r in data.revocations if r.consent_id in ids],
        [a for a in data.attestations if a.consent_id in ids],
        data.rules,
    )


def _consent(actor: Actor, consent_id: str) -> tuple[ConsentRecord, ClientConsents]:
    """A consent the actor may know of (its client known to them, the consent involving
    their agency), with its client's consents as the actor sees them; else the unknown-id
    answer, the same for every reason."""
    row = db.session.get(ConsentRecord, consent_id)
    if row is None or not permissions.knows_client(actor, row.client_id):
        raise consent_not_found(consent_id)
    data = consents_of(row.client_id)
    seen = visible_rows(actor, data.rows)
    if row not in seen:
        raise consent_not_found(consent_id)
    return row, _visible(data, seen)


def serves(agency: str, client_id: str, at: datetime) -> bool:
    """Whether ``agency`` serves the client: it holds a record of them, or an active permit
    names it explicitly as a recipient."""
    if permissions.holds_record(agency, client_id):
        return True
    domain, revocations = consents_of(client_id).domain
    return any(
        item.provision is consent.Provision.PERMIT
        and agency in item.recipients
        and consent.status_at(item, at, revocations=revocations, successors=domain)
        is consent.Status.ACTIVE
        for item in domain
    )


def _require_served(actor: Actor, client_id: str, action: str) -> None:
    """Consent officers speak for clients their agency serves (the operator for anyone)."""
    if actor.is_operator or serves(actor.agency or "", client_id, utcnow()):
        return
    refuse(
        actor,
        DENIED,
        "Your agency does not serve this client: it holds no record of them and no active "
        "consent names it as a recipient.",
        reason="not_served",
        client_id=client_id,
        detail={"attempted": WHAT.get(action, action)},
    )


# --- recording --------------------------------------------------------------------------


def _covered_entities() -> frozenset[str]:
    """Agencies recorded as HIPAA covered entities or business associates (42 CFR
    2.31(a)(4)(iii)), by their system administrators (``caseops.agencies.service``)."""
    return frozenset(db.session.scalars(select(Agency.code).where(Agency.covered_entity)))


def _agency_flags() -> dict[str, bool]:
    return {
        code: part2 for code, part2 in db.session.execute(select(Agency.code, Agency.part2_program))
    }


def _validate(client_id: str, body: dict[str, Any], now: datetime) -> None:
    agencies = _agency_flags()
    errors: dict[str, list[str]] = {}
    for field_name in ("source_agencies", "recipients"):
        unknown = sorted(set(body.get(field_name) or []) - set(agencies) - {consent.ANY})
        if unknown:
            errors[field_name] = [f"Unknown agency code: {', '.join(unknown)}."]
    context = consent.ValidationContext(
        now=now,
        part2_source=any(agencies.get(code, False) for code in body.get("source_agencies") or []),
        client_birth_date=client_birth_date(client_id),
        categories=frozenset(CATEGORIES),
        purposes=frozenset(PURPOSES),
        intermediary=current_app.config.get("CASEOPS_INTERMEDIARY_NAME") or None,
        covered_entities=_covered_entities(),
    )
    for field_name, reasons in consent.validate_consent(
        body | {"client_id": client_id}, context
    ).items():
        errors.setdefault(field_name, []).extend(reasons)
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
        # 42 CFR Part 2 as amended in 2024: the log says which consents designate
        # recipients generally, so the 2.24 list can be recomputed from the log alone.
        "intermediary": row.intermediary,
        "general_designation": row.general_designation,
        "hipaa_redisclosure_statement": bool(row.hipaa_redisclosure_statement),
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
        intermediary=" ".join(body["intermediary"].split()) if body.get("intermediary") else None,
        general_designation=body.get("general_designation") or None,
        recipient_description=body.get("recipient_description") or None,
        hipaa_redisclosure_statement=bool(body.get("hipaa_redisclosure_statement")),
        recorded_by=actor.username,
        recorded_by_agency=None if actor.is_operator else actor.agency,
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
    """Record a consent inside the caller's transaction (FHIR may record several at once).

    A client hidden from the caller answers as an unknown one; a known client the caller's
    agency does not serve is refused: an agency records consents only for its own clients.
    The recording agency stands behind the consent for its own records only; every other
    source named must attest it (``attest``) unless a standing rule accepts it.
    """
    _client(actor, client_id)
    _require(actor, "manage", "consent.record", client_id)
    _require_served(actor, client_id, "consent.record")
    row = _insert(actor, client_id, body, version=1, supersedes=None)
    audit(
        "consent.recorded",
        actor=actor,
        target_type="consent",
        target_id=row.id,
        client_id=client_id,
        detail={"version": 1, "scope": _scope(row), "recorded_by_agency": row.recorded_by_agency},
        session=db.session,
    )
    return row


def record_consents(
    actor: Actor, items: list[tuple[str, dict[str, Any]]]
) -> tuple[list[ConsentRecord], list[tuple[int, dict[str, Any]]]]:
    """Record several consents (client id, body) as one: all of them, or none.

    Returns the recorded rows, committed, and no failures; or, when any consent fails the
    recording-time checks, no rows (the transaction is rolled back) and each failure as
    (index into `items`, field errors) for the caller to report in its own terms.
    """
    rows: list[ConsentRecord] = []
    failures: list[tuple[int, dict[str, Any]]] = []
    for index, (client_id, body) in enumerate(items):
        try:
            rows.append(add_consent(actor, client_id, body))
        except ValidationFailed as failure:
            failures.append((index, failure.details))
    if failures:
        db.session.rollback()
        return [], failures
    db.session.commit()
    return rows, []


def status_of(row: ConsentRecord, at: datetime | None = None) -> consent.Status:
    """A stored version's status at `at` (default now), derived from the client's
    revocations and later versions."""
    domain, revocations = consents_of(row.client_id).domain
    return consent.status_at(
        to_domain(row), at or utcnow(), revocations=revocations, successors=domain
    )


def _latest_unrevoked(row: ConsentRecord, data: ClientConsents, verb: str) -> None:
    if any(r.supersedes == row.id for r in data.rows) or db.session.scalar(
        select(ConsentRecord.id).where(ConsentRecord.supersedes == row.id)
    ):
        raise Conflict(f"{verb} the latest version of this consent.", code="not_latest_version")
    if db.session.scalar(
        select(ConsentRevocation.id).where(ConsentRevocation.consent_id == row.id)
    ):
        if verb == "Revoke":
            raise Conflict("The consent is already revoked.", code="already_revoked")
        raise Conflict(
            f"A revoked consent cannot be {verb.lower()}ed; record a new one.", code="revoked"
        )


def amend(actor: Actor, consent_id: str, body: dict[str, Any]) -> ConsentRecord:
    """A new version that supersedes the latest one; the old version stays as it was.

    Any consent officer who may know of the consent may amend it. A narrowing amendment
    keeps what the sources stood behind; a broadening one must be stood behind again
    (``consent.is_narrowing``, decided at read time, so nothing is copied here).
    """
    previous, data = _consent(actor, consent_id)
    _require(actor, "manage", "consent.amend", previous.client_id)
    _latest_unrevoked(previous, data, "Amend")
    row = _insert(
        actor, previous.client_id, body, version=previous.version + 1, supersedes=previous.id
    )
    narrowing = consent.is_narrowing(to_domain(previous), to_domain(row))
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
            "narrowing": narrowing,
            "recorded_by_agency": row.recorded_by_agency,
        },
        session=db.session,
    )
    db.session.commit()
    return row


def revoke(actor: Actor, consent_id: str, reason: str, method: str) -> ConsentRevocation:
    """Revoke a consent; it stops permitting from this instant, everywhere. Any consent
    officer who may know of the consent records it: withdrawing is the client's right."""
    row, data = _consent(actor, consent_id)
    _require(actor, "manage", "consent.revoke", row.client_id)
    return _revoke_row(actor, row, data, reason, method)


def revoke_by_client(
    client_actor: Actor, client_id: str, consent_id: str, reason: str
) -> ConsentRevocation:
    """The client's own revocation from their pages (``caseops.portal``): the consent must
    be theirs (any other id answers as an unknown one), recorded as an electronic
    revocation by ``client_actor`` (the client, signed in with an access code), through
    the same path as a consent officer's: effective at once, logged, announced."""
    row = db.session.get(ConsentRecord, consent_id)
    if row is None or row.client_id != client_id:
        raise consent_not_found(consent_id)
    method = str(consent.RevocationMethod.ELECTRONIC)
    return _revoke_row(client_actor, row, consents_of(client_id), reason, method)


def _revoke_row(
    actor: Actor, row: ConsentRecord, data: ClientConsents, reason: str, method: str
) -> ConsentRevocation:
    consent_id = row.id
    _latest_unrevoked(row, data, "Revoke")
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
    # Agency systems hear of it from the outbox, in this transaction: only the agencies
    # the consent names (recipients and sources), never a wildcard expansion.
    outbox.enqueue(
        "consent.revoked",
        [*row.recipients, *row.source_agencies],
        {"consent_id": consent_id},
        session=db.session,
    )
    # and their people's event streams, the same agencies, in the same transaction
    from caseops.events.producers import consent_revoked

    consent_revoked([*row.recipients, *row.source_agencies], consent_id, db.session)
    db.session.commit()
    return revocation


# --- attesting --------------------------------------------------------------------------


def _probe(row: ConsentRecord, agency: str, category: str, part2: bool, at: datetime):
    """A request for ``agency``'s ``category`` under this version's own scope: enough to ask
    ``consent.stood_behind`` whether the agency stands behind it for that category."""
    recipient = next((r for r in row.recipients if r != consent.ANY), consent.ANY)
    purpose = next((p for p in row.purposes if p != consent.ANY), consent.ANY)
    return consent.AccessRequest(
        client_id=row.client_id,
        source_agency=agency,
        source_is_part2_program=part2,
        category=category,
        recipient_agency=recipient,
        purpose=purpose,
        at=at,
    )


def awaiting(
    row: ConsentRecord, data: ClientConsents, agency: str, part2: bool, at: datetime
) -> bool:
    """Whether this version names ``agency`` as a source that has not yet stood behind it
    for every category it names (only live permits wait: a deny needs nobody's backing)."""
    if row.provision != "permit" or agency not in row.source_agencies:
        return False
    consents_, revocations = data.domain
    version = to_domain(row)
    status = consent.status_at(version, at, revocations=revocations, successors=consents_)
    if status not in (consent.Status.ACTIVE, consent.Status.NOT_YET_EFFECTIVE):
        return False
    categories = CATEGORIES if consent.ANY in row.categories else row.categories
    trust = data.trust
    return not all(
        consent.stood_behind(
            version,
            _probe(row, agency, category, part2, at),
            consents=consents_,
            revocations=revocations,
            trust=trust,
        )
        for category in categories
    )


def attest(actor: Actor, consent_id: str) -> ConsentRecord:
    """A consent officer stands behind a consent for their own agency's records.

    Only an agency the consent names as a source attests; a consent the officer's agency
    may not know of answers as an unknown one. Logged as ``consent.attested``.
    """
    _require(actor, "attest", "consent.attest")
    row, data = _consent(actor, consent_id)
    agency = actor.agency or ""
    if agency not in row.source_agencies:
        refuse(
            actor,
            DENIED,
            "Only a source agency the consent names attests it, for its own records.",
            reason="not_a_source",
            client_id=row.client_id,
            target_type="consent",
            target_id=row.id,
            detail={"attempted": "attest"},
        )
    _latest_unrevoked(row, data, "Attest")
    if row.provision != "permit":
        raise Conflict("A deny provision needs no attestation.", code="deny_needs_no_attestation")
    if row.recorded_by_agency == agency or any(
        a.consent_id == row.id and a.agency_code == agency for a in data.attestations
    ):
        raise Conflict("Your agency already stands behind this consent.", code="already_attested")
    attestation = ConsentAttestation(
        consent_id=row.id, agency_code=agency, attested_by=actor.username, attested_at=utcnow()
    )
    db.session.add(attestation)
    audit(
        "consent.attested",
        actor=actor,
        target_type="consent",
        target_id=row.id,
        client_id=row.client_id,
        detail={"agency": agency, "version": row.version, "scope": _scope(row)},
        session=db.session,
    )
    db.session.commit()
    return row


def attestation_queue(actor: Actor) -> list[dict[str, Any]]:
    """Consents naming the officer's agency as a source that it has not stood behind yet:
    live permits, latest versions, on clients the officer may know of."""
    _require(actor, "attest", "consent.attest")
    agency = actor.agency or ""
    part2 = _agency_flags().get(agency, False)
    now = utcnow()
    candidates = db.session.scalars(
        select(ConsentRecord.client_id)
        .where(cast(ConsentRecord.source_agencies, String).like(f'%"{agency}"%'))
        .distinct()
    ).all()
    out = []
    for client_id in sorted(candidates):
        if not permissions.knows_client(actor, client_id):
            continue
        data = consents_of(client_id)
        seen = _visible(data, visible_rows(actor, data.rows))
        for row in seen.rows:
            if awaiting(row, data, agency, part2, now):
                out.append(describe(row, seen, now))
    return sorted(out, key=lambda c: (c["recorded_at"], c["id"]))


# --- standing rules ---------------------------------------------------------------------


# --- reading ----------------------------------------------------------------------------


def describe(row: ConsentRecord, data: ClientConsents, at: datetime) -> dict[str, Any]:
    consents_, revocations = data.domain
    status = consent.status_at(to_domain(row), at, revocations=revocations, successors=consents_)
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
        "recipient_description": row.recipient_description,
        "recorded_by": row.recorded_by,
        "recorded_by_agency": row.recorded_by_agency,
        "recorded_at": row.recorded_at,
        "attestations": [
            {"agency": a.agency_code, "attested_by": a.attested_by, "attested_at": a.attested_at}
            for a in data.attestations
            if a.consent_id == row.id
        ],
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
    events += [
        {
            "at": a.attested_at,
            "event": "attested",
            "consent_id": a.consent_id,
            "version": versions[a.consent_id],
            "by": a.attested_by,
            "detail": f"for {a.agency_code}",
        }
        for a in data.attestations
    ]
    return sorted(events, key=lambda e: (e["at"], e["consent_id"]))


def client_consents(actor: Actor, client_id: str) -> dict[str, Any]:
    """Every version the actor may know of, with its status now, and the timeline of
    events (logged as a view)."""
    _client(actor, client_id)
    _require(actor, "read", "consent.view", client_id)
    data = consents_of(client_id)
    seen = _visible(data, visible_rows(actor, data.rows))
    now = utcnow()
    result = {
        "client_id": client_id,
        "consents": [describe(row, seen, now) for row in seen.rows],
        "timeline": timeline(seen),
    }
    audit(
        "consent.viewed",
        actor=actor,
        target_type="client",
        target_id=client_id,
        client_id=client_id,
        detail={"consent_ids": [r.id for r in seen.rows]},
    )
    return result


def readable_consent(actor: Actor, consent_id: str) -> ConsentRecord:
    """One consent for reading (consent and privacy officers), logged as a view; one the
    reader may not know of answers as an unknown one."""
    _require(actor, "read", "consent.view")
    row, _ = _consent(actor, consent_id)
    audit(
        "consent.viewed",
        actor=actor,
        target_type="consent",
        target_id=row.id,
        client_id=row.client_id,
        detail={"consent_ids": [row.id]},
    )
    return row


def described(actor: Actor, row: ConsentRecord) -> dict[str, Any]:
    """A consent as the actor sees it (its history limited to what they may know of)."""
    data = consents_of(row.client_id)
    return describe(row, _visible(data, visible_rows(actor, data.rows)), row.recorded_at)


def sharing(actor: Actor, client_id: str, purpose: str) -> dict[str, Any]:
    """What may be shared with whom right now: for each category and recipient agency, the
    source agencies whose records the consents release, and the consent behind each.

    Decided exactly as a view is (every consent, its attestations and the standing rules
    count, so a hidden deny still withholds), but a consent officer sees only the cells
    that involve their agency as source or recipient, and only consents they may know of.
    """
    _client(actor, client_id)
    _require(actor, "manage", "consent.sharing", client_id)
    if purpose not in PURPOSES:
        raise ValidationFailed(
            "Unknown purpose.", details={"purpose": [f"One of {', '.join(PURPOSES)}."]}
        )
    data = consents_of(client_id)
    consents_, revocations = data.domain
    trust = data.trust
    scoped = _scoped_agency(actor)
    known_ids = {r.id for r in visible_rows(actor, data.rows)}
    agencies = _agency_flags()
    # 42 CFR Part 2 (2024): a general designation reaches a treating provider's workers who
    # have a treating relationship with the client; the matrix shows those sources flagged
    # ``designation`` (shared only while such a relationship lasts).
    facts = {
        code: (bool(treating), bool(covered))
        for code, treating, covered in db.session.execute(
            select(Agency.code, Agency.treating_provider, Agency.covered_entity)
        )
    }
    intermediary = current_app.config.get("CASEOPS_INTERMEDIARY_NAME") or None
    birth_date = client_birth_date(client_id)
    now = utcnow()
    # the agencies' side (issue 22): the agreement behind each cell, or a waiver
    pacts = agreements.for_pairs({(s, r) for s in agencies for r in agencies if s != r})
    cells = []
    for category in CATEGORIES:
        for recipient in sorted(agencies):
            sources, reasons = [], set()
            for source, part2 in sorted(agencies.items()):
                if source == recipient:
                    continue
                if scoped is not None and scoped not in (source, recipient):
                    continue
                decision = consent.decide(
                    consents_,
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
                        intermediary=intermediary,
                        recipient_is_treating_provider=facts.get(recipient, (False, False))[0],
                        treating_relationship=True,
                        recipient_is_covered_entity=facts.get(recipient, (False, False))[1],
                    ),
                    trust=trust,
                )
                if decision.consent_id is not None and decision.consent_id not in known_ids:
                    continue  # decided by a consent this officer may not know of
                agreement = pacts.basis(source, recipient, category, purpose, now)
                if decision.permitted and agreement is None:
                    reasons.add("no_agreement")
                elif decision.permitted:
                    item = {
                        "agency": source,
                        "consent_id": decision.consent_id,
                        "agreement": agreement,
                        "notice": bool(decision.obligations),
                    }
                    if decision.designation:  # only to workers in a treating relationship
                        item["designation"] = True
                    sources.append(item)
                else:
                    reasons.add(str(decision.reason))
            if scoped is not None and scoped != recipient and not sources and not reasons:
                continue
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
    """Active consents (latest versions) that expire within ``days``, of those the actor
    may know of."""
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
        if not permissions.knows_client(actor, row.client_id):
            continue
        data = consents_of(row.client_id)
        seen = visible_rows(actor, data.rows)
        if row not in seen:
            continue
        described_row = describe(row, _visible(data, seen), now)
        if described_row["status"] == "active":
            out.append(described_row)
    return out


# --- documents ----------------------------------------------------------------------------


def document_context(client_id: str, sha256: str) -> str:
    return f"consent-document:{client_id}:{sha256}"


def store_document(
    actor: Actor, client_id: str, filename: str, content_type: str, content: bytes
) -> ConsentDocument:
    """Keep the signed form, encrypted; its SHA-256 is what a consent's evidence names."""
    _client(actor, client_id)
    _require(actor, "manage", "consent.document", client_id)
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
