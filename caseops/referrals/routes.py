"""/api/v1/referrals and /api/v1/clients/{id}/referrals: one line per handler."""

from __future__ import annotations

from caseops.auth.current import current_actor
from caseops.extensions import ApiBlueprint
from caseops.referrals import service
from caseops.referrals.schemas import (
    AssignIn,
    ListQuery,
    MoveIn,
    PreviewOut,
    PreviewQuery,
    ReferralIn,
    ReferralOut,
)

blp = ApiBlueprint("referrals", __name__, url_prefix="/api/v1", description="Referrals")


@blp.post("/clients/<client_id>/referrals")
@blp.arguments(ReferralIn)
@blp.response(201, ReferralOut)
def create(body, client_id):
    """Refer a client you work with to another agency (`send: true` sends it at once,
    through the consent gate: 422 naming each uncovered category and source).

    Hidden clients answer 404 as unknown ids do.
    """
    return service.create(current_actor(), client_id, body)


@blp.get("/clients/<client_id>/referrals/preview")
@blp.arguments(PreviewQuery, location="query")
@blp.response(200, PreviewOut)
def preview(query, client_id):
    """Which categories the client's consents let a referral to this agency share, and
    why not the others (within what the caller may know). Hidden clients answer 404."""
    return service.preview(current_actor(), client_id, **query)


@blp.get("/referrals")
@blp.arguments(ListQuery, location="query")
@blp.response(200, ReferralOut(many=True))
def list_referrals(query):
    """The caller's agency's referrals: incoming (addressed to it) or outgoing."""
    return service.list_referrals(current_actor(), **query)


@blp.get("/referrals/<referral_id>")
@blp.response(200, ReferralOut)
def get(referral_id):
    """The referral and its history, as the caller's side may see it; 404 to anyone else."""
    return service.get(current_actor(), referral_id)


@blp.post("/referrals/<referral_id>/status")
@blp.arguments(MoveIn)
@blp.response(200, ReferralOut)
def move(body, referral_id):
    """One move of the referral's state machine: 409 naming the allowed moves for any
    other, 403 for the wrong side, 422 for a missing reason or outcome."""
    return service.move(current_actor(), referral_id, body)


@blp.post("/referrals/<referral_id>/assign")
@blp.arguments(AssignIn)
@blp.response(200, ReferralOut)
def assign(body, referral_id):
    """The recipient agency's supervisors assign (or reassign) a worker."""
    return service.assign(current_actor(), referral_id, body["username"])
