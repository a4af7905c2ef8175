"""/api/v1/policies: the role policy (system_admin)."""

from __future__ import annotations

from flask_smorest import Blueprint

from caseops.auth.current import current_actor
from caseops.authz import service
from caseops.authz.schemas import RuleChangeSchema, RuleListSchema, RuleSchema

blp = Blueprint("policies", __name__, url_prefix="/api/v1/policies", description="Policy")


@blp.get("")
@blp.response(200, RuleListSchema)
def list_rules():
    """Every policy rule and the current policy version."""
    return service.list_rules(current_actor())


@blp.post("")
@blp.arguments(RuleSchema)
@blp.response(201, RuleChangeSchema)
def add_rule(rule):
    """Add a rule; every worker applies it from its next request."""
    return service.add_rule(current_actor(), rule)


@blp.delete("")
@blp.arguments(RuleSchema)
@blp.response(200, RuleChangeSchema)
def remove_rule(rule):
    """Remove a rule (body: the rule)."""
    return service.remove_rule(current_actor(), rule)
