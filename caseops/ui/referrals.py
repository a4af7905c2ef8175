"""Referral pages for case workers and supervisors (issue 17): refer a client from the
client page (seeing, before sending, which categories the client's consents let go to
that agency and why not the others), the agency's incoming and outgoing referrals with a
status filter, and a referral's page with its history and the moves the signed-in worker
may make.

Everything goes through ``caseops.referrals.service``, which decides who sees and moves
what, applies the consent gate and writes the access log; these views parse the forms,
call it and render. A referral another agency's worker may not see answers the same 404
page as an unknown id, because the service answers so.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from caseops.auth.current import current_actor
from caseops.authz import policy
from caseops.authz.permissions import load_client
from caseops.errors import DomainError, Forbidden, ValidationFailed
from caseops.referrals import machine, pages_support
from caseops.referrals import service as referrals
from caseops.referrals.schemas import STATUSES
from caseops.ui.clients import _install_template_helpers
from caseops.ui.forms import CATEGORY_LABELS, PURPOSE_LABELS, CheckboxesField, attach_errors, label
from caseops.ui.registry import sharing_reason
from caseops.vocabulary import CATEGORIES, PURPOSES, SERVICES, URGENCIES

bp = Blueprint("referral_pages", __name__)
bp.record_once(_install_template_helpers)

STATUS_LABELS = {
    "draft": "Draft",
    "requested": "Requested",
    "accepted": "Accepted",
    "in-progress": "In progress",
    "on-hold": "On hold",
    "completed": "Completed",
    "failed": "Failed",
    "rejected": "Rejected",
    "cancelled": "Cancelled",
    "entered-in-error": "Entered in error",
    # what a sender sees of a 42 CFR Part 2 program's own steps without its consent
    "open": "Open",
    "closed": "Closed",
}
# The button that makes each move, and what the move means (the fieldset's legend).
MOVE_LABELS = {
    "requested": ("Send referral", "Send this draft to the receiving agency"),
    "accepted": ("Accept", "Accept the referral"),
    "rejected": ("Reject", "Reject the referral"),
    "cancelled": ("Cancel referral", "Cancel the referral"),
    "in-progress": ("Start work", "Mark the work as in progress"),
    "on-hold": ("Put on hold", "Put the work on hold"),
    "completed": ("Complete", "Complete the referral: close the loop"),
    "failed": ("Mark as failed", "The service could not be provided"),
    "entered-in-error": ("Mark as entered in error", "This referral should never have existed"),
}
RESUME_LABELS = ("Resume work", "Resume the work on hold")
HISTORY_KINDS = {"created": "Created", "moved": "Moved", "assigned": "Assigned"}
URGENCY_LABELS = {"routine": "Routine", "urgent": "Urgent"}
# Why a category cannot go with the referral (the gate's reasons; the consent ones read as
# on the sharing matrix).
GATE_REASONS = {
    "no_consent": "no consent on file covers it",
    "recipient_not_named": "the consent does not name this agency (“any agency” is not enough "
    "for a referral)",
}
FILTERS = ["open", "closed", *STATUSES]
TARGET_FIELDS = frozenset({"to_agency", "service", "purpose"})
OPTIONAL_REASON = frozenset({"entered-in-error"})


def gate_reason(code: str) -> str:
    return GATE_REASONS.get(code) or sharing_reason(code)


@bp.app_context_processor
def referral_labels() -> dict[str, object]:
    return {
        "referral_status_labels": STATUS_LABELS,
        "urgency_labels": URGENCY_LABELS,
        "history_kinds": HISTORY_KINDS,
        "service_labels": {code: display for code, (display, _) in SERVICES.items()},
    }


# --- forms ------------------------------------------------------------------------------


def _choices(codes, labels) -> list[SelectChoice]:
    return [SelectChoice(code, label(labels, code)) for code in codes]


SERVICE_CHOICES = [SelectChoice(code, display) for code, (display, _) in SERVICES.items()]


class ReferTargetForm(FlaskForm):
    """Step one (a GET: nothing changes): to whom, for what, and why."""

    class Meta:
        csrf = False

    to_agency = SelectField("Refer to agency", validators=[DataRequired()])
    service = SelectField("Service requested", choices=SERVICE_CHOICES)
    purpose = SelectField(
        "Purpose", choices=_choices(PURPOSES, PURPOSE_LABELS), default="care_coordination"
    )


class ReferForm(FlaskForm):
    """Step two: what to share, and the referral's words. The target comes from step one."""

    to_agency = HiddenField(validators=[DataRequired()])
    service = HiddenField(validators=[DataRequired()])
    purpose = HiddenField(validators=[DataRequired()])
    shared_categories = CheckboxesField(
        "Share with the referral", choices=_choices(CATEGORIES, CATEGORY_LABELS)
    )
    service_text = StringField(
        "Service, in your words (optional)", validators=[Optional(), Length(max=500)]
    )
    note = TextAreaField("Note to the receiving agency", validators=[Optional(), Length(max=4000)])
    urgency = RadioField("Urgency", choices=_choices(URGENCIES, URGENCY_LABELS), default="routine")
    due_on = DateField("Due by (optional)", validators=[Optional()])


class MoveForm(FlaskForm):
    """One move of the referral (the page has one per allowed move, kept apart by prefix)."""

    reason = TextAreaField("Reason", validators=[Optional(), Length(max=2000)])
    outcome = TextAreaField("Outcome: what was provided", validators=[Optional(), Length(max=2000)])


class AssignForm(FlaskForm):
    username = SelectField("Assign to")


class ListFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField(
        "Status",
        choices=[SelectChoice("", "Any status"), *_choices(FILTERS, STATUS_LABELS)],
        validators=[Optional()],
    )


# --- lists ------------------------------------------------------------------------------


def _list_page(direction: str):
    form = ListFilterForm(formdata=request.args)
    errors: dict[str, list[str]] = {}
    status = None
    if request.args.get("status"):
        if form.validate():
            status = form.status.data
        else:
            errors = {"status": [f"One of: {', '.join(FILTERS)}."]}
    listed = pages_support.list_referrals(current_actor(), direction, status)
    return render_template(
        "referrals/list.html",
        direction=direction,
        referrals=listed,
        form=form,
        status=status,
        errors=errors,
    ), (422 if errors else 200)


@bp.get("/referrals/incoming")
def incoming_page():
    return _list_page("incoming")


@bp.get("/referrals/outgoing")
def outgoing_page():
    return _list_page("outgoing")


# --- one referral -----------------------------------------------------------------------


def _move_form(status: str, *, submitted: bool = False) -> MoveForm:
    if submitted:
        return MoveForm(prefix=f"move-{status}")
    return MoveForm(formdata=None, prefix=f"move-{status}")


def _move_labels(described: dict[str, Any]) -> dict[str, tuple[str, str]]:
    labels = dict(MOVE_LABELS)
    if described["status"] == "on-hold":
        labels["in-progress"] = RESUME_LABELS
    return labels


def _render_referral(
    described: dict[str, Any],
    *,
    failed: tuple[str, MoveForm] | None = None,
    assign_form: AssignForm | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
):
    actor = current_actor()
    forms = {to: _move_form(to) for to in described["allowed_moves"]}
    if failed is not None and failed[0] in forms:
        forms[failed[0]] = failed[1]
    if assign_form is None and described["may_assign"]:
        assign_form = AssignForm(formdata=None, username=described["assigned_to"])
    if assign_form is not None:
        assign_form.username.choices = pages_support.assignable_workers(actor)
    return render_template(
        "referrals/referral.html",
        r=described,
        move_forms=forms,
        move_labels=_move_labels(described),
        needs_reason=machine.NEEDS_REASON,
        optional_reason=OPTIONAL_REASON,
        needs_outcome=machine.NEEDS_OUTCOME,
        assign_form=assign_form,
        errors=errors or {},
        opens_client=described["side"] == "sender" or described["access_open"],
    ), status


@bp.get("/referrals/<referral_id>")
def referral_page(referral_id: str):
    return _render_referral(referrals.get(current_actor(), referral_id))


def _flash_done(message: str) -> None:
    flash(message, "info")


@bp.post("/referrals/<referral_id>/moves/<to>")
def move(referral_id: str, to: str):
    actor = current_actor()
    form = _move_form(to, submitted=True)
    if form.validate_on_submit():
        body = {
            "status": to,
            "reason": (form.reason.data or "").strip() or None,
            "outcome": (form.outcome.data or "").strip() or None,
            "assign_to": None,
        }
        try:
            described = referrals.move(actor, referral_id, body)
        except DomainError as error:
            if error.status == 404:
                raise
            unplaced = attach_errors(form, error.details)
            if not error.details or unplaced:
                unplaced = {"_": [error.message, *(m for ms in unplaced.values() for m in ms)]}
            return _render_referral(
                referrals.get(actor, referral_id),
                failed=(to, form),
                errors=unplaced,
                status=error.status,
            )
        _flash_done(f"The referral is now {STATUS_LABELS.get(described['status'], to).lower()}.")
        return redirect(url_for("referral_pages.referral_page", referral_id=referral_id))
    return _render_referral(referrals.get(actor, referral_id), failed=(to, form), status=422)


@bp.post("/referrals/<referral_id>/assign")
def assign(referral_id: str):
    actor = current_actor()
    form = AssignForm()
    form.username.choices = pages_support.assignable_workers(actor)
    if form.validate_on_submit():
        try:
            referrals.assign(actor, referral_id, form.username.data)
        except DomainError as error:
            if error.status == 404:
                raise
            attach_errors(form, error.details)
            return _render_referral(
                referrals.get(actor, referral_id),
                assign_form=form,
                errors={"_": [error.message]},
                status=error.status,
            )
        _flash_done(f"Assigned to {form.username.data}.")
        return redirect(url_for("referral_pages.referral_page", referral_id=referral_id))
    return _render_referral(referrals.get(actor, referral_id), assign_form=form, status=422)


# --- referring a client -----------------------------------------------------------------


def _may_refer(actor, client_id: str) -> None:
    load_client(actor, client_id)  # hidden or unknown: 404 alike, before the role is asked
    if not policy.allowed(actor, "referrals", "create"):
        raise Forbidden("Your role does not refer clients.")


def _target_form(actor, data: dict[str, str] | None = None) -> ReferTargetForm:
    """Step one's form: from the query string, or (re-showing a refused step two) ``data``."""
    if data is None:
        form = ReferTargetForm(formdata=request.args if request.args else None)
    else:
        form = ReferTargetForm(formdata=None, data=data)
    form.to_agency.choices = [
        SelectChoice("", "Choose an agency"),
        *[
            SelectChoice(code, f"{name} ({code.upper()})")
            for code, name in pages_support.referral_agencies(actor)
        ],
    ]
    return form


def _preview(actor, client_id: str, target: dict[str, str], form: FlaskForm, errors: dict):
    """The gate's answer before sending, or ``None`` with the reasons put on the form."""
    try:
        return referrals.preview(actor, client_id, **target)
    except ValidationFailed as error:
        errors.update(attach_errors(form, error.details))
        if not error.details:
            errors["_"] = [error.message]
        return None


def _render_refer(client_id: str, target_form, preview, refer_form, errors, status=200):
    return render_template(
        "referrals/refer.html",
        client_id=client_id,
        target_form=target_form,
        preview=preview,
        form=refer_form,
        errors=errors,
        gate_reason=gate_reason,
    ), status


@bp.get("/clients/<client_id>/refer")
def refer_page(client_id: str):
    actor = current_actor()
    _may_refer(actor, client_id)
    target_form = _target_form(actor)
    errors: dict[str, list[str]] = {}
    preview = None
    refer_form = None
    if request.args.get("to_agency"):
        target = {
            "to_agency": request.args["to_agency"],
            "service": request.args.get("service", ""),
            "purpose": request.args.get("purpose") or "care_coordination",
        }
        if target_form.validate():
            preview = _preview(actor, client_id, target, target_form, errors)
        if preview is not None:
            refer_form = ReferForm(formdata=None, **target)
            refer_form.shared_categories.data = []
    status = 422 if errors or target_form.errors else 200
    return _render_refer(client_id, target_form, preview, refer_form, errors, status)


@bp.post("/clients/<client_id>/refer")
def refer(client_id: str):
    actor = current_actor()
    _may_refer(actor, client_id)
    form = ReferForm()
    send = request.form.get("action") != "draft"
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        body = {
            "to_agency": form.to_agency.data,
            "to_user": None,
            "service": form.service.data,
            "service_text": (form.service_text.data or "").strip() or None,
            "purpose": form.purpose.data,
            "shared_categories": list(form.shared_categories.data or []),
            "note": (form.note.data or "").strip() or None,
            "urgency": form.urgency.data or "routine",
            "due_on": form.due_on.data,
            "send": send,
        }
        try:
            created = referrals.create(actor, client_id, body)
        except DomainError as error:
            if error.status == 404:
                raise
            # the target's fields are hidden here: their reasons go above the form
            visible = {k: v for k, v in error.details.items() if k not in TARGET_FIELDS}
            errors = attach_errors(form, visible)
            errors |= {k: v for k, v in error.details.items() if k in TARGET_FIELDS}
            if not error.details or error.code == "consent_required":
                errors = {"_": [error.message], **errors}
            status = error.status
        else:
            flash(
                "Referral sent." if send else "Draft saved: send it from its page when ready.",
                "info",
            )
            return redirect(url_for("referral_pages.referral_page", referral_id=created["id"]))
    else:
        status = 422
        if any(form[name].errors for name in TARGET_FIELDS):
            errors = {"_": ["Choose the agency, service and purpose first."]}
    target = {
        "to_agency": form.to_agency.data,
        "service": form.service.data,
        "purpose": form.purpose.data,
    }
    target_form = _target_form(actor, target)
    preview = None
    if target["to_agency"] and target["service"] in SERVICES and target["purpose"] in PURPOSES:
        preview = _preview(actor, client_id, target, target_form, errors)
    return _render_refer(client_id, target_form, preview, form, errors, status)
