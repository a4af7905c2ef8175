"""/api/v1 access-code endpoints for consent officers."""

from __future__ import annotations

from caseops.auth.current import current_actor
from caseops.extensions import ApiBlueprint
from caseops.portal import service
from caseops.portal.schemas import AccessCodeOut, IssueCodeBody, IssuedCodeOut

blp = ApiBlueprint(
    "access_codes", __name__, url_prefix="/api/v1", description="Client access codes"
)


@blp.post("/clients/<client_id>/access-codes")
@blp.arguments(IssueCodeBody)
@blp.response(201, IssuedCodeOut)
def issue_code(body, client_id):
    """Issue the client an access code for their own pages (/my); shown once."""
    return service.issue_code(current_actor(), client_id, body["expires_in_days"])


@blp.get("/clients/<client_id>/access-codes")
@blp.response(200, AccessCodeOut(many=True))
def list_codes(client_id):
    """The client's access codes issued by your agency (never their secrets)."""
    return service.list_codes(current_actor(), client_id)


@blp.post("/access-codes/<code_id>/revoke")
@blp.response(200, AccessCodeOut)
def revoke_code(code_id):
    """Revoke an access code your agency issued; its sessions end at once."""
    return service.revoke_code(current_actor(), code_id)
