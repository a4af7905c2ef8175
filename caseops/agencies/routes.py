"""/api/v1/agencies"""

from __future__ import annotations

from caseops.agencies import service
from caseops.agencies.schemas import (
    AgencyCreateSchema,
    AgencyFactChangesOut,
    AgencyFactsBody,
    AgencyFactsOut,
    AgencySchema,
)
from caseops.auth.current import current_actor
from caseops.extensions import ApiBlueprint

blp = ApiBlueprint("agencies", __name__, url_prefix="/api/v1/agencies", description="Agencies")


@blp.get("")
@blp.response(200, AgencySchema(many=True))
def list_agencies():
    """All agencies (system_admin)."""
    return service.list_agencies(current_actor())


@blp.post("")
@blp.arguments(AgencyCreateSchema)
@blp.response(201, AgencySchema)
def create_agency(data):
    """Register an agency (system_admin)."""
    return service.create_agency(current_actor(), data)


@blp.put("/<code>/facts")
@blp.arguments(AgencyFactsBody)
@blp.response(200, AgencyFactsOut)
def set_agency_facts(data, code):
    """Set an agency's treating provider / covered entity / Part 2 program facts (system_admin);
    each change is logged and shown to the Part 2 programs (42 CFR Part 2 as amended in 2024)."""
    return service.set_facts(current_actor(), code, data)


@blp.get("/fact-changes")
@blp.response(200, AgencyFactChangesOut)
def agency_fact_changes():
    """Every agency's facts and their changes, newest first (system_admin; the Part 2
    programs' consent officers, privacy officers and administrators)."""
    return service.fact_changes(current_actor())
