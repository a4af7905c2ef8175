"""Pages for consent officers: a client's consents and their history, recording (with the
signed form), amending and revoking, the sharing matrix, a printable summary for the
client, the consents expiring soon, and the attestation queue (consents another agency
recorded that name the officer's agency as a source, waiting for it to stand behind them).

All of it goes through ``caseops.registry.service``, which checks the policy, validates
(42 CFR Part 2 and FERPA elements included) and writes the access log.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from marshmallow import ValidationError as SchemaValidationError

from caseops.agencies.service import directory as agency_directory
from caseops.auth.current import current_actor
from caseops.authz import policy
from caseops.desk import homes
from caseops.errors import Conflict, Forbidden, NotFound, ValidationFailed, flatten_messages
from caseops.registry import service as consents
from caseops.registry.schemas import ConsentBodySchema
from caseops.ui import display
from caseops.ui.clients import _install_template_helpers
from caseops.ui.forms import (
    CONSENT_ERROR_FIELDS,
    EVIDENCE_LABELS,
    GRANTOR_LABELS,
    PURPOSE_LABELS,
    REVOCATION_LABELS,
    ActionForm,
    ConsentForm,
    PurposeForm,
    RevokeForm,
    attach_errors,
    utc_input_value,
)
from caseops.vocabulary import CATEGORIES, PURPOSES

bp = Blueprint("consent_pages", __name__)
bp.record_once(_install_template_helpers)

EXPIRING_DAYS = 30
IN_FORCE = ("active", "not_yet_effective")
STATUS_LABELS = {
    "active": "Active",
    "revoked": "Revoked",
    "expired": "Expired",
    "superseded": "Superseded",
    "not_yet_effective": "Not yet effective",
    "draft": "Draft",
}


# Why a cell of the sharing matrix shares nothing although some consent covers it.
SHARING_REASONS = {
    "consent_denied": "the client refused",
    "consent_revoked": "consent revoked",
    "consent_expired": "consent expired",
    "consent_not_yet_effective": "consent not yet in effect",
    "consent_not_attested": "waiting for the source agency to attest",
    "no_agreement": "no data sharing agreement between the agencies",
    "part2_recipient_not_named": "Part 2: recipient not named",
    "part2_purpose_not_named": "Part 2: purpose not named",
    "part2_no_expiry": "Part 2: no expiry",
    "part2_source_not_named": "Part 2: program not named",
    "part2_information_not_named": "Part 2: information not named",
    "ferpa_signer_invalid": "FERPA: wrong signer",
    "ferpa_signer_unverifiable": "FERPA: signer cannot be checked",
    # 42 CFR Part 2 as amended in 2024: a general designation's limits
    "part2_intermediary_not_named": "Part 2: this intermediary not named",
    "part2_not_treating_provider": "Part 2: not a treating provider",
    "part2_no_treating_relationship": "Part 2: no treating relationship now",
    "part2_purpose_not_tpo": "Part 2: not treatment, payment or operations",
    "part2_hipaa_statement_missing": "Part 2: HIPAA redisclosure statement missing",
}


@bp.app_template_filter("sharing_reason")
def sharing_reason(code: str) -> str:
    return SHARING_REASONS.get(code, code.replace("_", " "))


@bp.app_context_processor
def consent_labels() -> dict[str, object]:
    return {
        "consent_status_labels": STATUS_LABELS,
        "grantor_labels": GRANTOR_LABELS,
        "evidence_labels": EVIDENCE_LABELS,
        "revocation_labels": REVOCATION_LABELS,
    }


def _may_manage(actor) -> bool:
    return policy.allowed(actor, "consents", "manage")


def _require_manage(actor) -> None:
    if not _may_manage(actor):
        raise Forbidden("Your role may not do this with consents.")


def _agency_codes() -> list[str]:
    return [agency["code"] for agency in agency_directory()]


def _revocable(described: dict) -> bool:
    return described["superseded_by"] is None and described["revocation"] is None


def _revoke_form(consent_id: str, *, submitted: bool = False) -> RevokeForm:
    """One revoke form per consent on the page (the prefix keeps their ids apart)."""
    if submitted:
        return RevokeForm(prefix=f"revoke-{consent_id}")
    return RevokeForm(formdata=None, prefix=f"revoke-{consent_id}")


def _render_consents(client_id: str, failed: tuple[str, RevokeForm] | None = None, status=200):
    actor = current_actor()
    listing = consents.client_consents(actor, client_id)
    manage = _may_manage(actor)
    revoke_forms = {}
    if manage:
        revoke_forms = {
            c["id"]: _revoke_form(c["id"]) for c in listing["consents"] if _revocable(c)
        }
        if failed is not None and failed[0] in revoke_forms:
            revoke_forms[failed[0]] = failed[1]
    newest_first = sorted(listing["consents"], key=lambda c: c["recorded_at"], reverse=True)
    ordered = sorted(newest_first, key=lambda c: c["status"] not in IN_FORCE)
    return (
        render_template(
            "consents/consents.html",
            client_id=client_id,
            consents=ordered,
            timeline=list(reversed(listing["timeline"])),
            manage=manage,
            revoke_forms=revoke_forms,
            open_revoke=failed[0] if failed else None,
        ),
        status,
    )


@bp.get("/clients/<client_id>/consents")
def consents_page(client_id: str):
    return _render_consents(client_id)


@bp.post("/clients/<client_id>/consents/<consent_id>/revoke")
def revoke(client_id: str, consent_id: str):
    actor = current_actor()
    _require_manage(actor)
    form = _revoke_form(consent_id, submitted=True)
    if not form.validate_on_submit():
        return _render_consents(client_id, failed=(consent_id, form), status=422)
    try:
        revocation = consents.revoke(actor, consent_id, form.reason.data.strip(), form.method.data)
    except ValidationFailed as error:
        attach_errors(form, error.details)
        return _render_consents(client_id, failed=(consent_id, form), status=422)
    except Conflict as error:
        flash(error.message, "error")
        return redirect(url_for("consent_pages.consents_page", client_id=client_id))
    flash(
        f"The consent {signed_labels(client_id).get(consent_id, '')} was revoked at "
        f"{display.when(revocation.revoked_at)}. Sharing under it stopped immediately.",
        "info",
    )
    return redirect(url_for("consent_pages.consents_page", client_id=client_id))


def _now_minute() -> datetime:
    return utc_input_value(datetime.now(UTC))


def _save(form: ConsentForm, client_id: str, save) -> tuple[object | None, dict]:
    """Store the uploaded form first (its hash goes into the evidence), then record."""
    actor = current_actor()
    upload = form.document.data
    try:
        if upload is not None and getattr(upload, "filename", ""):
            document = consents.store_document(
                actor, client_id, upload.filename, upload.mimetype, upload.read()
            )
            form.document_sha256.data = document.sha256
        body = ConsentBodySchema().load(form.body())
        return save(actor, body), {}
    except ValidationFailed as error:
        return None, attach_errors(form, error.details, CONSENT_ERROR_FIELDS) or (
            {} if error.details else {"_": [error.message]}
        )
    except SchemaValidationError as error:
        return None, attach_errors(form, flatten_messages(error.messages), CONSENT_ERROR_FIELDS)
    except Conflict as error:
        return None, {"_": [error.message]}


def _recorded_message(row, verb: str) -> str:
    message = f"Consent {row.id} {verb} (version {row.version})."
    if row.document_sha256:
        message += f" Signed form stored encrypted; SHA-256 {row.document_sha256}."
    return message


def _consent_form_page(client_id: str, prefill, save, done: str, amending: str | None):
    """The record and amend pages: one form, one way to show the service's field errors."""
    actor = current_actor()
    _require_manage(actor)
    form = ConsentForm()
    form.set_agencies(_agency_codes())
    errors: dict = {}
    status = 200
    if request.method == "GET":
        prefill(actor, form)
    elif form.validate_on_submit():
        row, errors = _save(form, client_id, save)
        if row is not None:
            flash(_recorded_message(row, done), "info")
            return redirect(
                url_for("consent_pages.consents_page", client_id=client_id, _anchor=row.id)
            )
        status = 422
    else:
        status = 422
    return (
        render_template(
            "consents/form.html",
            form=form,
            client_id=client_id,
            errors=errors,
            amending=amending,
        ),
        status,
    )


@bp.route("/clients/<client_id>/consents/new", methods=["GET", "POST"])
def record_page(client_id: str):
    def prefill(_actor, form) -> None:
        form.effective_from.data = _now_minute()
        form.signed_at.data = _now_minute()

    return _consent_form_page(
        client_id,
        prefill,
        lambda who, body: consents.record_consent(who, client_id, body),
        "recorded",
        amending=None,
    )


@bp.route("/clients/<client_id>/consents/<consent_id>/amend", methods=["GET", "POST"])
def amend_page(client_id: str, consent_id: str):
    def prefill(actor, form) -> None:
        listing = consents.client_consents(actor, client_id)
        current = next((c for c in listing["consents"] if c["id"] == consent_id), None)
        if current is None:
            raise NotFound(f"No consent {consent_id!r} for this client.")
        form.fill_from(current)

    return _consent_form_page(
        client_id,
        prefill,
        lambda who, body: consents.amend(who, consent_id, body),
        f"recorded, superseding {consent_id}",
        amending=consent_id,
    )


@bp.get("/clients/<client_id>/sharing")
def sharing_page(client_id: str):
    actor = current_actor()
    purpose = request.args.get("purpose") or "care_coordination"
    if purpose not in PURPOSES:
        purpose = "care_coordination"
    matrix = consents.sharing(actor, client_id, purpose)
    cells = {(c["category"], c["recipient"]): c for c in matrix["cells"]}
    all_recipients = sorted({c["recipient"] for c in matrix["cells"]})
    only = request.args.get("to") or None
    recipients = [r for r in all_recipients if only in (None, r)]
    return render_template(
        "consents/sharing.html",
        client_id=client_id,
        matrix=matrix,
        cells=cells,
        categories=[c for c in CATEGORIES if any((c, r) in cells for r in recipients)],
        recipients=recipients,
        all_recipients=all_recipients,
        only=only,
        # each consent by what a person recognises: when it was signed and by whom (the
        # matrix's own consents, which sharing() has just authorised the actor to see)
        consent_labels=signed_labels(client_id),
        purpose=purpose,
        purpose_form=PurposeForm(formdata=None, purpose=purpose),
    )


def signed_labels(client_id: str) -> dict[str, str]:
    """consent id -> "signed 2026-03-02 by Maria Lopez" (the consent's own facts)."""
    return {
        row.id: f"signed {display.local(row.signed_at).date().isoformat()} by "
        f"{row.grantor_name or 'the client'}"
        for row in consents.consents_of(client_id).rows
    }


@bp.get("/clients/<client_id>/consents/print")
def print_page(client_id: str):
    actor = current_actor()
    listing = consents.client_consents(actor, client_id)
    current = [c for c in listing["consents"] if c["superseded_by"] is None]
    in_force = [c for c in current if c["status"] in IN_FORCE]
    ended = [c for c in current if c["status"] not in IN_FORCE]
    return render_template(
        "consents/print.html",
        client_id=client_id,
        in_force=in_force,
        ended=ended,
        generated_at=datetime.now(UTC),
        purpose_labels=PURPOSE_LABELS,
    )


@bp.get("/consents/expiring")
def expiring_page():
    actor = current_actor()
    rows = consents.expiring(actor, EXPIRING_DAYS)
    now = datetime.now(UTC)
    for row in rows:
        row["days_left"] = max(0, (row["expires_at"] - now).days)
    people = homes.name_clients(actor, rows, ["consents_expiring"])
    return render_template("consents/expiring.html", rows=rows, days=EXPIRING_DAYS, people=people)


@bp.get("/consents/attestations")
def attestations_page():
    """Consents naming the officer's agency as a source that it has not stood behind yet."""
    rows = consents.attestation_queue(current_actor())
    return render_template(
        "consents/attestations.html",
        rows=rows,
        people=homes.name_clients(current_actor(), rows, ["consents_to_attest"]),
        action_form=ActionForm(),
        agency=current_actor().agency,
    )


@bp.post("/consents/<consent_id>/attest")
def attest(consent_id: str):
    """Stand behind one consent for the officer's agency's records (CSRF-protected)."""
    if not ActionForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for("consent_pages.attestations_page"))
    try:
        row = consents.attest(current_actor(), consent_id)
    except Conflict as error:
        flash(error.message, "error")
        return redirect(url_for("consent_pages.attestations_page"))
    flash(
        f"The consent {signed_labels(row.client_id).get(row.id, '')} is attested for "
        f"{display.agency_name(current_actor().agency)}: your agency's records may now be "
        "shared under it.",
        "info",
    )
    return redirect(url_for("consent_pages.attestations_page"))
