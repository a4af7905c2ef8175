"""/api/v1/clients (search) and /api/v1/linkage (the data steward's review queue)."""

from __future__ import annotations

from flask_smorest import Blueprint

from caseops.auth.access import current_actor
from caseops.clients import service
from caseops.clients.schemas import (
    ClientHit,
    ClientSearchQuery,
    LinkChangeSchema,
    ReviewItemSchema,
    ReviewQuery,
)

blp = Blueprint("clients", __name__, url_prefix="/api/v1", description="Clients and linkage")


@blp.get("/clients")
@blp.arguments(ClientSearchQuery, location="query")
@blp.response(200, ClientHit(many=True))
def search_clients(query):
    """Minimal demographics of matching clients; never which agencies hold records."""
    return service.search(current_actor(), query["q"], query["birth_date"])


@blp.get("/linkage/review")
@blp.arguments(ReviewQuery, location="query")
@blp.response(200, ReviewItemSchema(many=True))
def review_queue(query):
    """Possible matches waiting for a data steward."""
    return service.review_queue(current_actor(), query["status"])


@blp.post("/linkage/review/<int:item_id>/link")
@blp.response(200, ReviewItemSchema)
def link(item_id):
    """Same person: the record joins the candidate's client."""
    return service.resolve_link(current_actor(), item_id)


@blp.post("/linkage/review/<int:item_id>/keep-apart")
@blp.response(200, ReviewItemSchema)
def keep_apart(item_id):
    """Different people: never linked automatically or queued again."""
    return service.resolve_keep_apart(current_actor(), item_id)


@blp.post("/linkage/records/<int:record_id>/unlink")
@blp.response(200, LinkChangeSchema)
def unlink(record_id):
    """Take a record out of its client (and keep it apart from the rest)."""
    return service.unlink(current_actor(), record_id)


@blp.post("/linkage/events/<int:event_id>/undo")
@blp.response(200, LinkChangeSchema)
def undo(event_id):
    """Reverse a steward's link or unlink."""
    return service.undo(current_actor(), event_id)
