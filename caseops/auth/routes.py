"""Browser login: password, then TOTP (enrolment forced on first login), logout."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from caseops.auth import service, totp
from caseops.auth.current import SESSION_KEY, current_actor, current_session_id, public
from caseops.auth.forms import CodeForm, LoginForm
from caseops.db_types import utcnow
from caseops.extensions import db, limiter
from caseops.users.models import User

bp = Blueprint("auth", __name__)
PENDING_KEY = "pending_login"
PENDING_LIFETIME = timedelta(minutes=5)


def _login_limit() -> str:
    return current_app.config["CASEOPS_LOGIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, so the login page cannot be used as an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("ui.home")


def _pending_user() -> User | None:
    pending = session.get(PENDING_KEY)
    if not pending:
        return None
    started = datetime.fromisoformat(pending["at"])
    if utcnow() - started > PENDING_LIFETIME:
        session.pop(PENDING_KEY, None)
        return None
    return db.session.get(User, pending["uid"])


def _complete_login(user_session) -> None:
    """A fresh cookie for a fresh server-side session: no fixation across the login."""
    next_url = session.get(PENDING_KEY, {}).get("next")
    session.clear()
    session[SESSION_KEY] = user_session.id
    session["next"] = next_url


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("ui.home"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = service.check_password(form.username.data, form.password.data)
        except service.LoginFailed as failure:
            flash(failure.message, "error")
            return render_template("auth/login.html", form=form), 401
        session.clear()
        session[PENDING_KEY] = {
            "uid": user.id,
            "at": utcnow().isoformat(),
            "next": _safe_next(request.args.get("next")),
        }
        if user.second_factor_enrolled:
            return redirect(url_for("auth.second_factor"))
        return redirect(url_for("auth.enrol"))
    return render_template("auth/login.html", form=form)


@bp.route("/login/second-factor", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, methods=["POST"])
def second_factor():
    user = _pending_user()
    if user is None or not user.second_factor_enrolled:
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            user_session = service.verify_second_factor(user, form.code.data)
        except service.LoginFailed as failure:
            flash(failure.message, "error")
            return render_template("auth/second_factor.html", form=form), 401
        _complete_login(user_session)
        return redirect(_safe_next(session.pop("next", None)))
    return render_template("auth/second_factor.html", form=form)


@bp.route("/login/enrol", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, methods=["POST"])
def enrol():
    user = _pending_user()
    if user is None or user.second_factor_enrolled:
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            result = service.confirm_enrolment(user, form.code.data)
        except service.LoginFailed as failure:
            flash(failure.message, "error")
            secret = service.begin_enrolment(user)
            return render_template("auth/enrol.html", **_enrol_context(user, secret, form)), 401
        _complete_login(result.session)
        return render_template(
            "auth/recovery_codes.html",
            codes=result.recovery_codes,
            next_url=_safe_next(session.pop("next", None)),
        )
    secret = service.begin_enrolment(user)
    return render_template("auth/enrol.html", **_enrol_context(user, secret, form))


def _enrol_context(user: User, secret: str, form: CodeForm) -> dict[str, object]:
    uri = totp.provisioning_uri(secret, user.username)
    return {"form": form, "secret": secret, "qr": totp.qr_svg_data_uri(uri)}


@bp.post("/logout")
def logout():
    session_id = current_session_id()
    if session_id:
        service.end_session(session_id, "logout", current_actor())
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
