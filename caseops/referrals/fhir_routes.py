"""/fhir/Task and /fhir/ServiceRequest: a referral as the HL7 Gravity SDOH closed-loop
referral, for agency systems (read only; moves go through
``POST /api/v1/referrals/{id}/status``). ``caseops.referrals.fhir`` does the mapping.

Who may read, and what: exactly as ``GET /api/v1/referrals/{id}`` (both sides, the
integration accounts of either agency included; anyone else, and an unknown id, get the
same 404 OperationOutcome), from what ``service.describe`` shows the caller. Ids are
``ref-<hex>`` (R4's alphabet); a read accepts that or the caseops ``ref_<hex>``. Every read
is logged as ``referral.viewed`` with ``{"format": "fhir", "resource": ...}``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, url_for
from sqlalchemy import select

from caseops.agencies.models import Agency
from caseops.audit.service import record as audit
from caseops.auth.current import current_actor
from caseops.authz.actor import Actor
from caseops.extensions import db
from caseops.referrals import service
from caseops.referrals.fhir import ReferralContext, to_service_request, to_task
from caseops.registry import service as consents
from consent.fhir import internal_id

bp = Blueprint("fhir_referrals", __name__, url_prefix="/fhir")
FHIR_JSON = "application/fhir+json"
MAPPERS = {"Task": to_task, "ServiceRequest": to_service_request}


def _consent_ids(actor: Actor, standing: service.Standing) -> list[str]:
    """The consents the send relied on (stored with the move to ``requested``), limited to
    those the caller's agency may know of: the same rule as ``GET /fhir/Consent/{id}``, so
    a reference never names a consent the reader would get a 404 for."""
    relied = next(
        (m.consent_ids for m in standing.history if m.to_status == "requested" and m.consent_ids),
        None,
    )
    if not relied:
        return []
    rows = consents.consents_of(standing.referral.client_id).rows
    known = {row.id for row in consents.visible_rows(actor, rows)}
    return [consent_id for consent_id in relied if consent_id in known]


def _agency_names(*codes: str) -> dict[str, str]:
    rows = db.session.execute(select(Agency.code, Agency.name).where(Agency.code.in_(codes)))
    return {code: name for code, name in rows}


def read(actor: Actor, referral_id: str, resource_type: str) -> dict[str, Any]:
    """The referral as ``resource_type`` (Task or ServiceRequest), as the actor may see
    it; logged. Unknown and hidden ids raise the same NotFound."""
    standing = service.load_referral(actor, internal_id(referral_id))
    referral = standing.referral
    audit(
        "referral.viewed",
        actor=actor,
        target_type="referral",
        target_id=referral.id,
        client_id=referral.client_id,
        detail={"side": standing.side.value, "format": "fhir", "resource": resource_type},
    )
    described = service.describe(actor, standing)
    described["consent_ids"] = _consent_ids(actor, standing)
    context = ReferralContext(
        canonical_base=url_for("fhir.base", _external=True).rstrip("/"),
        agency_names=_agency_names(referral.from_agency, referral.to_agency),
    )
    return MAPPERS[resource_type](described, context)


def _fhir(body: dict[str, Any]):
    return current_app.response_class(current_app.json.dumps(body), status=200, mimetype=FHIR_JSON)


@bp.get("/Task/<referral_id>")
def read_task(referral_id: str):
    """A referral as an SDOHCC Task For Referral Management (`ref-<hex>` or `ref_<hex>`)."""
    return _fhir(read(current_actor(), referral_id, "Task"))


@bp.get("/ServiceRequest/<referral_id>")
def read_service_request(referral_id: str):
    """The referral's ServiceRequest (the Task's focus), with its consents."""
    return _fhir(read(current_actor(), referral_id, "ServiceRequest"))
