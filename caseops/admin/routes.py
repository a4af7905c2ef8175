"""Administration pages. They call the same services as /api/v1, so the same policy applies:
an account the caller may not manage is "not found" here too, exactly like a name nobody
holds (the 404 page, never a redirect that would tell the two apart)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for

from caseops.admin.forms import ActionForm, AgencyForm, RolesForm, UserForm
from caseops.agencies import service as agencies
from caseops.agencies.schemas import AgencyCreateSchema
from caseops.auth.current import current_actor
from caseops.errors import DomainError, NotFound
from caseops.users import service as users
from caseops.users.schemas import UserCreateSchema

bp = Blueprint("admin", __name__, url_prefix="/admin")

USER_ACTIONS = {
    "deactivate": (users.deactivate, "deactivated"),
    "reactivate": (users.reactivate, "reactivated"),
    "reset-second-factor": (users.reset_second_factor, "must enrol a new second factor"),
    "unlock": (users.unlock, "unlocked"),
    "approve": (users.approve, "approved: the pending roles are in force"),
}


def _flash_error(error: DomainError) -> None:
    flash(error.message, "error")
    for field, reasons in error.details.items():
        flash(f"{field}: {' '.join(reasons)}", "error")


@bp.route("/agencies", methods=["GET", "POST"])
def agencies_page():
    actor = current_actor()
    form = AgencyForm()
    if form.validate_on_submit():
        data = {name: form[name].data for name in AgencyCreateSchema().fields}
        try:
            agency = agencies.create_agency(actor, AgencyCreateSchema().load(data))
        except DomainError as error:
            _flash_error(error)
        else:
            flash(f"Agency {agency.code} created.", "info")
            return redirect(url_for("admin.agencies_page"))
    return render_template("admin/agencies.html", agencies=agencies.list_agencies(actor), form=form)


@bp.route("/users", methods=["GET", "POST"])
def users_page():
    actor = current_actor()
    listed = users.list_users(actor)
    form = UserForm()
    form.agency.choices = sorted({u.agency.code for u in listed} | {actor.agency})
    if "system_admin" in actor.roles:
        form.agency.choices = [a.code for a in agencies.list_agencies(actor)]
    if form.validate_on_submit():
        data = {
            "username": form.username.data,
            "agency": form.agency.data,
            "roles": form.roles.data,
            "password": form.password.data or None,
            "email": form.email.data or None,
            "display_name": form.display_name.data or None,
        }
        try:
            created = users.create_user(actor, UserCreateSchema().load(data))
        except DomainError as error:
            _flash_error(error)
        else:
            message = f"User {created.user.username} created."
            if created.initial_password:
                message += f" Initial password (shown once): {created.initial_password}"
            flash(message, "info")
            return redirect(url_for("admin.user_page", username=created.user.username))
    return render_template("admin/users.html", users=[users.describe(u) for u in listed], form=form)


@bp.route("/users/<username>", methods=["GET", "POST"])
def user_page(username: str):
    actor = current_actor()
    user = users.view_user(actor, username)
    roles_form = RolesForm(prefix="roles")
    if roles_form.validate_on_submit():
        try:
            users.change_roles(actor, username, roles_form.roles.data)
        except DomainError as error:
            _flash_error(error)
        else:
            flash("Roles changed.", "info")
            return redirect(url_for("admin.user_page", username=username))
    described = users.describe(user)
    roles_form.roles.data = described["roles"]
    return render_template(
        "admin/user.html",
        user=described,
        roles_form=roles_form,
        action_form=ActionForm(),
        may_approve=users.may_approve(actor, user),
    )


@bp.post("/users/<username>/<action>")
def user_action(username: str, action: str):
    actor = current_actor()
    if action not in USER_ACTIONS:
        users.view_user(actor, username)  # a hidden account is not found, as an unknown one
        return redirect(url_for("admin.user_page", username=username))
    change, done = USER_ACTIONS[action]
    try:
        change(actor, username)
    except NotFound:
        raise
    except DomainError as error:
        _flash_error(error)
    else:
        flash(f"{username} {done}.", "info")
    return redirect(url_for("admin.user_page", username=username))
