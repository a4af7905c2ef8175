"""Pages for case workers and supervisors: find a client, read the consented record,
join the care team, break the glass.

Every read goes through the services (``clients.service.search`` and
``access.service.view_record``), which decide and write the access log; these views
only parse, call and render.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from caseops.access import service as access
from caseops.auth.current import current_actor
from caseops.authz import policy
from caseops.authz.permissions import load_client
from caseops.clients import service as clients
from caseops.desk import service as desk
from caseops.errors import DomainError, Forbidden, ValidationFailed
from caseops.ui import display, task_forms
from caseops.ui.display import when
from caseops.ui.forms import (
    CATEGORY_LABELS,
    PURPOSE_LABELS,
    ActionForm,
    BreakGlassForm,
    PurposeForm,
    SearchForm,
    attach_errors,
    label,
)
from caseops.vocabulary import PURPOSES

bp = Blueprint("client_pages", __name__)

DEFAULT_PURPOSE = "care_coordination"
DEFAULT_POLL_SECONDS = 20

# Every reason code a withheld section can carry: what it means, and what the worker can do.
WITHHELD_REASONS: dict[str, tuple[str, str]] = {
    "no_consent": (
        "No consent on file lets this agency share this kind of information with your agency.",
        "Ask a consent officer for a consent naming your agency for this category.",
    ),
    "consent_revoked": (
        "The client revoked the consent that covered this section; the revocation took effect "
        "immediately.",
        "Respect the client's decision. If the client wants to share again, a consent officer "
        "can record a new consent (the consent history shows when it was revoked).",
    ),
    "consent_expired": (
        "The consent that covered this section has expired.",
        "Ask a consent officer to record a renewed consent with the client.",
    ),
    "consent_not_yet_effective": (
        "A consent covers this section but has not taken effect yet.",
        "It will be shown from the consent's effective date; a consent officer can tell you "
        "when that is.",
    ),
    "consent_not_attested": (
        "A consent covers this section, but it was recorded by another agency and the agency "
        "that holds this record has not attested it yet: an agency speaks only for its own data.",
        "Ask a consent officer of the agency that holds this record to attest the consent; it "
        "waits in their attestation queue.",
    ),
    "consent_denied": (
        "The client has refused to share this information with your agency.",
        "Respect the client's choice. Only the client can change it, through a consent officer.",
    ),
    "part2_recipient_not_named": (
        "Substance-use treatment records (42 CFR Part 2) are shared only under a consent that "
        'names your agency explicitly; the consent on file does not ("any agency" is not '
        "enough).",
        "Ask a consent officer for a Part 2 consent that names your agency.",
    ),
    "part2_purpose_not_named": (
        "The 42 CFR Part 2 consent on file does not name the purpose you chose.",
        "Choose the purpose the consent names, or ask a consent officer for a consent that "
        "names this purpose.",
    ),
    "part2_no_expiry": (
        "The 42 CFR Part 2 consent on file has no expiry date or event, so it cannot be relied on.",
        "Ask a consent officer to record a Part 2 consent with an expiry date or event.",
    ),
    "part2_source_not_named": (
        "The 42 CFR Part 2 consent on file does not name the program that holds this record.",
        "Ask a consent officer for a consent that names this program as the source.",
    ),
    "part2_information_not_named": (
        "The 42 CFR Part 2 consent on file does not describe this kind of information.",
        "Ask a consent officer for a consent that names substance-use information explicitly.",
    ),
    # 42 CFR Part 2 as amended in 2024: the general designation (docs/part2-2024.md)
    "part2_intermediary_not_named": (
        "The 42 CFR Part 2 consent on file designates its recipients generally, but does not "
        "name this service as the intermediary it goes through.",
        "Ask a consent officer for a consent that names this service as the intermediary, or "
        "names your agency.",
    ),
    "part2_not_treating_provider": (
        "The 42 CFR Part 2 consent on file reaches only treating providers, and your agency "
        "is not recorded as one.",
        "If your agency delivers care to this client, ask a system administrator to record "
        "it as a treating provider.",
    ),
    "part2_no_treating_relationship": (
        "The 42 CFR Part 2 consent on file reaches only participants who have a treating "
        "provider relationship with the client now, and you have none.",
        "Join the client's care team, or work with them through an accepted treatment referral.",
    ),
    "part2_purpose_not_tpo": (
        "The 42 CFR Part 2 consent on file is for treatment, payment and health care "
        "operations only.",
        "Choose treatment, payment or operations if that is what you are doing.",
    ),
    "part2_hipaa_statement_missing": (
        "Your agency is a HIPAA covered entity or business associate, and the 42 CFR Part 2 "
        "consent on file lacks the statement that the record may be redisclosed under HIPAA.",
        "Ask a consent officer for a consent that carries the HIPAA redisclosure statement.",
    ),
    "ferpa_signer_invalid": (
        "Education records (FERPA) need a consent signed by a parent or guardian while the "
        "student is under 18, and by the student from 18 on; the consent on file was signed by "
        "someone else.",
        "Ask a consent officer for a consent signed by the person who holds the FERPA rights.",
    ),
    "ferpa_signer_unverifiable": (
        "The client's birth date is not on file, so it cannot be checked who had to sign the "
        "education-records (FERPA) consent.",
        "Ask a consent officer to review the consent; the birth date must be recorded first.",
    ),
    "policy": (
        "Your role does not read this category.",
        "If your work needs it, ask your agency administrator about your role.",
    ),
    "no_agreement": (
        "Your agency has no data sharing agreement in force with {agency} that covers "
        "this category for this purpose.",
        "Ask your agency administrator about a data sharing agreement with {agency}.",
    ),
    "no_relationship": (
        "You are not on this client's care team.",
        "Join the care team if you work with this client.",
    ),
}


def withheld_reason(code: str | None, agency: str | None = None) -> tuple[str, str]:
    """Plain words for a withheld section's reason, and what to do; ``agency`` (the
    section's source) fills in the reasons that name it (``no_agreement``)."""
    why, todo = WITHHELD_REASONS.get(
        code or "",
        (f"Withheld ({code}).", "Ask a consent officer or your supervisor why."),
    )
    name = agency.upper() if agency else "the other agency"
    return why.replace("{agency}", name), todo.replace("{agency}", name)


# --- template helpers shared by the client, consent and linkage pages --------------------


def category_phrase(code: str) -> str:
    """A category as it reads inside a sentence: "substance use (42 CFR Part 2)"."""
    head, sep, tail = label(CATEGORY_LABELS, code).partition(" (")
    return head.lower() + sep + tail


def field_label(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


def present_items(data: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """The fields that carry a value, in the agency's order."""
    return [(k, v) for k, v in (data or {}).items() if v not in (None, "", [], {})]


def is_mapping(value: Any) -> bool:
    return isinstance(value, dict)


def is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def field_attrs(field, hint: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    """HTML attributes tying an input to its hint and errors (for screen readers)."""
    attrs = dict(extra)
    described = ([f"{field.id}-hint"] if hint else []) + (
        [f"{field.id}-errors"] if field.errors else []
    )
    if described:
        attrs["aria-describedby"] = " ".join(described)
    if field.errors:
        attrs["aria-invalid"] = "true"
    return attrs


def _install_template_helpers(state) -> None:
    app = state.app
    app.add_template_global(field_attrs, "field_attrs")
    display.install(app)  # when, time_tag, agency_name, agency_tag (caseops.ui.display)
    app.add_template_filter(field_label, "field_label")
    app.add_template_filter(present_items, "present_items")
    app.add_template_filter(lambda code: label(CATEGORY_LABELS, code), "category_label")
    app.add_template_filter(lambda code: label(PURPOSE_LABELS, code), "purpose_label")
    app.add_template_filter(category_phrase, "category_phrase")
    app.add_template_test(is_mapping, "mapping_value")
    app.add_template_test(is_list, "list_value")


bp.record_once(_install_template_helpers)


# --- pages ----------------------------------------------------------------------------


def _is_worker(actor) -> bool:
    return bool(actor.roles & access.WORKER_ROLES)


def _reads_consents(actor) -> bool:
    return policy.allowed(actor, "consents", "read")


def _purpose() -> str:
    purpose = request.values.get("purpose") or DEFAULT_PURPOSE
    return purpose if purpose in PURPOSES else DEFAULT_PURPOSE


@bp.get("/clients")
def search_page():
    actor = current_actor()
    if not policy.allowed(actor, "clients", "search"):
        raise Forbidden("Your role does not search clients.")
    form = SearchForm(formdata=request.args)
    results = None
    errors: dict[str, list[str]] = {}
    searched = bool(request.args.get("q") or request.args.get("birth_date"))
    if searched and form.validate():
        try:
            results = clients.search(actor, form.q.data, form.birth_date.data)
        except ValidationFailed as error:
            errors = attach_errors(form, error.details)
            if not error.details:
                errors = {"_": [error.message]}
    return render_template(
        "clients/search.html",
        form=form,
        results=results,
        errors=errors,
        opens_record=_is_worker(actor),
        opens_consents=_reads_consents(actor),
    )


@bp.get("/clients/<client_id>")
def client_page(client_id: str):
    actor = current_actor()
    purpose = _purpose()
    view = access.view_record(actor, client_id, purpose)
    # the client's name and birth date, as search shows them (the view above has decided,
    # and logged, that the worker knows the client)
    person = desk.minimal_demographics(actor, [client_id]).get(client_id)
    purpose_form = PurposeForm(formdata=None, purpose=purpose)
    reasons = {s.get("reason") for s in view["sections"] if s["status"] == "withheld"}
    return render_template(
        "clients/client.html",
        view=view,
        person=person,
        client_id=client_id,
        purpose=purpose,
        purpose_form=purpose_form,
        action_form=ActionForm(),
        # Sections carrying the long Part 2 notice span the page: put them last.
        shown=sorted(
            (s for s in view["sections"] if s["status"] == "shown"),
            key=lambda s: bool(s.get("notice")),
        ),
        withheld=[s for s in view["sections"] if s["status"] != "shown"],
        explain=withheld_reason,
        offer_care_team="no_relationship" in reasons or not view["sections"],
        may_break_glass=policy.allowed(actor, "client", "break_glass"),
        may_refer=policy.allowed(actor, "referrals", "create"),
        fingerprint_url=url_for("access.view_fingerprint", client_id=client_id, purpose=purpose),
        poll_seconds=current_app.config.get("CASEOPS_UI_POLL_SECONDS", DEFAULT_POLL_SECONDS),
        # the agency's tasks on the client, the note and task forms (issue 18)
        **task_forms.client_panels(actor, client_id),
    )


def _flash_error(error: DomainError) -> None:
    flash(error.message, "error")
    for reasons in error.details.values():
        for reason in reasons:
            flash(reason, "error")


@bp.post("/clients/<client_id>/care-team")
def join_care_team(client_id: str):
    actor = current_actor()
    purpose = _purpose()
    if ActionForm().validate_on_submit():
        try:
            access.add_care_team_member(actor, client_id, actor.username, None)
        except DomainError as error:
            _flash_error(error)
        else:
            flash("You joined this client's care team.", "info")
    return redirect(url_for("client_pages.client_page", client_id=client_id, purpose=purpose))


@bp.route("/clients/<client_id>/break-glass", methods=["GET", "POST"])
def break_glass_page(client_id: str):
    actor = current_actor()
    load_client(actor, client_id)  # hidden or unknown: 404 alike, before the role is asked
    if not policy.allowed(actor, "client", "break_glass"):
        raise Forbidden("Your role may not break the glass.")
    form = BreakGlassForm()
    if request.method == "GET":
        form.purpose.data = request.args.get("purpose") or "emergency"
        if form.purpose.data not in PURPOSES:
            form.purpose.data = "emergency"
    errors: dict[str, list[str]] = {}
    status = 200
    if form.validate_on_submit():
        try:
            grant = access.break_glass(
                actor, client_id, form.justification.data, form.purpose.data, form.minutes.data
            )
        except ValidationFailed as error:
            status = error.status
            errors = attach_errors(form, error.details)
            if not error.details:
                errors = {"_": [error.message]}
        else:
            flash(
                f"Break-the-glass access granted until {when(grant.expires_at)}. "
                "It is flagged for review by a privacy officer.",
                "info",
            )
            return redirect(
                url_for("client_pages.client_page", client_id=client_id, purpose=grant.purpose)
            )
    elif request.method == "POST":
        status = 422
    return (
        render_template(
            "clients/break_glass.html",
            form=form,
            client_id=client_id,
            errors=errors,
            min_length=access.MIN_JUSTIFICATION,
        ),
        status,
    )
