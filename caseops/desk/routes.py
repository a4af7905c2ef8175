"""/api/v1/me/caseload: one line per handler."""

from __future__ import annotations

from caseops.auth.current import current_actor, reads_only
from caseops.desk import service
from caseops.desk.schemas import CaseloadOut, CaseloadQuery
from caseops.extensions import ApiBlueprint

blp = ApiBlueprint("desk", __name__, url_prefix="/api/v1/me", description="The worker's desk")


@blp.get("/caseload")
@blp.arguments(CaseloadQuery, location="query")
@blp.response(200, CaseloadOut)
@reads_only
def caseload(query):
    """The clients the caller works with now (care team, open referrals assigned to them),
    with minimal demographics, whether what they may see changed since their last view,
    and open tasks and referrals; `scope=agency`: a supervisor's agency caseload by worker.
    """
    return service.caseload_of(current_actor(), query["scope"])
