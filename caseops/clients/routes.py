"""/api/v1/clients (search) and /api/v1/linkage (the data steward's review queue)."""

from __future__ import annotations

from caseops.auth.current import current_actor, reads_only
from caseops.clients import service
from caseops.clients.schemas import (
    ClientHit,
    ClientSearchQuery,
    LinkChangeSchema,
    ReviewItemSchema,
    ReviewQuery,
)
from caseops.extensions import ApiBlueprint

blp = ApiBlueprint("clients", __name__, url_prefix="/api/v1", description="Clients and linkage")


@blp.get("/clients")
@blp.arguments(ClientSearchQuery, location="query")
@blp.response(200, ClientHit(many=True))
@reads_only
def search_clients(query):
    """Minimal demographics of matching clients; never which agencies hold records.

    Finds exactly the clients the caller may know of: another agency's 42 CFR Part 2
    records count only for agencies an active consent names as their recipient.
    """
    return service.search(current_actor(), query["q"], query["birth_date"])


@blp.get("/linkage/review")
@blp.arguments(ReviewQuery, location="query")
@blp.response(200, ReviewItemSchema(many=True))
def review_queue(query):
    """Possible matches waiting for a data steward: those involving a record of the
    steward's agency (another agency's Part 2 record: only its program's steward), or
    every pair with organisation scope for linkage."""
    return service.review_queue(current_actor(), query["status"])


@blp.post("/linkage/review/<int:item_id>/link")
@blp.response(200, ReviewItemSchema)
def link(item_id):
    """Same person: the record joins the candidate's client. An item outside the
    steward's scope answers 404 as an unknown one."""
    return service.resolve_link(current_actor(), item_id)


@blp.post("/linkage/review/<int:item_id>/keep-apart")
@blp.response(200, ReviewItemSchema)
def keep_apart(item_id):
    """Different people: never linked automatically or queued again. An item outside
    the steward's scope answers 404 as an unknown one."""
    return service.resolve_keep_apart(current_actor(), item_id)


@blp.post("/linkage/records/<int:record_id>/unlink")
@blp.response(200, LinkChangeSchema)
def unlink(record_id):
    """Take a record of the steward's agency out of its client (and keep it apart from
    the rest); another agency's record answers 404 as an unknown one."""
    return service.unlink(current_actor(), record_id)


@blp.post("/linkage/events/<int:event_id>/undo")
@blp.response(200, LinkChangeSchema)
def undo(event_id):
    """Reverse a steward's link or unlink that concerns the steward's agency; any other
    event answers 404 as an unknown one."""
    return service.undo(current_actor(), event_id)
