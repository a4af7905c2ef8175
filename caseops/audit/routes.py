"""/api/v1/audit: the verifiable access log for privacy officers and outside auditors."""

from __future__ import annotations

from flask import Response, stream_with_context
from flask_smorest import Blueprint

from caseops.audit import trail
from caseops.audit.schemas import (
    CheckpointSchema,
    ConsistencyQuerySchema,
    ConsistencySchema,
    EventPageSchema,
    EventQuerySchema,
    ExportQuerySchema,
    ProofQuerySchema,
    ProofSchema,
    PublicKeySchema,
    VerifySchema,
)
from caseops.audit.seal import register_periodic_sealer
from caseops.auth.access import current_actor

blp = Blueprint(
    "audit", __name__, url_prefix="/api/v1/audit", description="The verifiable access log"
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
    """Sealed entries in leaf order, streamed; each line is exactly the hashed leaf bytes."""
    lines = trail.export_lines(current_actor(), **query)
    return Response(stream_with_context(lines), mimetype="application/jsonl")
