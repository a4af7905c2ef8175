"""The client's own pages (``/my``) and the consent officer's access-code pages.

The client's session is not the staff session. It lives in its own cookie
(``caseops_my``: HttpOnly, Secure, SameSite=Strict, ``Path=/my``) holding a random token
whose SHA-256 names a ``client_portal_sessions`` row. Staff authentication
(``caseops.auth.current``) never reads that cookie, and the browser never sends it
outside ``/my``, so a client session cannot reach any ``/api/v1`` endpoint or staff page;
and the ``/my`` views never read the staff session, so a worker signed in in the same
browser gains nothing here either. The pages are ``@public`` to the staff login and check
the client session themselves. Forms carry flask-wtf's CSRF token (checked for every
POST by ``caseops.auth.current``). Every page takes the client from the session: no
client id ever appears in a ``/my`` URL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_wtf import FlaskForm
from wtforms import DateField, StringField
from wtforms.validators import DataRequired, Length

import consent
from caseops.auth.current import current_actor, public
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import limiter
from caseops.portal import service, words
from caseops.portal.service import ClientPrincipal
from caseops.vocabulary import SERVICES

bp = Blueprint("my", __name__, template_folder="templates")
STATIC = Path(__file__).parent / "static"
staff_bp = Blueprint("access_code_pages", __name__, template_folder="templates")

COOKIE = "caseops_my"
COOKIE_PATH = "/my"


class SignInForm(FlaskForm):
    code = StringField("Access code", validators=[DataRequired(), Length(max=64)])
    birth_date = DateField("Your birth date", validators=[DataRequired()])


class ConfirmForm(FlaskForm):
    """A CSRF-protected confirmation (revoke, sign out)."""


class IssueForm(FlaskForm):
    """The consent officer's "issue an access code" button."""


# --- time, words -------------------------------------------------------------------------


def _zone() -> tuple[Any, str]:
    """The deployment's time zone (``CASEOPS_TIME_ZONE``) and its label; UTC otherwise."""
    name = current_app.config.get("CASEOPS_TIME_ZONE")
    if name:
        try:
            return ZoneInfo(name), name
        except (KeyError, ValueError):
            pass
    return UTC, "UTC"


@bp.app_template_filter("my_moment")
def my_moment(value: datetime | None) -> str:
    if value is None:
        return ""
    zone, label = _zone()
    return words.moment(value, zone, label)


@bp.app_template_filter("sentence")
def sentence(text: str | None) -> str:
    """The first letter up, the rest as written (Jinja's ``capitalize`` would lower-case
    "3 March" and agency names)."""
    return text[:1].upper() + text[1:] if text else ""


@bp.app_template_filter("my_day")
def my_day(value: datetime | None) -> str:
    zone, _ = _zone()
    return words.day(value, zone)


@bp.get("/my/my.css")
@public
def stylesheet():
    """The pages' own styles: public (a static file holds no data), served under /my."""
    return send_from_directory(STATIC, "my.css", mimetype="text/css")


# --- the client's session ------------------------------------------------------------------


def _principal() -> ClientPrincipal | None:
    if "portal_principal" not in g:
        g.portal_principal = service.resolve(request.cookies.get(COOKIE))
    return g.portal_principal


def client_required(view):
    """The client's own session, or the sign-in page."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        principal = _principal()
        if principal is None:
            return redirect(url_for("my.sign_in"))
        return view(principal, *args, **kwargs)

    return public(wrapper)


def _set_cookie(response: Response, token: str) -> Response:
    response.set_cookie(
        COOKIE,
        token,
        path=COOKIE_PATH,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Strict",
    )
    return response


def _sign_in_limit() -> str:
    return current_app.config["CASEOPS_LOGIN_RATE_LIMIT"]


@bp.route("/my/sign-in", methods=["GET", "POST"])
@public
@limiter.limit(_sign_in_limit, methods=["POST"])
def sign_in():
    if _principal() is not None:
        return redirect(url_for("my.accesses"))
    form = SignInForm()
    if form.validate_on_submit():
        try:
            token = service.sign_in(form.code.data, form.birth_date.data)
        except service.PortalSignInFailed as failure:
            return _render("my/sign_in.html", None, form=form, error=failure.message), 401
        return _set_cookie(redirect(url_for("my.accesses")), token)
    status = 422 if request.method == "POST" else 200
    return _render("my/sign_in.html", None, form=form, error=None), status


@bp.post("/my/sign-out")
@client_required
def sign_out(principal: ClientPrincipal):
    service.sign_out(principal)
    response = redirect(url_for("my.sign_in", signed_out=1))
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


def _render(template: str, principal: ClientPrincipal | None, **context):
    """A client page: ``actor=None`` overrides the staff shell's actor, so base.html shows
    no staff navigation on /my even in a browser where a worker is signed in too."""
    return render_template(
        template,
        actor=None,
        principal=principal,
        signout_form=ConfirmForm() if principal else None,
        zone=_zone()[1],
        **context,
    )


# --- who accessed my record -----------------------------------------------------------------


def _entry_view(entry: dict[str, Any], agencies: dict[str, str]) -> dict[str, Any]:
    """One statement entry as the client reads it."""
    glass = entry.get("break_glass") or None
    review = glass["review"] if glass else None
    days = [
        my_day(_moment(c["signed_at"])) for c in entry.get("consents") or [] if "signed_at" in c
    ]
    shown = []
    for section in entry.get("categories") or []:
        holder, _, category = section.partition("/")
        shown.append(
            {"category": words.category(category), "held_by": words.agency(holder, agencies)}
        )
    return {
        "seq": entry["seq"],
        "when": _moment(entry["occurred_at"]),
        "agency": words.agency(entry.get("agency"), agencies),
        "role": words.role(entry.get("roles") or ()),
        "staff": entry.get("staff"),
        "purpose": words.purpose(entry.get("purpose")),
        "did": words.KINDS.get(entry.get("kind") or "view"),
        "shown": shown,
        "bases": list(
            dict.fromkeys(
                words.basis(
                    code,
                    consent_days=days,
                    through_referral=bool(entry.get("referrals")),
                    review=review,
                )
                for code in entry.get("basis") or []
            )
        ),
        "emergency": glass is not None or entry.get("kind") == "emergency_access",
        "review": words.review_state(review) if glass else None,
    }


@bp.get("/my")
@client_required
def accesses(principal: ClientPrincipal):
    found = service.accesses(principal)
    entries = [_entry_view(e, found["agencies"]) for e in found["entries"]]
    return _render("my/accesses.html", principal, entries=entries, names=found["names"])


# --- the verifiable statement -----------------------------------------------------------------


@bp.get("/my/statement.json")
@client_required
def statement_download(principal: ClientPrincipal):
    statement = service.statement(principal, "download")
    body = json.dumps(statement, indent=2, sort_keys=True, default=str)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="my-access-statement.json"'},
    )


PROOF_WORDS = {
    "proven": "Proven",
    "not_yet_sealed": "Not sealed into the log yet: download again later to prove it",
    "v1_not_proven": "Older entry: listed, not proven",
}


@bp.get("/my/statement")
@client_required
def statement_print(principal: ClientPrincipal):
    statement = service.statement(principal, "print")
    agencies = service.agency_names()
    rows = [
        {"view": _entry_view(entry, agencies), "proof": PROOF_WORDS.get(entry["proof_status"], "")}
        for entry in statement.get("entries") or []
    ]
    return render_template(
        "my/statement.html",
        statement=statement,
        rows=rows,
        zone=_zone()[1],
        checkpoint_text=json.dumps(statement.get("checkpoint"), indent=2, default=str),
        key_text=json.dumps(statement.get("public_key"), indent=2, default=str),
    )


# --- my consents ------------------------------------------------------------------------------


def _moment(value: datetime | str | None) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _consent_view(c: dict[str, Any], agencies: dict[str, str]) -> dict[str, Any]:
    def named(codes):
        return words.listing(
            "any agency" if code == consent.ANY else words.agency(code, agencies) for code in codes
        )

    return {
        "id": c["id"],
        "permit": c["provision"] == "permit",
        "sources": named(c["source_agencies"]),
        "recipients": named(c["recipients"]),
        "categories": words.listing(
            "all kinds of information" if code == consent.ANY else words.category(code)
            for code in c["categories"]
        ),
        "purposes": words.listing(
            "any purpose" if code == consent.ANY else words.purpose(code) for code in c["purposes"]
        ),
        "signed_at": c["signed_at"],
        "expires_at": _moment(c["expires_at"]),
        "status": words.CONSENT_STATUS.get(c["status"], c["status"]),
        "revoked_at": c["revocation"].revoked_at if c["revocation"] else None,
        "revocable": service.revocable(c),
    }


@bp.get("/my/consents")
@client_required
def consents(principal: ClientPrincipal):
    found = service.my_consents(principal)
    views = [_consent_view(c, found["agencies"]) for c in found["consents"]]
    return _render(
        "my/consents.html",
        principal,
        in_force=[v for v in views if v["revocable"] or v["status"] == "not yet in force"],
        others=[v for v in views if not (v["revocable"] or v["status"] == "not yet in force")],
    )


@bp.route("/my/consents/<consent_id>/revoke", methods=["GET", "POST"])
@client_required
def revoke(principal: ClientPrincipal, consent_id: str):
    """A confirmation step, then the revocation (POST with the CSRF token)."""
    described = service.consent_for_revocation(principal, consent_id)
    view = _consent_view(described, service.agency_names())
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            flash("The form expired; please confirm again.", "error")
            return redirect(url_for("my.revoke", consent_id=consent_id))
        try:
            revocation = service.revoke_my_consent(principal, consent_id)
        except Conflict as error:
            flash(error.message, "error")
            return redirect(url_for("my.consents"))
        flash(
            f"You revoked this consent on {my_moment(revocation.revoked_at)}. From now on, "
            "no agency shares information under it. The agencies it names are told.",
            "info",
        )
        return redirect(url_for("my.consents"))
    if not view["revocable"]:
        flash("This consent is not in force, so there is nothing to revoke.", "error")
        return redirect(url_for("my.consents"))
    return _render("my/revoke.html", principal, consent=view, form=form)


# --- my referrals -----------------------------------------------------------------------------


@bp.get("/my/referrals")
@client_required
def referrals(principal: ClientPrincipal):
    agencies = service.agency_names()
    rows = [
        {
            "service": SERVICES.get(r["service_code"], (r["service_code"], ""))[0],
            "from": words.agency(r["from_agency"], agencies),
            "to": words.agency(r["to_agency"], agencies),
            "status": words.REFERRAL_STATUS.get(r["status"], r["status"]),
            "created_at": r["created_at"],
            "changed_at": r["changed_at"],
        }
        for r in service.my_referrals(principal)
    ]
    return _render("my/referrals.html", principal, referrals=rows)


# --- the consent officer: issue a code, print it once -----------------------------------------


@staff_bp.route("/clients/<client_id>/access-codes", methods=["GET", "POST"])
def access_codes_page(client_id: str):
    actor = current_actor()
    form = IssueForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            issued = service.issue_code(actor, client_id)
        except ValidationFailed as error:  # pragma: no cover - no body on this form
            flash(error.message, "error")
            return redirect(url_for("access_code_pages.access_codes_page", client_id=client_id))
        return render_template(
            "access_codes/issued.html",
            client_id=client_id,
            issued=issued,
            sign_in_url=url_for("my.sign_in", _external=True),
        )
    codes = service.list_codes(actor, client_id)
    return render_template(
        "access_codes/list.html",
        client_id=client_id,
        codes=codes,
        form=form,
        revoke_form=IssueForm(),
    )


@staff_bp.post("/access-codes/<code_id>/revoke")
def revoke_code_page(code_id: str):
    if not IssueForm().validate_on_submit():
        raise NotFound(f"No access code {code_id!r}.")
    try:
        row = service.revoke_code(current_actor(), code_id)
    except Conflict as error:
        flash(error.message, "error")
        return redirect(url_for("ui.home"))
    flash(f"Access code {code_id} revoked: it no longer opens the client's pages.", "info")
    return redirect(url_for("access_code_pages.access_codes_page", client_id=row["client_id"]))
