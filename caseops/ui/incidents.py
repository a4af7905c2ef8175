"""The privacy officer's incident pages: open an incident, its timeline with the actions
(contain, scope, notify, close), the affected clients, and the printable notification
letters (one per affected client and source agency).

The services in ``caseops.incidents`` authorize, compute and log; these views only parse,
call and render. The letters carry placeholders for the client's name and address: each
agency fills them from its own system (a privacy officer reads no record contents).
"""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from caseops.auth.current import current_actor
from caseops.errors import DomainError
from caseops.incidents import service
from caseops.incidents.models import KINDS
from caseops.ui.clients import _install_template_helpers

bp = Blueprint("incident_pages", __name__, url_prefix="/incidents")
bp.record_once(_install_template_helpers)
MOMENT = "%Y-%m-%dT%H:%M"


class OpenForm(FlaskForm):
    kind = SelectField("Kind", choices=[SelectChoice(k, k.replace("_", " ")) for k in KINDS])
    summary = TextAreaField("What is known", validators=[DataRequired(), Length(min=5, max=4000)])
    accounts = StringField("Accounts (user names, comma-separated)", validators=[Optional()])
    token_ids = StringField("Token ids (comma-separated)", validators=[Optional()])
    agencies = StringField("Agencies involved (codes, comma-separated)", validators=[Optional()])
    window_start = DateTimeLocalField("From (UTC)", format=MOMENT, validators=[DataRequired()])
    window_end = DateTimeLocalField("Until (UTC)", format=MOMENT, validators=[DataRequired()])
    discovered_at = DateTimeLocalField("Discovered (UTC)", format=MOMENT, validators=[Optional()])


class ReasonForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(min=5, max=2000)])


def _words(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _utc(moment):
    return None if moment is None else moment.replace(tzinfo=UTC)


def _flash_error(error: DomainError) -> None:
    flash(error.message, "error")
    for field, reasons in error.details.items():
        for reason in reasons:
            flash(f"{field}: {reason}", "error")


@bp.route("", methods=["GET", "POST"])
def index():
    actor = current_actor()
    form = OpenForm()
    if form.validate_on_submit():
        try:
            tokens = [int(t) for t in _words(form.token_ids.data)]
        except ValueError:
            flash("Token ids are numbers.", "error")
        else:
            try:
                opened = service.open_incident(
                    actor,
                    {
                        "kind": form.kind.data,
                        "summary": form.summary.data,
                        "accounts": _words(form.accounts.data),
                        "token_ids": tokens,
                        "agencies": _words(form.agencies.data),
                        "window_start": _utc(form.window_start.data),
                        "window_end": _utc(form.window_end.data),
                        "discovered_at": _utc(form.discovered_at.data),
                    },
                )
            except DomainError as error:
                _flash_error(error)
            else:
                flash(f"Opened incident #{opened['id']}.", "info")
                return redirect(url_for(".timeline_page", incident_id=opened["id"]))
    elif form.is_submitted():
        for field, reasons in form.errors.items():
            for reason in reasons:
                flash(f"{getattr(form, field).label.text}: {reason}", "error")
    items = service.list_incidents(actor)
    return render_template("incidents/index.html", items=items, form=form)


@bp.get("/<int:incident_id>")
def timeline_page(incident_id: int):
    incident = service.get_incident(current_actor(), incident_id)
    return render_template(
        "incidents/timeline.html",
        incident=incident,
        form=ReasonForm(formdata=None),
        csv_url=url_for("incidents.timeline", incident_id=incident_id, format="csv"),
    )


def _act(incident_id: int, verb: str, call, needs_reason: bool = True):
    form = ReasonForm()
    if needs_reason and not form.validate_on_submit():
        flash("Write a reason of at least 5 characters.", "error")
    elif not needs_reason and not form.is_submitted():
        flash("Nothing was sent.", "error")
    else:
        try:
            call(form.reason.data)
        except DomainError as error:
            _flash_error(error)
        else:
            flash(f"Incident #{incident_id}: {verb}.", "info")
    return redirect(url_for(".timeline_page", incident_id=incident_id))


@bp.post("/<int:incident_id>/contain")
def contain(incident_id: int):
    return _act(
        incident_id,
        "contained",
        lambda reason: service.contain(current_actor(), incident_id, reason),
    )


@bp.post("/<int:incident_id>/close")
def close(incident_id: int):
    return _act(
        incident_id, "closed", lambda reason: service.close(current_actor(), incident_id, reason)
    )


@bp.post("/<int:incident_id>/notifications")
def notify(incident_id: int):
    response = _act(
        incident_id,
        "notification records made",
        lambda _reason: service.notify(current_actor(), incident_id),
        needs_reason=False,
    )
    return response


@bp.get("/<int:incident_id>/scope")
def scope_page(incident_id: int):
    result = service.compute_scope(current_actor(), incident_id)
    return render_template("incidents/scope.html", incident_id=incident_id, result=result)


@bp.get("/<int:incident_id>/letters")
def letters_page(incident_id: int):
    result = service.notifications(current_actor(), incident_id)
    return render_template(
        "incidents/letters.html",
        incident_id=incident_id,
        result=result,
        csv_url=url_for("incidents.notifications_csv", incident_id=incident_id),
    )
