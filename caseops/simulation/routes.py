"""/api/v1/simulate/view and /api/v1/policies/impact (privacy officers)."""

from __future__ import annotations

from caseops.auth.current import current_actor
from caseops.extensions import ApiBlueprint
from caseops.simulation import service
from caseops.simulation.schemas import ImpactIn, ImpactOut, SimulateViewIn, SimulateViewOut

blp = ApiBlueprint("simulation", __name__, url_prefix="/api/v1", description="Policy simulation")


@blp.post("/simulate/view")
@blp.arguments(SimulateViewIn)
@blp.response(200, SimulateViewOut)
def simulate_view(body):
    """What this user would see of this client for this purpose (now, or at ``at``): per
    section the decision, reason, basis, Casbin rule, consent and relationship; never the
    contents. Privacy officers within their scope; logged (``simulation.view``)."""
    return service.simulate_view(
        current_actor(), body["username"], body["client_id"], body["purpose"], body["at"]
    )


@blp.post("/policies/impact")
@blp.arguments(ImpactIn)
@blp.response(200, ImpactOut)
def policy_impact(body):
    """Replay the views logged since ``since`` under today's policy and under the draft:
    sections newly shown / newly withheld by agency x category (system administrators get
    the counts only). Nothing is saved; logged (``policy.impact``)."""
    return service.policy_impact(current_actor(), body["add"], body["remove"], body["since"])
