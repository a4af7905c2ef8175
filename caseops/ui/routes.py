"""The UI shell: the home page and the per-persona navigation in every template."""

from __future__ import annotations

from flask import Blueprint, g, render_template

from caseops.agencies import service as agencies
from caseops.audit import part2_list, trail
from caseops.auth.forms import LogoutForm
from caseops.matching import review
from caseops.ui.navigation import navigation_for

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


@bp.get("/")
def home():
    """Each persona's start; a privacy officer's shows the last verification of the log."""
    actor = g.get("actor")
    verification = trail.last_verification(actor) if actor is not None else None
    # A consent officer's patients' written requests for the 42 CFR 2.24 list, due first.
    part2_requests = part2_list.open_requests(actor) if actor is not None else []
    agency_facts = actor is not None and agencies.may_read_fact_changes(actor)
    # A data steward's open pairs in their scope (counted, nobody decrypted).
    review_size = review.queue_size(actor) if actor is not None else 0
    return render_template(
        "home.html",
        verification=verification,
        part2_requests=part2_requests,
        agency_facts=agency_facts,
        review_size=review_size,
    )
