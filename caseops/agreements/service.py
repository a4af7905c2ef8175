"""Data sharing agreements: recording, acceptance, amendment, termination, reading; and the
agreements side of every cross-agency decision (``for_decision``).

Why agreements ride on the policy version: an agreement, like a Casbin rule, is sharing
policy between agencies. Every write here bumps ``policy_version`` in its transaction, and
every request already reads that version (``caseops.authz.policy``), so each process keeps
the agreements loaded per version and reloads them when it moves: a termination counts on
the next request in every worker, and a steady-state decision costs no extra round trip.
In-force is still decided at the decision's instant from the rows' dates (an expiry needs
no write).

Waivers are Casbin rules (``p, agency:<a>, *, agreement_waiver:<b>, waive, allow``, either
order: an unordered pair), managed through ``/api/v1/policies`` like every rule.

Who: system administrators record, amend and terminate any agreement (policy
``agreements``/``manage``); an agency administrator records, accepts, amends and terminates
those their agency is party to (``agreements``/``sign``), and with privacy officers reads
them (``agreements``/``read``). An agreement whose parties do not include the caller's
agency is unknown to them: 404, as an unknown id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import threading
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from casbin.util import key_match
from flask import current_app
from sqlalchemy import select

import consent
from caseops.agencies.models import Agency
from caseops.agreements import waivers
from caseops.agreements.models import (
    AgreementAcceptance,
    AgreementClause,
    AgreementParty,
    AgreementRecord,
    AgreementTermination,
)
from caseops.audit.service import record as audit
from caseops.authz import permissions, policy
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
from caseops.crypto import keyring_from_config
from caseops.db_types import utcnow
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.vocabulary import CATEGORIES, PART2_CATEGORY, PURPOSES
from consent.agreements import AgreementStatus, day_start, period_end

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
DOCUMENT_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/tiff")
EXPIRING_DAYS = 30
DENIED = "agreement.denied"
WAIVER_PREFIX = "agreement_waiver:"


# --- the agreements side of decisions -------------------------------------------------


class _Cache:
    """The agreement versions as of one policy version, per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[int, int] | None = None
        self._value: tuple[consent.Agreement, ...] = ()

    def get(self) -> tuple[consent.Agreement, ...]:
        key = (id(db.engine), policy.current_version())
        with self._lock:
            if key == self._key:
                return self._value
        value = _load_all()
        with self._lock:
            self._key, self._value = key, value
        return value

    def invalidate(self) -> None:
        """After this process's own write (its request keeps the version it started with)."""
        with self._lock:
            self._key = None


_cache = _Cache()


def _load_all() -> tuple[consent.Agreement, ...]:
    """Every agreement version as the pure rules read it (five small reads, per version)."""
    parties: dict[str, set[str]] = defaultdict(set)
    for agreement_id, code in db.session.execute(
        select(AgreementParty.agreement_id, AgreementParty.agency_code)
    ):
        parties[agreement_id].add(code)
    share: dict[str, list[consent.ShareClause]] = defaultdict(list)
    trust: dict[str, list[consent.TrustClause]] = defaultdict(list)
    for clause in db.session.scalars(select(AgreementClause).order_by(AgreementClause.id)):
        if clause.kind == "share":
            share[clause.agreement_id].append(
                consent.ShareClause(
                    categories=frozenset(clause.categories),
                    purposes=frozenset(clause.purposes or ()),
                )
            )
        else:
            trust[clause.agreement_id].append(
                consent.TrustClause(
                    agency=clause.agency_code or "",
                    partner=clause.partner_code or "",
                    categories=frozenset(clause.categories),
                )
            )
    accepted: dict[str, dict[str, datetime]] = defaultdict(dict)
    for row in db.session.scalars(select(AgreementAcceptance)):
        accepted[row.agreement_id][row.agency_code] = row.accepted_at
    ended = {
        row.agreement_id: row.terminated_at
        for row in db.session.scalars(select(AgreementTermination))
    }
    return tuple(
        consent.Agreement(
            id=row.id,
            parties=frozenset(parties[row.id]),
            starts_at=day_start(row.starts_on),
            ends_at=period_end(row.ends_on),
            share=tuple(share[row.id]),
            trust=tuple(trust[row.id]),
            acceptances=accepted[row.id],
            terminated_at=ended.get(row.id),
            supersedes=row.supersedes,
        )
        for row in db.session.scalars(select(AgreementRecord).order_by(AgreementRecord.id))
    )


class _WaiverIndex:
    """The waiver lines of the policy, by subject agency, as of one policy version, per
    process. Asking Casbin once per pair cost the sharing matrix ~930 evaluations at 30
    agencies (13-20 s on a process's first load); the lines are few and read once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[int, int] | None = None
        self._lines: dict[str, list[tuple[str, str, str, str]]] = {}

    def lines(self) -> dict[str, list[tuple[str, str, str, str]]]:
        key = (id(db.engine), policy.current_version())
        with self._lock:
            if key == self._key:
                return self._lines
        lines: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
        for sub, dom, obj, act, *rest in policy.enforcer().get_policy():
            if sub.startswith(waivers.SUBJECT):
                lines[sub.removeprefix(waivers.SUBJECT)].append(
                    (dom, obj, act, rest[0] if rest else "allow")
                )
        with self._lock:
            self._key, self._lines = key, dict(lines)
        return self._lines


_waivers = _WaiverIndex()


def _waives(a: str, b: str) -> bool:
    """Casbin's verdict for ``agency:a`` waiving ``b`` in domain ``a`` (the model's matcher:
    the exact subject, domain ``*`` or ``a``, ``keyMatch`` on the object, action ``waive`` or
    ``*``; any matching deny wins), from the lines alone."""
    obj = f"{waivers.OBJECT}{b}"
    effects = {
        effect
        for dom, pattern, act, effect in _waivers.lines().get(a, ())
        if dom in ("*", a) and act in (waivers.ACTION, "*") and key_match(obj, pattern)
    }
    return "allow" in effects and "deny" not in effects


def is_waived(a: str, b: str) -> bool:
    """Whether the live policy waives agreements between ``a`` and ``b`` (either order)."""
    if a == b:
        return False
    return _waives(a, b) or _waives(b, a)


def under_policy(
    agreements: consent.Agreements, enforcer: Any, recipient: str | None, sources: set[str]
) -> consent.Agreements:
    """The same agreements with the waivers another policy (an in-memory draft enforcer,
    ``caseops.simulation``) would hold for ``recipient`` reading ``sources``: what a policy
    change's impact replays, so adding or removing a waiver is assessed like any rule."""

    def waives(a: str, b: str) -> bool:
        return bool(
            enforcer.enforce(f"{waivers.SUBJECT}{a}", a, f"{waivers.OBJECT}{b}", waivers.ACTION)
        )

    waived = (
        {
            frozenset((recipient, s))
            for s in sources
            if s != recipient and (waives(s, recipient) or waives(recipient, s))
        }
        if recipient
        else set()
    )
    return consent.Agreements(agreements.agreements, frozenset(waived))


def all_agreements() -> consent.Agreements:
    """Every agreement version, no waivers (for reading and trust clauses)."""
    return consent.Agreements(_cache.get())


def for_decision(recipient: str | None, sources: set[str] | list[str]) -> consent.Agreements:
    """The agreements and the waived pairs that bear on ``recipient`` reading ``sources``'
    sections. No recipient agency: nothing is waived (fail closed)."""
    waived = (
        {
            frozenset((recipient, s))
            for s in set(sources)
            if s != recipient and is_waived(s, recipient)
        }
        if recipient
        else set()
    )
    return consent.Agreements(_cache.get(), frozenset(waived))


def for_pairs(pairs: set[tuple[str, str]]) -> consent.Agreements:
    """As ``for_decision``, for the sharing matrix's many (source, recipient) pairs."""
    waived = {frozenset(p) for p in pairs if p[0] != p[1] and is_waived(*p)}
    return consent.Agreements(_cache.get(), frozenset(waived))


def trust_rules() -> list[consent.TrustRule]:
    """The trust clauses of agreements, as the consent decision's standing rules."""
    return list(all_agreements().trust_rules())


# --- authorization ------------------------------------------------------------------------


def _manages(actor: Actor) -> bool:
    return permissions.may(actor, "agreements", "manage")


def _signs_for(actor: Actor, parties: set[str]) -> bool:
    return actor.agency in parties and permissions.may(actor, "agreements", "sign")


def _reads(actor: Actor, parties: set[str]) -> bool:
    return _manages(actor) or (
        actor.agency in parties and permissions.may(actor, "agreements", "read")
    )


def _not_found(agreement_id: str) -> NotFound:
    return NotFound(f"No agreement {agreement_id!r}.")


def _parties_of(agreement_id: str) -> set[str]:
    return set(
        db.session.scalars(
            select(AgreementParty.agency_code).where(AgreementParty.agreement_id == agreement_id)
        )
    )


def _load(actor: Actor, agreement_id: str) -> tuple[AgreementRecord, set[str]]:
    """The agreement, if the caller may know of it; else 404 exactly as an unknown id."""
    row = db.session.get(AgreementRecord, agreement_id) if len(agreement_id) <= 32 else None
    parties = _parties_of(agreement_id) if row is not None else set()
    if row is None or not _reads(actor, parties):
        raise _not_found(agreement_id)
    return row, parties


def _require_signer(actor: Actor, row: AgreementRecord, parties: set[str], verb: str) -> None:
    if _manages(actor) and verb != "accept":
        return
    if _signs_for(actor, parties):
        return
    who = "an administrator of a party" if verb == "accept" else "a party's administrator"
    refuse(
        actor,
        DENIED,
        f"Only {who} may {verb} this agreement.",
        target_type="agreement",
        target_id=row.id,
        detail={"attempted": verb},
    )


# --- validation -----------------------------------------------------------------------------


def _codes(values: list[str], allowed, field: str, errors: dict[str, list[str]]) -> list[str]:
    values = sorted(set(values or []))
    if not values:
        errors.setdefault(field, []).append("Name at least one.")
    elif unknown := [v for v in values if v not in allowed]:
        errors.setdefault(field, []).append(f"Unknown: {', '.join(unknown)}.")
    return values


def _document(body: dict[str, Any], errors: dict[str, list[str]]) -> tuple[bytes, str, str] | None:
    document = body.get("document")
    if not document:
        errors["document"] = ["Attach the signed agreement."]
        return None
    if document.get("content_type") not in DOCUMENT_TYPES:
        errors["document.content_type"] = [f"One of {', '.join(DOCUMENT_TYPES)}."]
        return None
    try:
        content = base64.b64decode(document.get("content_base64") or "", validate=True)
    except (binascii.Error, ValueError):
        errors["document.content_base64"] = ["Not valid base64."]
        return None
    if not content or len(content) > MAX_DOCUMENT_BYTES:
        errors["document.content_base64"] = [f"Between 1 byte and {MAX_DOCUMENT_BYTES} bytes."]
        return None
    return content, (document.get("filename") or "agreement")[:200], document["content_type"]


def _validate(
    body: dict[str, Any], parties: list[str], today: date
) -> tuple[list[dict], list[dict], tuple[bytes, str, str] | None]:
    """Clauses and document of a new version, or a 422 naming every field at fault."""
    agencies = {
        code: part2 for code, part2 in db.session.execute(select(Agency.code, Agency.part2_program))
    }
    errors: dict[str, list[str]] = {}
    if len(set(parties)) < 2:
        errors["parties"] = ["Name at least two agencies."]
    elif unknown := sorted(p for p in set(parties) if p not in agencies):
        errors["parties"] = [f"Unknown agency: {', '.join(unknown)}."]
    starts_on, ends_on = body["starts_on"], body["ends_on"]
    if ends_on < starts_on:
        errors["ends_on"] = ["Must be on or after starts_on."]
    elif ends_on < today:
        errors["ends_on"] = ["Must be today or later."]
    share = []
    for i, clause in enumerate(body.get("share") or []):
        categories = _codes(clause.get("categories"), CATEGORIES, f"share.{i}.categories", errors)
        purposes = _codes(clause.get("purposes"), PURPOSES, f"share.{i}.purposes", errors)
        share.append({"categories": categories, "purposes": purposes})
    trust = []
    for i, clause in enumerate(body.get("trust") or []):
        field = f"trust.{i}"
        agency, partner = clause.get("agency"), clause.get("partner")
        categories = _codes(clause.get("categories"), CATEGORIES, f"{field}.categories", errors)
        if PART2_CATEGORY in categories:
            errors.setdefault(f"{field}.categories", []).append(
                "Substance-use (42 CFR Part 2) data is never under a trust clause."
            )
        if agency not in parties or partner not in parties:
            errors[field] = ["Both agency and partner must be parties."]
        elif agency == partner:
            errors[field] = ["An agency always stands behind the consents it records."]
        elif agencies.get(agency):
            errors[field] = ["A 42 CFR Part 2 program attests every consent itself."]
        trust.append({"agency": agency, "partner": partner, "categories": categories})
    if not share and not trust:
        errors["share"] = ["Name what the agreement covers (a share or a trust clause)."]
    document = _document(body, errors)
    if errors:
        raise ValidationFailed("The agreement cannot be recorded.", details=errors)
    return share, trust, document


def _new_version(
    actor: Actor,
    body: dict[str, Any],
    parties: list[str],
    supersedes: str | None,
) -> AgreementRecord:
    now = utcnow()
    share, trust, document = _validate(body, parties, now.date())
    assert document is not None  # _validate raised otherwise
    content, filename, content_type = document
    digest = hashlib.sha256(content).hexdigest()
    agreement_id = f"agr_{secrets.token_hex(8)}"
    keyring = keyring_from_config(current_app.config)
    row = AgreementRecord(
        id=agreement_id,
        title=body["title"].strip(),
        starts_on=body["starts_on"],
        ends_on=body["ends_on"],
        supersedes=supersedes,
        note=(body.get("note") or "").strip() or None,
        document_sha256=digest,
        document_name=filename,
        document_type=content_type,
        document_encrypted=keyring.encrypt(
            base64.b64encode(content), document_context(agreement_id, digest)
        ),
        recorded_by=actor.username,
        recorded_by_agency=actor.agency,
        recorded_at=now,
    )
    db.session.add(row)
    db.session.flush()
    for code in sorted(set(parties)):
        db.session.add(AgreementParty(agreement_id=agreement_id, agency_code=code))
    for clause in share:
        db.session.add(AgreementClause(agreement_id=agreement_id, kind="share", **clause))
    for clause in trust:
        db.session.add(
            AgreementClause(
                agreement_id=agreement_id,
                kind="trust",
                categories=clause["categories"],
                agency_code=clause["agency"],
                partner_code=clause["partner"],
            )
        )
    db.session.flush()
    return row


def document_context(agreement_id: str, sha256: str) -> str:
    return f"agreement-document:{agreement_id}:{sha256}"


# --- writes ----------------------------------------------------------------------------


def _changed(actor: Actor, action: str, row: AgreementRecord, detail: dict[str, Any]) -> None:
    """Log the change and bump the policy version (every worker reloads), then commit."""
    policy.bump_version(db.session)
    audit(
        action,
        actor=actor,
        target_type="agreement",
        target_id=row.id,
        detail=detail,
        session=db.session,
    )
    db.session.commit()
    _cache.invalidate()


def _version(agreement_id: str) -> tuple[consent.Agreements, consent.Agreement]:
    agreements = all_agreements()
    for version in agreements.agreements:
        if version.id == agreement_id:
            return agreements, version
    _cache.invalidate()  # written by another process since this one loaded
    agreements = all_agreements()
    return agreements, next(a for a in agreements.agreements if a.id == agreement_id)


def create(actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    """Record a signed agreement between two or more agencies; it is pending until every
    party's administrator accepts it."""
    parties = sorted(set(body.get("parties") or []))
    if not (_manages(actor) or _signs_for(actor, set(parties))):
        refuse(
            actor,
            DENIED,
            "Only a system administrator or an administrator of a party may record an agreement.",
            detail={"attempted": "create", "parties": parties},
        )
    row = _new_version(actor, body, parties, None)
    _changed(actor, "agreement.recorded", row, _summary(row, parties, body))
    return describe(actor, row.id)


def _summary(row: AgreementRecord, parties: list[str], body: dict[str, Any]) -> dict[str, Any]:
    return {
        "parties": parties,
        "starts_on": row.starts_on.isoformat(),
        "ends_on": row.ends_on.isoformat() if row.ends_on else None,
        "share": body.get("share") or [],
        "trust": body.get("trust") or [],
        "document_sha256": row.document_sha256,
        "supersedes": row.supersedes,
    }


def _status(row: AgreementRecord, at: datetime) -> AgreementStatus:
    agreements, version = _version(row.id)
    return agreements.status_at(version, at)


def _require_open(row: AgreementRecord, verb: str, allowed: set[AgreementStatus]) -> None:
    status = _status(row, utcnow())
    if status not in allowed:
        raise Conflict(
            f"The agreement is {status.value}: it can no longer be {verb}.",
            code=f"agreement_{status.value}",
        )


OPEN = {AgreementStatus.PENDING, AgreementStatus.SCHEDULED, AgreementStatus.ACTIVE}


def accept(actor: Actor, agreement_id: str) -> dict[str, Any]:
    """The caller's agency accepts the agreement (its administrator)."""
    row, parties = _load(actor, agreement_id)
    _require_signer(actor, row, parties, "accept")
    _require_open(row, "accepted", {AgreementStatus.PENDING})
    if db.session.scalar(
        select(AgreementAcceptance.id).where(
            AgreementAcceptance.agreement_id == row.id,
            AgreementAcceptance.agency_code == actor.agency,
        )
    ):
        raise Conflict("Your agency has accepted this agreement already.", code="already_accepted")
    db.session.add(
        AgreementAcceptance(
            agreement_id=row.id,
            agency_code=actor.agency or "",
            accepted_by=actor.username,
            accepted_at=utcnow(),
        )
    )
    _changed(actor, "agreement.accepted", row, {"agency": actor.agency})
    return describe(actor, row.id)


def amend(actor: Actor, agreement_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A new version with the same parties; it replaces this one once every party accepts
    it (until then this one stays in force as it was)."""
    row, parties = _load(actor, agreement_id)
    _require_signer(actor, row, parties, "amend")
    _require_open(row, "amended", OPEN)
    new = _new_version(actor, body, sorted(parties), row.id)
    _changed(actor, "agreement.amended", new, _summary(new, sorted(parties), body))
    return describe(actor, new.id)


def terminate(actor: Actor, agreement_id: str, reason: str) -> dict[str, Any]:
    """End the agreement now: flows it covered withhold again from the next request."""
    row, parties = _load(actor, agreement_id)
    _require_signer(actor, row, parties, "terminate")
    reason = reason.strip()
    if len(reason) < 5:
        raise ValidationFailed(
            "Say why the agreement ends.", details={"reason": ["At least 5 characters."]}
        )
    _require_open(row, "terminated", OPEN)
    db.session.add(
        AgreementTermination(
            agreement_id=row.id, terminated_by=actor.username, terminated_at=utcnow(), reason=reason
        )
    )
    _changed(actor, "agreement.terminated", row, {"reason": reason})
    return describe(actor, row.id)


# --- reading ----------------------------------------------------------------------------


def _person(actor: Actor, username: str, agency: str | None) -> str:
    """Another agency's user names stay theirs (a system administrator sees them)."""
    if _manages(actor) or agency is None or agency == actor.agency or username.startswith("<"):
        return username
    return f"an administrator of {agency}"


def describe(actor: Actor, agreement_id: str, at: datetime | None = None) -> dict[str, Any]:
    at = at or utcnow()
    row = db.session.get(AgreementRecord, agreement_id)
    agreements, version = _version(agreement_id)
    interval = agreements.in_force_interval(version)
    clauses = list(
        db.session.scalars(
            select(AgreementClause)
            .where(AgreementClause.agreement_id == agreement_id)
            .order_by(AgreementClause.id)
        )
    )
    acceptances = list(
        db.session.scalars(
            select(AgreementAcceptance)
            .where(AgreementAcceptance.agreement_id == agreement_id)
            .order_by(AgreementAcceptance.accepted_at, AgreementAcceptance.id)
        )
    )
    termination = db.session.scalar(
        select(AgreementTermination).where(AgreementTermination.agreement_id == agreement_id)
    )
    successor = db.session.scalar(
        select(AgreementRecord.id)
        .where(AgreementRecord.supersedes == agreement_id)
        .order_by(AgreementRecord.recorded_at.desc())
        .limit(1)
    )
    return {
        "id": row.id,
        "title": row.title,
        "parties": sorted(version.parties),
        "starts_on": row.starts_on,
        "ends_on": row.ends_on,
        "status": agreements.status_at(version, at).value,
        "in_force_from": interval[0] if interval else None,
        "in_force_until": interval[1] if interval else None,
        "share": [
            {"categories": c.categories, "purposes": c.purposes or []}
            for c in clauses
            if c.kind == "share"
        ],
        "trust": [
            {"agency": c.agency_code, "partner": c.partner_code, "categories": c.categories}
            for c in clauses
            if c.kind == "trust"
        ],
        "acceptances": [
            {
                "agency": a.agency_code,
                "accepted_by": _person(actor, a.accepted_by, a.agency_code),
                "accepted_at": a.accepted_at,
            }
            for a in acceptances
        ],
        "awaiting": sorted(version.parties - {a.agency_code for a in acceptances}),
        "termination": (
            {
                "terminated_by": termination.terminated_by
                if _manages(actor)
                else "a party's administrator",
                "terminated_at": termination.terminated_at,
                "reason": termination.reason,
            }
            if termination
            else None
        ),
        "supersedes": row.supersedes,
        "superseded_by": successor,
        "document": (
            {
                "sha256": row.document_sha256,
                "filename": row.document_name,
                "type": row.document_type,
            }
            if row.document_sha256
            else None
        ),
        "note": row.note,
        "recorded_by": _person(actor, row.recorded_by, row.recorded_by_agency),
        "recorded_at": row.recorded_at,
    }


def _visible_ids(actor: Actor) -> list[str]:
    if _manages(actor):
        return list(db.session.scalars(select(AgreementRecord.id)))
    if actor.agency is None or not permissions.may(actor, "agreements", "read"):
        refuse(actor, DENIED, "Your role does not read data sharing agreements.")
    return list(
        db.session.scalars(
            select(AgreementParty.agreement_id).where(AgreementParty.agency_code == actor.agency)
        )
    )


def list_agreements(actor: Actor) -> list[dict[str, Any]]:
    """Every agreement the caller may know of (newest first), each with its status now."""
    now = utcnow()
    out = [describe(actor, agreement_id, now) for agreement_id in _visible_ids(actor)]
    return sorted(out, key=lambda a: (a["recorded_at"], a["id"]), reverse=True)


def get(actor: Actor, agreement_id: str) -> dict[str, Any]:
    _load(actor, agreement_id)
    return describe(actor, agreement_id)


def document(actor: Actor, agreement_id: str) -> tuple[bytes, str, str]:
    """The signed document, decrypted, for a party's administrators and privacy officers."""
    row, parties = _load(actor, agreement_id)
    if actor.agency not in parties or not permissions.may(actor, "agreements", "read"):
        refuse(
            actor,
            DENIED,
            "Only the parties read an agreement's document.",
            target_type="agreement",
            target_id=row.id,
            detail={"attempted": "document"},
        )
    if row.document_encrypted is None:
        raise NotFound(f"Agreement {agreement_id!r} has no document (converted from a rule).")
    keyring = keyring_from_config(current_app.config)
    content = base64.b64decode(
        keyring.decrypt(row.document_encrypted, document_context(row.id, row.document_sha256 or ""))
    )
    audit(
        "agreement.document_read",
        actor=actor,
        target_type="agreement",
        target_id=row.id,
        detail={"sha256": row.document_sha256},
    )
    return content, row.document_name or "agreement", row.document_type or "application/pdf"


def expiring(actor: Actor, days: int = EXPIRING_DAYS) -> list[dict[str, Any]]:
    """Agreements in force now whose period ends within ``days``, of those the caller may
    know of (an empty list for roles that read none: homes ask without refusing)."""
    if not (_manages(actor) or permissions.may(actor, "agreements", "read")):
        return []
    now = utcnow()
    agreements = all_agreements()
    visible = set(_visible_ids(actor))
    soon = now + timedelta(days=days)
    out = []
    for version in agreements.agreements:
        if version.id not in visible or not agreements.in_force(version, now):
            continue
        end = agreements.in_force_interval(version)[1]  # type: ignore[index]
        if end is not None and end <= soon:
            out.append(describe(actor, version.id, now))
    return sorted(out, key=lambda a: (a["ends_on"], a["id"]))
