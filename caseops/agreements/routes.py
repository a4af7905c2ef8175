"""/api/v1/agreements: data sharing agreements between agencies."""

from __future__ import annotations

from flask import Blueprint as FlaskBlueprint
from flask import Response

from caseops.agreements import service
from caseops.agreements.schemas import AgreementBody, AgreementOut, TerminateBody, VersionBody
from caseops.auth.current import current_actor
from caseops.errors import Gone
from caseops.extensions import ApiBlueprint

blp = ApiBlueprint(
    "agreements",
    __name__,
    url_prefix="/api/v1/agreements",
    description="Data sharing agreements between agencies",
)


@blp.post("")
@blp.arguments(AgreementBody)
@blp.response(201, AgreementOut)
def create_agreement(body):
    """Record a signed agreement (system_admin, or an agency_admin of a party): pending."""
    return service.create(current_actor(), body)


@blp.get("")
@blp.response(200, AgreementOut(many=True))
def list_agreements():
    """The agreements the caller's agency is party to (system administrators: all)."""
    return service.list_agreements(current_actor())


@blp.get("/<agreement_id>")
@blp.response(200, AgreementOut)
def get_agreement(agreement_id):
    """One agreement version with its status now, acceptances and termination."""
    return service.get(current_actor(), agreement_id)


@blp.post("/<agreement_id>/accept")
@blp.response(200, AgreementOut)
def accept_agreement(agreement_id):
    """The caller's agency accepts (its agency_admin); active once every party has."""
    return service.accept(current_actor(), agreement_id)


@blp.post("/<agreement_id>/amend")
@blp.arguments(VersionBody)
@blp.response(201, AgreementOut)
def amend_agreement(body, agreement_id):
    """A new version, same parties; it supersedes this one once every party accepts it."""
    return service.amend(current_actor(), agreement_id, body)


@blp.post("/<agreement_id>/terminate")
@blp.arguments(TerminateBody)
@blp.response(200, AgreementOut)
def terminate_agreement(body, agreement_id):
    """End the agreement now (a party's agency_admin, or system_admin), with a reason."""
    return service.terminate(current_actor(), agreement_id, body["reason"])


@blp.get("/<agreement_id>/document")
@blp.response(200, content_type="application/octet-stream")
def agreement_document(agreement_id):
    """The signed document (the parties' administrators and privacy officers)."""
    content, filename, content_type = service.document(current_actor(), agreement_id)
    return Response(
        content,
        mimetype=content_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- the standing trust rules' old endpoints: 410 Gone -----------------------------------
# Standing rules became trust clauses of agreements (one mechanism, docs/agreements.md).
# Their paths answer 410 to every caller and code (agency codes are public), naming what
# replaced them; a plain Flask blueprint, so they are no longer in the OpenAPI document.

gone = FlaskBlueprint("trust_rules_gone", __name__, url_prefix="/api/v1/agencies")


@gone.route("/<code>/trust-rules", methods=["GET", "POST"])
@gone.route("/<code>/trust-rules/<int:rule_id>", methods=["DELETE"])
def trust_rules_gone(code, rule_id=None):
    raise Gone(
        "Standing trust rules are now trust clauses of data sharing agreements: "
        "use /api/v1/agreements (docs/agreements.md).",
        code="trust_rules_replaced_by_agreements",
    )
