"""/api/v1/agencies"""

from __future__ import annotations

from flask_smorest import Blueprint

from caseops.agencies import service
from caseops.agencies.schemas import AgencyCreateSchema, AgencySchema
from caseops.auth.current import current_actor

blp = Blueprint("agencies", __name__, url_prefix="/api/v1/agencies", description="Agencies")


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
