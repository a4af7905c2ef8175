"""The UI shell: the home page and the per-persona navigation in every template."""

from __future__ import annotations

from flask import Blueprint, g, render_template

from caseops.auth.forms import LogoutForm
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
    return render_template("home.html")
