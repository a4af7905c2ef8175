"""The UI shell: the home page and the per-persona navigation in every template."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from caseops.access import service as access
from caseops.agencies import service as agencies
from caseops.audit import part2_list, trail
from caseops.auth.current import current_actor
from caseops.auth.forms import LogoutForm
from caseops.db_types import utcnow
from caseops.desk import homes
from caseops.errors import DomainError, ValidationFailed
from caseops.matching import review
from caseops.ui import display
from caseops.ui.forms import ActionForm, SearchForm, attach_errors
from caseops.ui.navigation import navigation_for
from caseops.ui.referrals import AssignForm

bp = Blueprint(
    "ui",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/ui",
)

ROLE_LABELS = {
    "system_admin": "System administrator",
    "agency_admin": "Agency administrator",
    "case_worker": "Case worker",
    "supervisor": "Supervisor",
    "consent_officer": "Consent officer",
    "privacy_officer": "Privacy officer",
    "data_steward": "Data steward",
    "integration": "Agency system",
}


@bp.app_context_processor
def shell_context() -> dict[str, object]:
    actor = g.get("actor")
    return {
        "actor": actor,
        "navigation": navigation_for(actor),
        "logout_form": LogoutForm() if actor else None,
        "role_labels": ROLE_LABELS,
    }


def _assign_form(workers: list[str]) -> AssignForm:
    form = AssignForm(formdata=None)
    form.username.choices = workers
    return form


@bp.get("/")
def home():
    """Each persona's start: what needs them now (``caseops.desk.homes``); a privacy
    officer's also shows the last verification of the log and finds clients by name."""
    actor = g.get("actor")
    if actor is None:
        return redirect(url_for("auth.login"))
    search_form = SearchForm(formdata=request.args)
    found, search_errors = None, {}
    asked = bool(request.args.get("q") or request.args.get("birth_date"))
    if "privacy_officer" in actor.roles and asked and search_form.validate():
        try:
            found = homes.search(actor, search_form.q.data, search_form.birth_date.data)
        except ValidationFailed as error:
            search_errors = attach_errors(search_form, error.details) or {"_": [error.message]}
    desk = homes.desk_of(actor)
    verification = trail.last_verification(actor)
    # A consent officer's patients' written requests for the 42 CFR 2.24 list, due first.
    part2_requests = part2_list.open_requests(actor)
    agency_facts = agencies.may_read_fact_changes(actor)
    # A data steward's open pairs in their scope (counted, nobody decrypted).
    review_size = review.queue_size(actor)
    return render_template(
        "home.html",
        verification=verification,
        part2_requests=part2_requests,
        agency_facts=agency_facts,
        review_size=review_size,
        desk=desk,
        search_form=search_form,
        found=found,
        search_errors=search_errors,
        assign_forms={r["id"]: _assign_form(desk.assignable) for r in desk.unassigned or []},
        action_form=ActionForm(),
        today=display.local(utcnow()).date(),
    )


@bp.post("/desk/care-team")
def assign_care_team():
    """A supervisor puts a worker on a client's care team from the home page (the care-team
    service, the same checks and log entry as ``POST /api/v1/clients/{id}/care-team``)."""
    actor = current_actor()
    if ActionForm().validate_on_submit():
        username = request.form.get("username", "")
        try:
            access.add_care_team_member(actor, request.form.get("client_id", ""), username, None)
        except DomainError as error:
            if error.status == 404:
                raise
            flash(error.message, "error")
            for reasons in error.details.values():
                for reason in reasons:
                    flash(reason, "error")
        else:
            flash(f"{username} joined the client's care team.", "info")
    return redirect(url_for("ui.home"))
