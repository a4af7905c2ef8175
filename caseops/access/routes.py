"""/api/v1/clients/{id}/record, care-team and break-glass."""

from __future__ import annotations

from caseops.access import service
from caseops.access.schemas import (
    BreakGlassIn,
    BreakGlassOut,
    CareTeamIn,
    CareTeamOut,
    FingerprintOut,
    ViewOut,
    ViewQuery,
)
from caseops.auth.current import current_actor, read_instant, reads_ahead, reads_only
from caseops.extensions import ApiBlueprint

blp = ApiBlueprint("access", __name__, url_prefix="/api/v1/clients", description="Client view")


def _decision_reads(actor, view_args, at):
    """What deciding on the URL's client reads, sent with the token (``reads_ahead``)."""
    return service.view_reads(actor, view_args.get("client_id", ""), at)


@blp.get("/<client_id>/record")
@blp.arguments(ViewQuery, location="query")
@blp.response(200, ViewOut)
@reads_only
@reads_ahead(_decision_reads)
def view_record(query, client_id):
    """The sections consent and policy allow; withheld ones with a reason code.

    A client hidden from the caller (its only records are another agency's Part 2 records
    and no consent names the caller's agency) answers 404 exactly as an unknown id.
    """
    return service.view_record(current_actor(), client_id, query["purpose"], read_instant())


@blp.get("/<client_id>/record/fingerprint")
@blp.arguments(ViewQuery, location="query")
@blp.response(200, FingerprintOut)
@reads_only
@reads_ahead(_decision_reads)
def view_fingerprint(query, client_id):
    """Changes when what this worker's view shows changes: poll it for "updated" notices.

    Hidden clients answer 404 as unknown ids do.
    """
    return service.view_fingerprint(current_actor(), client_id, query["purpose"], read_instant())


@blp.post("/<client_id>/care-team")
@blp.arguments(CareTeamIn)
@blp.response(201, CareTeamOut)
def add_care_team_member(body, client_id):
    """Put a colleague (or yourself) on the client's care team (need to know).

    Hidden clients answer 404 as unknown ids do.
    """
    return service.add_care_team_member(current_actor(), client_id, body["username"], body["until"])


@blp.post("/<client_id>/break-glass")
@blp.arguments(BreakGlassIn)
@blp.response(201, BreakGlassOut)
def break_glass(body, client_id):
    """Emergency access without relationship or consent; flagged for review.

    Hidden clients answer 404 as unknown ids do.
    """
    return service.break_glass(
        current_actor(), client_id, body["justification"], body["purpose"], body["minutes"]
    )
