"""/api/v1/policies: the role policy (system_admin)."""

from __future__ import annotations

from caseops.auth.current import current_actor
from caseops.authz import service
from caseops.authz.schemas import RuleChangeInSchema, RuleChangeSchema, RuleListSchema
from caseops.extensions import ApiBlueprint

blp = ApiBlueprint("policies", __name__, url_prefix="/api/v1/policies", description="Policy")


def _parts(body):
    """(the rule, the confirmation if one was sent)."""
    token, reason = body.pop("confirm_disclosure", None), body.pop("reason", None)
    return body, service.Confirmation(token, reason or "") if token else None


@blp.get("")
@blp.response(200, RuleListSchema)
def list_rules():
    """Every policy rule and the current policy version."""
    return service.list_rules(current_actor())


@blp.post("")
@blp.arguments(RuleChangeInSchema)
@blp.response(201, RuleChangeSchema)
def add_rule(body):
    """Add a rule; every worker applies it from its next request. A rule that newly shows
    sections of client records (in the views logged in the last 30 days, replayed) is
    refused 409 ``confirmation_required`` with the counts until confirmed."""
    return service.add_rule(current_actor(), *_parts(body))


@blp.delete("")
@blp.arguments(RuleChangeInSchema)
@blp.response(200, RuleChangeSchema)
def remove_rule(body):
    """Remove a rule (body: the rule); a removal that newly shows anything (a deny) needs
    the same confirmation as an addition."""
    return service.remove_rule(current_actor(), *_parts(body))
