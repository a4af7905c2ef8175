"""The administrators' agreements page: the data sharing agreements their agency is party
to (system administrators: all), recording one, accepting and terminating; and the
"expiring agreements" block of the administrators' and privacy officers' homes.

The services in ``caseops.agreements`` authorize, validate and log; these views parse, call
and render (a refusal or a 422 comes back as a message on the page).
"""

from __future__ import annotations

import base64

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from caseops.agreements import service
from caseops.auth.current import current_actor
from caseops.errors import DomainError
from caseops.ui.clients import _install_template_helpers
from caseops.vocabulary import CATEGORIES, PURPOSES

bp = Blueprint("agreement_pages", __name__, url_prefix="/agreements")
bp.record_once(_install_template_helpers)
HOME_ROLES = frozenset({"system_admin", "agency_admin", "privacy_officer"})


class _Checks(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RecordForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    parties = StringField(
        "Parties (agency codes, comma-separated)", validators=[DataRequired(), Length(max=500)]
    )
    starts_on = DateField("Starts on", validators=[DataRequired()])
    ends_on = DateField("Termination date", validators=[DataRequired()])
    categories = _Checks(
        "Categories shared", choices=[SelectChoice(c, c.replace("_", " ")) for c in CATEGORIES]
    )
    purposes = _Checks("Purposes", choices=[SelectChoice(p, p.replace("_", " ")) for p in PURPOSES])
    document = FileField("Signed document (PDF or image)", validators=[FileRequired()])


class TerminateForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(min=5, max=1000)])


class AcceptForm(FlaskForm):
    pass


def _flash_error(error: DomainError) -> None:
    flash(error.message, "error")
    for field, reasons in error.details.items():
        for reason in reasons:
            flash(f"{field.replace('_', ' ')}: {reason}", "error")


@bp.app_context_processor
def expiring_agreements() -> dict[str, object]:
    """``expiring_agreements()`` for the homes' block: asked only when a page includes it,
    only for the roles that keep agreements; it never refuses (an empty list instead)."""

    def expiring() -> list[dict]:
        actor = g.get("actor")
        if actor is None or not (actor.roles & HOME_ROLES):
            return []
        return service.expiring(actor)

    return {"expiring_agreements": expiring}


@bp.get("")
def index():
    actor = current_actor()
    return render_template(
        "agreements/index.html",
        items=service.list_agreements(actor),
        form=RecordForm(),
        accept_form=AcceptForm(),
        terminate_form=TerminateForm(),
        agency=actor.agency,
        may_sign="agency_admin" in actor.roles,
    )


@bp.post("")
def record():
    actor = current_actor()
    form = RecordForm()
    if not form.validate_on_submit():
        for field, reasons in form.errors.items():
            for reason in reasons:
                flash(f"{field.replace('_', ' ')}: {reason}", "error")
        return redirect(url_for("agreement_pages.index"))
    upload = form.document.data
    body = {
        "title": form.title.data,
        "parties": [p.strip() for p in form.parties.data.split(",") if p.strip()],
        "starts_on": form.starts_on.data,
        "ends_on": form.ends_on.data,
        "share": [{"categories": form.categories.data, "purposes": form.purposes.data}]
        if form.categories.data or form.purposes.data
        else [],
        "trust": [],
        "document": {
            "filename": upload.filename or "agreement",
            "content_type": upload.mimetype,
            "content_base64": base64.b64encode(upload.read()).decode(),
        },
    }
    try:
        created = service.create(actor, body)
    except DomainError as error:
        _flash_error(error)
    else:
        flash(f"Agreement {created['id']} recorded: it waits for every party's acceptance.")
    return redirect(url_for("agreement_pages.index"))


@bp.post("/<agreement_id>/accept")
def accept(agreement_id):
    actor = current_actor()
    if AcceptForm().validate_on_submit():
        try:
            done = service.accept(actor, agreement_id)
        except DomainError as error:
            _flash_error(error)
        else:
            flash(f"Your agency accepted {agreement_id}: it is {done['status']}.")
    return redirect(url_for("agreement_pages.index"))


@bp.post("/<agreement_id>/terminate")
def terminate(agreement_id):
    actor = current_actor()
    form = TerminateForm()
    if not form.validate_on_submit():
        flash("Say why the agreement ends (at least 5 characters).", "error")
        return redirect(url_for("agreement_pages.index"))
    try:
        service.terminate(actor, agreement_id, form.reason.data)
    except DomainError as error:
        _flash_error(error)
    else:
        flash(f"Agreement {agreement_id} terminated: sharing under it stopped now.")
    return redirect(url_for("agreement_pages.index"))
