"""/api/v1 notes: one line per handler. Reading a note is the record view's
(``GET /api/v1/clients/{client_id}/record``): a note is a section."""

from __future__ import annotations

from caseops.auth.current import current_actor
from caseops.extensions import ApiBlueprint
from caseops.notes import service
from caseops.notes.schemas import NoteAmendIn, NoteIn, NoteOut

blp = ApiBlueprint("notes", __name__, url_prefix="/api/v1", description="Notes")


@blp.post("/clients/<client_id>/notes")
@blp.arguments(NoteIn)
@blp.response(201, NoteOut)
def write(body, client_id):
    """A note on a client you work with: a section of your agency in `category`, read by
    others exactly as your agency's records in that category are (consent, policy,
    relationship; Part 2 for substance use or a Part 2 program). Hidden clients: 404."""
    return service.write(current_actor(), client_id, body)


@blp.post("/notes/<note_id>/amend")
@blp.arguments(NoteAmendIn)
@blp.response(200, NoteOut)
def amend(body, note_id):
    """A new text and why; the original is kept. The author or a supervisor of their
    agency; any other agency's caller gets the unknown-id answer (404)."""
    return service.amend(current_actor(), note_id, body["text"], body["reason"])
