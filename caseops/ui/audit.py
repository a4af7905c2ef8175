"""The privacy officer's pages: who viewed a client, the accounting of disclosures, the
break-the-glass review queue, access volume with anomaly flags, and log verification.

The services in ``caseops.audit`` authorize, query and write the access log; these
views only parse, call and render. Nothing here shows record contents: only who saw
which sections (``agency/category``), when and why.

Each page shows what the same service returns to the API, so an officer of one agency
sees their agency's part of the log here too; every page says which part it shows
("Your agency: X" or "Organisation-wide", ``caseops.audit.scope``).
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from caseops.audit import activity as activity_service
from caseops.audit import break_glass, disclosures, statement, trail
from caseops.audit.scope import AuditScope
from caseops.auth.current import current_actor
from caseops.errors import DomainError, NotFound
from caseops.ui.clients import _install_template_helpers

bp = Blueprint("audit_pages", __name__, url_prefix="/audit")
bp.record_once(_install_template_helpers)

BAR_WIDTH = 240  # px of the longest bar in the volume chart
EVENT_PAGE = 100


class ClientLookupForm(FlaskForm):
    """A GET form: nothing changes, so no CSRF token."""

    class Meta:
        csrf = False

    client_id = StringField("Client id", validators=[DataRequired(), Length(max=64)])


class PeriodForm(FlaskForm):
    class Meta:
        csrf = False

    since = DateField("From (UTC date)", validators=[Optional()])
    until = DateField("Until (UTC date, exclusive)", validators=[Optional()])

    def bounds(self):
        def at(day):
            return None if day is None else datetime.combine(day, time(), tzinfo=UTC)

        return at(self.since.data), at(self.until.data)


class ReviewForm(FlaskForm):
    note = TextAreaField(
        "Note (why you acknowledge or escalate)", validators=[DataRequired(), Length(max=2000)]
    )


class VerifyForm(FlaskForm):
    """A CSRF-protected "verify now" button."""


def _flash_error(error: DomainError) -> None:
    flash(error.message, "error")
    for reasons in error.details.values():
        for reason in reasons:
            flash(reason, "error")


def _label(scope: dict[str, Any]) -> str:
    return AuditScope(None if scope["organisation"] else scope["agency"]).label


@bp.get("/")
def index():
    """Who viewed a client: every log entry about the client id (in the officer's scope),
    newest first."""
    actor = current_actor()
    scope = trail.authorize(actor, "read", "page")
    form = ClientLookupForm(formdata=request.args)
    events = None
    if request.args.get("client_id") and form.validate():
        page = trail.search_events(
            actor, trail.EventFilters(client_id=form.client_id.data.strip()), limit=EVENT_PAGE
        )
        events = page["items"]
    return render_template("audit/index.html", form=form, events=events, scope_label=scope.label)


@bp.get("/clients/<client_id>/disclosures")
def disclosures_page(client_id: str):
    actor = current_actor()
    form = PeriodForm(formdata=request.args)
    since, until = form.bounds() if form.validate() else (None, None)
    result = disclosures.accounting(actor, client_id, since=since, until=until)
    query = {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v is not None}
    return render_template(
        "audit/disclosures.html",
        form=form,
        client_id=client_id,
        items=result["items"],
        scope_label=_label(result["scope"]),
        csv_url=url_for("audit_clients.client_disclosures_csv", client_id=client_id, **query),
    )


@bp.get("/clients/<client_id>/access-statement")
def access_statement_page(client_id: str):
    """The printable access statement (privacy and consent officers): the same service as
    the API, with the checkpoint text so the client's advocate can hold the log to it."""
    names = bool(current_app.config.get("CASEOPS_TRANSPARENCY_NAMES"))
    result = statement.access_statement(current_actor(), client_id, names=names)
    return render_template(
        "audit/access_statement.html",
        s=result,
        statuses={
            statement.PROVEN: "proven",
            statement.NOT_YET_SEALED: "not yet provable",
            statement.V1_NOT_PROVEN: "not proven here (older entry)",
        },
        json_url=url_for("audit_clients.client_access_statement", client_id=client_id),
    )


@bp.get("/break-glass")
def break_glass_page():
    actor = current_actor()
    status = request.args.get("status", "open")
    if status not in break_glass.STATUSES:
        status = "open"
    queue = break_glass.queue(actor, status)
    return render_template(
        "audit/break_glass.html",
        queue=queue["items"],
        status=status,
        statuses=break_glass.STATUSES,
        form=ReviewForm(formdata=None),
        decisions=break_glass.REVIEW_DECISIONS,
        scope_label=_label(queue["scope"]),
    )


@bp.post("/break-glass/<int:grant_id>/review")
def review_grant(grant_id: int):
    actor = current_actor()
    form = ReviewForm()
    decision = request.form.get("decision", "")
    if not form.validate_on_submit():
        flash("Write a note of at least 5 characters.", "error")
    else:
        try:
            break_glass.review(actor, grant_id, decision, form.note.data)
        except DomainError as error:
            _flash_error(error)
        else:
            verb = "Acknowledged" if decision == "acknowledge" else "Escalated"
            flash(f"{verb} break-the-glass grant {grant_id}.", "info")
    return redirect(url_for("audit_pages.break_glass_page"))


def _bars(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    top = max((d["views"] for d in days), default=0) or 1
    return [d | {"width": max(1, round(BAR_WIDTH * d["views"] / top))} for d in days]


@bp.get("/activity")
def activity_page():
    actor = current_actor()
    form = PeriodForm(formdata=request.args)
    since, until = form.bounds() if form.validate() else (None, None)
    try:
        report = activity_service.activity(actor, since, until)
    except DomainError as error:
        if error.status == 403:
            raise
        _flash_error(error)
        report = activity_service.activity(actor)
    return render_template(
        "audit/activity.html",
        form=form,
        report=report,
        days=_bars(report["days"]),
        bar_width=BAR_WIDTH,
        scope_label=_label(report["scope"]),
    )


def _checkpoint(actor) -> dict[str, Any] | None:
    try:
        return trail.latest_checkpoint(actor)
    except NotFound:
        return None


@bp.route("/verification", methods=["GET", "POST"])
def verification_page():
    actor = current_actor()
    scope = trail.authorize(actor, "verify", "page")
    form = VerifyForm()
    report = None
    if form.validate_on_submit():
        report = trail.verify_log(actor).as_dict()
    checkpoint = _checkpoint(actor)
    return render_template(
        "audit/verification.html",
        form=form,
        report=report,
        checkpoint=checkpoint,
        scope_label=scope.label,
    )
