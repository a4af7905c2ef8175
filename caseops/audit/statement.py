"""The client's verifiable access statement (issue 19, items 3 and 4).

A statement lists every logged decision that disclosed something about one client --
who saw which sections, when, for what purpose, on what basis -- and proves each entry
against the signed log *without revealing the rest of it*. A version 1 leaf is the whole
entry (staff name, address, user agent, token): proving it would hand all that over. A
version 2 leaf (``caseops.audit.canonical``) commits to each field separately, so an
entry here reveals only the fields a client may see, with their salts, and gives every
other field as its commitment; anyone can rebuild the leaf from that, walk the RFC 9162
inclusion proof to the checkpoint root and check the checkpoint's Ed25519 signature
(``verify_statement``, ``caseops audit verify-statement``).

**What is listed** (``LISTED``): successful ``client.view`` entries that disclosed at
least one section (the client's own agency's records too: basis "own agency"),
break-the-glass openings (``client.break_glass``, with the grant's review state), and
reads of a referral about the client (``referral.viewed``, the HTTP and FHIR forms).

**What is left out, and why** (``LEFT_OUT``, said in every statement): searches (their
entries name other clients, and a search shows only a name and birth date), refused or
withheld-only attempts (nothing was disclosed; their count would, for a staff caller,
depend on entries outside their oversight, e.g. a Part 2 program's refused attempts),
checks whether a view changed (no contents returned), administrative reads of the
client's consents, privacy officers' oversight of the log itself, and entries logged
under another client id (before two records were linked or after they were split).

**Proof status per entry**: ``proven`` (version 2, sealed into the latest checkpoint),
``not_yet_sealed`` (the sealer runs every few seconds; generating a statement does not
seal, so a statement never writes the tree and never waits on the sealer), or
``v1_not_proven`` (written before leaf version 2: provable only by revealing the whole
entry, which a statement does not do).

**Who sees what.** The client (``statement_for_client``, the portal) gets every
agency's disclosures of their own record, Part 2 included. Staff
(``access_statement``: privacy or consent officers) get the part of the log they oversee
(``caseops.audit.scope``): an organisation-wide officer the same as the client; an
agency-scoped officer only the entries in their scope, each redacted to their agency's
view -- and since a redacted list no longer hashes to its commitment, their statement
proves only the fields that are never redacted (time, agency, roles, purpose, action,
client, referral) and says so, uniformly for every entry, so the proof status never
hints that something was cut. Staff names appear only when ``names`` is true
(``CASEOPS_TRANSPARENCY_NAMES``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select

from caseops.access.models import BreakGlassGrant
from caseops.audit import tree_store
from caseops.audit.canonical import (
    commitments_of,
    entry_fields,
    entry_object,
    field_salt,
    iso_utc,
    leaf_from_disclosure,
    salt_of,
)
from caseops.audit.checkpoint import (
    CheckpointError,
    load_any_public_key,
    public_key_pem,
    verify_checkpoint,
)
from caseops.audit.keys import key_ring
from caseops.audit.merkle import leaf_hash, verify_inclusion
from caseops.audit.models import AccessEvent, AuditLeaf, BreakGlassReview
from caseops.audit.scope import AuditScope, scope_of
from caseops.audit.service import record
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.incidents.models import IncidentStep
from caseops.registry.models import ConsentRecord

FORMAT = "caseops-access-statement/1"
"""The ``format`` field of every statement; bumped on any incompatible change."""

LISTED = ("client.view", "client.break_glass", "referral.viewed")
KINDS = {
    "client.view": "view",
    "client.break_glass": "emergency_access",
    "referral.viewed": "referral_read",
}

PROVEN = "proven"
NOT_YET_SEALED = "not_yet_sealed"
V1_NOT_PROVEN = "v1_not_proven"
PROOF_STATUSES = {
    PROVEN: "proven by its inclusion in the signed checkpoint, revealing only the fields shown",
    NOT_YET_SEALED: "not yet provable: not sealed into the signed checkpoint yet; ask again later",
    V1_NOT_PROVEN: (
        "written before selectively disclosable entries: provable only by revealing the "
        "whole entry, so not proven here"
    ),
}

# Fields revealed for every listed entry (when present in the entry).
BASE_FIELDS = ("occurred_at", "action", "outcome", "client_id", "purpose", "actor_agency")
ROLE_FIELD = "actor_roles"
NAME_FIELD = "actor"
REFERRAL_FIELDS = ("target_type", "target_id", "detail.side")
# What a view disclosed and on what basis: section-keyed, so redacted for a scoped officer.
SECTION_FIELDS = (
    "detail.disclosed",
    "detail.bases",
    "detail.relationships",
    "detail.referrals",
    "detail.consent_ids",
    "detail.break_glass_grant",
)

LEFT_OUT = [
    {
        "kind": "client.search",
        "why": "Searches are not listed: their entries name the other people a search "
        "returned, and a search shows only a name and birth date.",
    },
    {
        "kind": "refused_or_withheld",
        "why": "Refused attempts and views that showed no section are not listed or "
        "counted: nothing was disclosed, and for staff a count would depend on entries "
        "outside what they oversee. They remain in the log for privacy officers.",
    },
    {
        "kind": "client.view_check",
        "why": "Checks whether a view changed return no record contents.",
    },
    {
        "kind": "consents",
        "why": "Consent officers' reads and changes of the client's consents are the "
        "administration of the client's permissions, not disclosures of record sections.",
    },
    {
        "kind": "oversight",
        "why": "Privacy officers' searches, accountings and statements read the log, not "
        "the record.",
    },
    {
        "kind": "other_client_ids",
        "why": "Entries logged under another client id (before two records were linked "
        "as this client, or after a record was split off) are not included.",
    },
    {
        "kind": "justifications",
        "why": "A break-the-glass justification is the worker's free text and may name "
        "other people: it is withheld (its commitment is in the entry).",
    },
]

CONSISTENCY_HINT = (
    "Keep this checkpoint. A later checkpoint of the same log must extend it: ask for an "
    "RFC 9162 consistency proof between the two tree sizes "
    "(GET /api/v1/audit/consistency?first=<this tree size>&second=<later size>)."
)


# --- building ---------------------------------------------------------------------------


def _listed(client_id: str, scope: AuditScope | None) -> list[tuple[AccessEvent, int | None]]:
    query = (
        select(AccessEvent, AuditLeaf.leaf_index)
        .outerjoin(AuditLeaf, AuditLeaf.event_seq == AccessEvent.seq)
        .where(
            AccessEvent.client_id == client_id,
            AccessEvent.action.in_(LISTED),
            AccessEvent.outcome == "success",
        )
        .order_by(AccessEvent.seq)
    )
    if scope is not None:
        query = query.where(scope.events_condition())
    rows = []
    for event, index in db.session.execute(query):
        if scope is not None and not scope.admits(event.action, event.actor_agency, event.detail):
            continue
        rows.append((event, index))
    return rows


def _review_states(grant_ids: Iterable[int]) -> dict[int, str]:
    """``open`` until a privacy officer reviews it, then the latest decision."""
    ids = sorted(set(grant_ids))
    states = dict.fromkeys(ids, "open")
    if ids:
        rows = db.session.execute(
            select(BreakGlassReview.grant_id, BreakGlassReview.decision)
            .where(BreakGlassReview.grant_id.in_(ids))
            .order_by(BreakGlassReview.id)
        )
        for grant_id, decision in rows:
            states[grant_id] = "acknowledged" if decision == "acknowledge" else "escalated"
    return states


def _consent_dates(ids: Iterable[str]) -> dict[str, dict[str, str]]:
    ids = sorted({str(i) for i in ids})
    if not ids:
        return {}
    rows = db.session.execute(
        select(ConsentRecord.id, ConsentRecord.signed_at, ConsentRecord.effective_from).where(
            ConsentRecord.id.in_(ids)
        )
    )
    return {
        cid: {"id": cid, "signed_at": iso_utc(signed), "effective_from": iso_utc(effective)}
        for cid, signed, effective in rows
    }


def _incidents(client_id: str, scope: AuditScope | None) -> list[dict[str, Any]]:
    """Incidents whose notification records name the client (issue 22): their ids and
    where their timeline is; for a scoped officer, only notifications of their agency."""
    found: set[int] = set()
    steps = db.session.execute(
        select(IncidentStep.incident_id, IncidentStep.detail).where(IncidentStep.step == "notified")
    )
    for incident_id, detail in steps:
        for item in (detail or {}).get("notifications") or []:
            if item.get("client_id") != client_id:
                continue
            if (
                scope is None
                or scope.organisation
                or item.get("source_agency") == scope.agency
                or scope.agency in (item.get("recipient_agencies") or [])
            ):
                found.add(incident_id)
    return [
        {"incident_id": i, "timeline": f"/api/v1/incidents/{i}/timeline"} for i in sorted(found)
    ]


def _revealed_names(
    event: AccessEvent, fields: Mapping[str, Any], *, names: bool, sections: bool
) -> list[str]:
    wanted = [*BASE_FIELDS, ROLE_FIELD]
    if names:
        wanted.append(NAME_FIELD)
    if event.action == "referral.viewed":
        wanted.extend(REFERRAL_FIELDS)
    if event.action == "client.view" and sections:
        wanted.extend(SECTION_FIELDS)
    return [name for name in wanted if name in fields]


def _summary(
    event: AccessEvent,
    detail: Mapping[str, Any],
    *,
    names: bool,
    grants: Mapping[int, int],
    reviews: Mapping[int, str],
    consents: Mapping[str, dict[str, str]],
) -> dict[str, Any]:
    """What the entry says, in the statement's terms."""
    disclosed = [k for k in detail.get("disclosed") or [] if isinstance(k, str)]
    bases = detail.get("bases") or {}
    grant_id = detail.get("break_glass_grant")
    if event.action == "client.break_glass":
        grant_id = grants.get(event.seq)
    basis = sorted({str(bases.get(k) or "unknown") for k in disclosed})
    if event.action == "client.break_glass":
        basis = ["emergency"]
    elif event.action == "referral.viewed":
        basis = ["referral"]
    summary: dict[str, Any] = {
        "seq": event.seq,
        "occurred_at": iso_utc(event.occurred_at),
        "kind": KINDS[event.action],
        "action": event.action,
        "agency": event.actor_agency,
        "roles": list(event.actor_roles or []),
        "purpose": event.purpose,
        "categories": disclosed,
        "basis": basis,
        "consents": [consents.get(str(c), {"id": str(c)}) for c in detail.get("consent_ids") or []]
        if "consent" in basis
        else [],
        "referrals": sorted({str(r) for r in (detail.get("referrals") or {}).values()})
        if event.action == "client.view"
        else ([event.target_id] if event.action == "referral.viewed" else []),
        "break_glass": None
        if grant_id is None
        else {"grant_id": grant_id, "review": reviews.get(grant_id, "open")},
    }
    if names:
        summary["staff"] = event.actor
    return summary


def _disclosure(event: AccessEvent, revealed: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The entry's version 2 leaf as a statement carries it: the revealed fields with
    their values and salts, every other field as its commitment."""
    secret = salt_of(event)
    assert secret is not None
    entry = entry_object(event)
    commitments = commitments_of(entry, secret)
    fields = entry_fields(entry)
    shown = {
        name: {"value": fields[name], "salt": field_salt(secret, name).hex()} for name in revealed
    }
    withheld = {name: c for name, c in commitments.items() if name not in shown}
    return {"v": 2, "seq": event.seq, "revealed": shown, "withheld": withheld}, commitments


def _checkpoint_block(conn) -> tuple[tree_store.StoredCheckpoint | None, dict[str, Any] | None]:
    latest = tree_store.latest_checkpoint(conn)
    if latest is None:
        return None, None
    return latest, {
        "origin": latest.origin,
        "tree_size": latest.tree_size,
        "root_hash": latest.root_hash.hex(),
        "signed_at": iso_utc(latest.signed_at),
        "key_id": latest.key_id,
        "checkpoint": latest.checkpoint,
        "signature": latest.signature,
    }


def _public_key(key_id: str | None) -> dict[str, Any] | None:
    ring = key_ring()
    key = ring.get(key_id) if key_id else ring.current
    if key is None:  # pragma: no cover - a checkpoint is only signed by a published key
        return None
    return {
        "algorithm": "Ed25519",
        "key_id": key.key_id,
        "origin": ring.origin,
        "public_key_pem": public_key_pem(key.public_key),
    }


def _build(client_id: str, scope: AuditScope | None, names: bool) -> dict[str, Any]:
    """The statement; ``scope`` None: the client's own (everything about them)."""
    sections_proven = scope is None or scope.organisation
    listed = _listed(client_id, scope)
    consents_visible = (
        None if scope is None else scope.visible_consents(e.detail for e, _ in listed)
    )
    details: list[dict[str, Any]] = []
    kept: list[tuple[AccessEvent, int | None, dict[str, Any]]] = []
    for event, index in listed:
        detail = dict(event.detail or {})
        if scope is not None and consents_visible is not None:
            detail = scope.redact_detail(detail, event.actor_agency, consents_visible)
        if event.action == "client.view" and not detail.get("disclosed"):
            continue  # nothing disclosed (or nothing the officer may know of)
        kept.append((event, index, detail))
        details.append(detail)

    opened = [e.seq for e, _, _ in kept if e.action == "client.break_glass"]
    grants = (
        dict(
            db.session.execute(
                select(BreakGlassGrant.access_event_seq, BreakGlassGrant.id).where(
                    BreakGlassGrant.access_event_seq.in_(opened)
                )
            ).all()
        )
        if opened
        else {}
    )
    grant_ids = [*grants.values()]
    grant_ids += [d["break_glass_grant"] for d in details if d.get("break_glass_grant")]
    reviews = _review_states(grant_ids)
    consents = _consent_dates(c for d in details for c in d.get("consent_ids") or [])

    conn = db.session.connection()
    checkpoint, checkpoint_block = _checkpoint_block(conn)
    size = checkpoint.tree_size if checkpoint else 0
    entries = []
    counts = dict.fromkeys(PROOF_STATUSES, 0)
    for event, index, detail in kept:
        item = _summary(
            event, detail, names=names, grants=grants, reviews=reviews, consents=consents
        )
        if salt_of(event) is None:
            status = V1_NOT_PROVEN
        elif index is None or index >= size:
            status = NOT_YET_SEALED
        else:
            status = PROVEN
        item["proof_status"] = status
        counts[status] += 1
        if status == PROVEN:
            fields = entry_fields(entry_object(event))
            revealed = _revealed_names(event, fields, names=names, sections=sections_proven)
            item["leaf"], _ = _disclosure(event, revealed)
            item["proof"] = {
                "leaf_index": index,
                "tree_size": size,
                "audit_path": [n.hex() for n in tree_store.audit_path(conn, index, size)],
            }
        entries.append(item)

    proven_fields = ["occurred_at", "action", "agency", "roles", "purpose", "client_id"]
    if names:
        proven_fields.append("staff")
    if sections_proven:
        proven_fields += ["categories", "basis", "consent ids", "referrals", "break_glass grant"]
    return {
        "format": FORMAT,
        "client_id": client_id,
        "generated_at": iso_utc(utcnow()),
        "names": names,
        "scope": "client"
        if scope is None
        else ("organisation" if scope.organisation else f"agency:{scope.agency}"),
        "checkpoint": checkpoint_block,
        "public_key": _public_key(checkpoint.key_id if checkpoint else None),
        "consistency": CONSISTENCY_HINT,
        "proves": {
            "fields": proven_fields,
            "note": "Each proven entry reveals these fields with their salts and gives every "
            "other field only as its commitment."
            + (
                ""
                if sections_proven
                else " This statement is limited to your agency's oversight: the sections, "
                "bases and consents shown are your agency's part and are not proven here "
                "(the client's own statement proves them)."
            ),
        },
        "proof_statuses": PROOF_STATUSES,
        "counts": {"listed": len(entries), **counts},
        "entries": entries,
        "left_out": LEFT_OUT,
        "incidents": _incidents(client_id, scope),
    }


def statement_for_client(client_id: str, names: bool) -> dict[str, Any]:
    """Every logged decision that disclosed a section about ``client_id``, oldest first,
    each with the fields a client may see and, where it can be proven without revealing
    more, its RFC 9162 inclusion proof against the latest signed checkpoint.

    For the client's own pages: no staff actor, no scope (the client sees every agency's
    disclosures of their own record, Part 2 included), nothing written to the log (the
    caller logs the client's own act). ``names`` reveals staff names (the portal passes
    ``current_app.config["CASEOPS_TRANSPARENCY_NAMES"]``). The caller must already have
    established that ``client_id`` exists and is the signed-in client's.

    Returns ``{"format": FORMAT, "client_id", "generated_at", "checkpoint": {...} | None,
    "public_key": {...}, "entries": [...], "left_out": [...], ...}``; each entry holds
    ``seq, occurred_at, kind, action, agency, roles, purpose, categories, basis,
    consents, referrals, break_glass: {grant_id, review} | None, staff (names only),
    proof_status`` (``"proven"``, ``"not_yet_sealed"``, ``"v1_not_proven"``) and, when
    proven, ``leaf`` and ``proof``. See docs/access-statement.md.
    """
    return _build(client_id, None, names)


def access_statement(actor: Actor, client_id: str, *, names: bool) -> dict[str, Any]:
    """``statement_for_client`` for staff (privacy or consent officer): refused (logged)
    for anyone else, load-or-404 the client, restricted to the part of the log the
    officer oversees (``caseops.audit.scope``), and logged before it is returned.

    Consent officers hold it through their consents permission (they hand the client a
    printed statement with the consent summary), privacy officers through the log's."""
    if not (permissions.may(actor, "audit", "read") or permissions.may(actor, "consents", "read")):
        refuse(
            actor,
            "audit.denied",
            "Only a privacy officer or a consent officer may produce an access statement.",
            target_type="client",
            detail={"operation": "access_statement"},
        )
    permissions.load_client(actor, client_id)
    scope = scope_of(actor)
    statement = _build(client_id, scope, names)
    record(
        "audit.access_statement",
        actor=actor,
        target_type="client",
        target_id=client_id,
        client_id=client_id,
        detail={
            "scope": scope.as_dict(),
            "names": names,
            "listed": statement["counts"]["listed"],
            "tree_size": statement["checkpoint"]["tree_size"] if statement["checkpoint"] else None,
        },
    )
    return statement


# --- checking ---------------------------------------------------------------------------


class StatementError(ValueError):
    """A statement that does not verify; ``seq`` names the first bad entry (None: the
    statement as a whole, e.g. its checkpoint)."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message if seq is None else f"entry {seq}: {message}")
        self.seq = seq


# summary field -> the leaf field it must equal
_MATCHES = {
    "occurred_at": "occurred_at",
    "action": "action",
    "agency": "actor_agency",
    "roles": "actor_roles",
    "purpose": "purpose",
    "staff": "actor",
    "categories": "detail.disclosed",
}


def _check_entry(entry: Mapping[str, Any], client_id: str, root: bytes, size: int) -> None:
    seq = entry.get("seq")
    leaf = entry.get("leaf")
    proof = entry.get("proof")
    if not isinstance(leaf, Mapping) or not isinstance(proof, Mapping):
        raise StatementError("a proven entry without its leaf or proof", seq)
    if leaf.get("v") != 2 or leaf.get("seq") != seq:
        raise StatementError("the leaf is not this entry's version 2 leaf", seq)
    revealed_raw = leaf.get("revealed") or {}
    withheld = leaf.get("withheld") or {}
    try:
        revealed = {
            name: (item["value"], bytes.fromhex(item["salt"]))
            for name, item in revealed_raw.items()
        }
        data = leaf_from_disclosure(seq, revealed, withheld)
        path = [bytes.fromhex(node) for node in proof["audit_path"]]
        index = proof["leaf_index"]
    except (KeyError, TypeError, ValueError) as exc:
        raise StatementError(f"malformed leaf or proof ({exc})", seq) from exc
    if revealed.get("client_id", (None,))[0] != client_id:
        raise StatementError("the proven entry is not about this client", seq)
    for summary_name, field in _MATCHES.items():
        if field in revealed and summary_name in entry:
            expected = revealed[field][0]
            if summary_name == "categories" and entry.get("action") != "client.view":
                continue
            if entry[summary_name] != expected:
                raise StatementError(f"{summary_name} differs from the proven field", seq)
    if proof.get("tree_size") != size:
        raise StatementError("the proof is for another tree size than the checkpoint", seq)
    if not verify_inclusion(leaf_hash(data), index, size, path, root):
        raise StatementError("the inclusion proof does not lead to the checkpoint root", seq)


def verify_statement(statement: Mapping[str, Any], public_key: str | None = None) -> int:
    """Check every proven entry of a statement (field commitments, leaf, inclusion proof)
    and the checkpoint's signature, with ``public_key`` (PEM, verifier key or base64) or
    else the key the statement carries -- which proves only that the statement is
    self-consistent: pin the log's published key. Returns the number of proven entries;
    raises ``StatementError`` naming the first bad one."""
    if statement.get("format") != FORMAT:
        raise StatementError(f"not a statement of format {FORMAT}")
    entries = statement.get("entries") or []
    proven = [e for e in entries if isinstance(e, Mapping) and e.get("proof_status") == PROVEN]
    if not proven:
        return 0
    block = statement.get("checkpoint") or {}
    material = public_key or (statement.get("public_key") or {}).get("public_key_pem")
    if not material:
        raise StatementError("no public key to check the checkpoint with")
    try:
        key = load_any_public_key(material)
        origin = block["checkpoint"].split("\n", 1)[0]
        checkpoint = verify_checkpoint(block["checkpoint"], block["signature"], key, origin=origin)
    except (CheckpointError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StatementError(f"the checkpoint does not verify: {exc}") from exc
    client_id = statement.get("client_id")
    for entry in proven:
        _check_entry(entry, client_id, checkpoint.root_hash, checkpoint.tree_size)
    return len(proven)
