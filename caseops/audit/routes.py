"""/api/v1/audit: the verifiable access log for privacy officers and outside auditors."""

from __future__ import annotations

from flask import Response, current_app, stream_with_context

from caseops.audit import activity, break_glass, disclosures, statement, trail
from caseops.audit.key_schemas import PublishedKeysSchema
from caseops.audit.schemas import (
    ActivityQuerySchema,
    ActivitySchema,
    BreakGlassGrantSchema,
    BreakGlassQuerySchema,
    BreakGlassQueueSchema,
    BreakGlassReviewInSchema,
    CheckpointSchema,
    ConsistencyQuerySchema,
    ConsistencySchema,
    DisclosureListSchema,
    DisclosureQuerySchema,
    EventPageSchema,
    EventQuerySchema,
    ExportQuerySchema,
    ProofQuerySchema,
    ProofSchema,
    PublicKeySchema,
    VerifySchema,
)
from caseops.audit.seal import register_periodic_sealer
from caseops.audit.statement_schemas import StatementSchema
from caseops.auth.current import current_actor
from caseops.extensions import ApiBlueprint

blp = ApiBlueprint(
    "audit", __name__, url_prefix="/api/v1/audit", description="The verifiable access log"
)
# The per-client audit resources live under /api/v1/clients (registered next to blp).
clients_blp = ApiBlueprint(
    "audit_clients",
    __name__,
    url_prefix="/api/v1/clients",
    description="Accounting of disclosures and access statements",
)
# Registering the API also starts the periodic sealer (CASEOPS_AUDIT_SEAL_INTERVAL).
blp.record_once(lambda state: register_periodic_sealer(state.app))


@blp.get("/events")
@blp.arguments(EventQuerySchema, location="query")
@blp.response(200, EventPageSchema)
def events(query):
    """Log entries matching the filters, newest first; pass next_cursor to get older ones."""
    cursor, limit = query.pop("cursor"), query.pop("limit")
    filters = trail.EventFilters(**query)
    return trail.search_events(current_actor(), filters, cursor=cursor, limit=limit)


@blp.get("/verify")
@blp.response(200, VerifySchema)
def verify():
    """Recompute every leaf, node and checkpoint root; name the first entry that differs."""
    return trail.verify_log(current_actor()).as_dict()


@blp.get("/checkpoints/latest")
@blp.response(200, CheckpointSchema)
def latest_checkpoint():
    """The newest signed checkpoint (C2SP tlog-checkpoint text and Ed25519 signature)."""
    return trail.latest_checkpoint(current_actor())


@blp.get("/public-key")
@blp.response(200, PublicKeySchema)
def public_key():
    """The Ed25519 key that signs checkpoints, for any authenticated caller."""
    current_actor()
    return trail.public_key()


@blp.get("/public-keys")
@blp.response(200, PublishedKeysSchema)
def public_keys():
    """Every signing key, current and retired, with its key id and validity period."""
    current_actor()
    return trail.public_keys()


@blp.get("/events/<int:seq>/proof")
@blp.arguments(ProofQuerySchema, location="query")
@blp.response(200, ProofSchema)
def proof(query, seq):
    """RFC 9162 inclusion proof of one entry (default: in the latest checkpoint)."""
    return trail.inclusion(current_actor(), seq, query["tree_size"])


@blp.get("/consistency")
@blp.arguments(ConsistencyQuerySchema, location="query")
@blp.response(200, ConsistencySchema)
def consistency(query):
    """RFC 9162 consistency proof between two tree sizes (second default: latest)."""
    return trail.consistency(current_actor(), query["first"], query["second"])


@blp.get("/export")
@blp.arguments(ExportQuerySchema, location="query")
@blp.response(200, content_type="application/jsonl")
def export(query):
    """Sealed entries in leaf order, streamed; a version 1 line is exactly the hashed leaf
    bytes, a version 2 line the entry and its ``leaf_salt`` (docs/access-statement.md)."""
    lines = trail.export_lines(current_actor(), **query)
    return Response(stream_with_context(lines), mimetype="application/jsonl")


@blp.get("/break-glass")
@blp.arguments(BreakGlassQuerySchema, location="query")
@blp.response(200, BreakGlassQueueSchema)
def break_glass_queue(query):
    """Break-the-glass grants to review (open) or reviewed, with their events and reviews."""
    return break_glass.queue(current_actor(), query["status"])


@blp.post("/break-glass/<int:grant_id>/review")
@blp.arguments(BreakGlassReviewInSchema)
@blp.response(201, BreakGlassGrantSchema)
def break_glass_review(body, grant_id):
    """Acknowledge or escalate a grant with a note (append-only; itself logged)."""
    return break_glass.review(current_actor(), grant_id, body["decision"], body["note"])


@blp.get("/activity")
@blp.arguments(ActivityQuerySchema, location="query")
@blp.response(200, ActivitySchema)
def activity_report(query):
    """Views per day, per agency and per user, with anomaly flags and why each was raised."""
    return activity.activity(current_actor(), query["since"], query["until"])


def _disclosures(client_id: str, query: dict, fmt: str):
    result = disclosures.accounting(
        current_actor(), client_id, since=query["since"], until=query["until"], fmt=fmt
    )
    if fmt != "csv":
        return result
    return Response(
        disclosures.to_csv(result["items"]),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="disclosures-{client_id}.csv"',
            "Cache-Control": "no-store",
        },
    )


@clients_blp.get("/<client_id>/disclosures")
@clients_blp.arguments(DisclosureQuerySchema, location="query")
@clients_blp.response(200, DisclosureListSchema)
@clients_blp.alt_response(200, content_type="text/csv", description="with format=csv")
def client_disclosures(query, client_id):
    """Accounting of disclosures (45 CFR 164.528) of one client: who received what, when, why."""
    return _disclosures(client_id, query, query.pop("format"))


@clients_blp.get("/<client_id>/disclosures.csv")
@clients_blp.arguments(DisclosureQuerySchema, location="query")
@clients_blp.response(200, content_type="text/csv")
def client_disclosures_csv(query, client_id):
    """The accounting of disclosures as CSV with a header line."""
    query.pop("format")
    return _disclosures(client_id, query, "csv")


@clients_blp.get("/<client_id>/access-statement")
@clients_blp.response(200, StatementSchema)
def client_access_statement(client_id):
    """The client's verifiable access statement: every disclosure with its inclusion proof
    against the signed checkpoint, revealing only what the client may see."""
    return statement.access_statement(current_actor(), client_id, names=_names())


def _names() -> bool:
    return bool(current_app.config.get("CASEOPS_TRANSPARENCY_NAMES"))
