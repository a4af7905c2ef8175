"""The policy page (issue 19, item 6): the role policy in words, a draft of rules to add
and remove, its impact on the views logged in the last 30 days, and saving it, with an
explicit, logged confirmation when the draft newly discloses anything.

No JavaScript: the draft travels in a hidden field of every form (JSON of the rules), so
each step is a plain server round trip; nothing is stored until "Save". The services
authorize, assess, log and save (``caseops.authz.service`` for system administrators,
``caseops.simulation.service.policy_impact`` for a privacy officer's preview with
examples in their scope); this module only parses, calls and renders.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from caseops.auth.current import current_actor
from caseops.authz import disclosure, permissions, service
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
from caseops.errors import DomainError
from caseops.simulation.service import policy_impact
from caseops.ui.clients import _install_template_helpers
from caseops.vocabulary import ROLES

bp = Blueprint("policy_pages", __name__, url_prefix="/policies")
bp.record_once(_install_template_helpers)
MAX_DRAFT = 50
CHANGES = ("add", "remove")


class RuleForm(FlaskForm):
    """One rule for the draft: to add, or to remove."""

    change = SelectField(
        "Change", choices=[SelectChoice("add", "Add this rule"), SelectChoice("remove", "Remove")]
    )
    sub = SelectField(
        "Role",
        choices=[SelectChoice(r, disclosure.ROLE_WORDS.get(r, r)) for r in ROLES],
        # a stored rule's subject (an agency's waiver) may be drafted for removal; an
        # addition is held to the service's own checks (rule_problems)
        validate_choice=False,
    )
    dom = StringField(
        "Agency (its code, or * for every agency)",
        default="*",
        validators=[DataRequired(), Length(max=255)],
    )
    obj = StringField(
        "Object (for example record:health, or record:* for every category)",
        validators=[DataRequired(), Length(max=255)],
    )
    act = StringField(
        "Action (for example read, break_glass)",
        default="read",
        validators=[DataRequired(), Length(max=255)],
    )
    eft = SelectField(
        "Effect", choices=[SelectChoice("allow", "Allow"), SelectChoice("deny", "Deny")]
    )
    draft = HiddenField()


class DraftForm(FlaskForm):
    """A step that carries the draft only (preview, take an item out)."""

    draft = HiddenField()


class SaveForm(FlaskForm):
    draft = HiddenField()
    token = HiddenField()
    understood = BooleanField("I understand")
    reason = TextAreaField("Reason for the disclosure", validators=[Optional(), Length(max=2000)])


# --- the draft in a hidden field ----------------------------------------------------------


def _item(raw: Any) -> dict[str, str] | None:
    if not isinstance(raw, dict) or raw.get("change") not in CHANGES:
        return None
    item = {"change": raw["change"]}
    for name in service.FIELDS:
        value = raw.get(name)
        if not isinstance(value, str):
            return None
        item[name] = value
    return item


def _parse(text: str | None) -> list[dict[str, str]]:
    """The draft the page sent back: a list of ``{change, sub, dom, obj, act, eft}``.
    Anything malformed empties it (with a message): it is only ever a hidden field."""
    if not text:
        return []
    try:
        raw = json.loads(text)
    except ValueError:
        raw = None
    items = [_item(r) for r in raw] if isinstance(raw, list) and len(raw) <= MAX_DRAFT else None
    if items is None or any(i is None for i in items):
        flash("The draft could not be read; start again.", "error")
        return []
    return [i for i in items if i is not None]


def _dump(draft: list[dict[str, str]]) -> str:
    return json.dumps(draft, separators=(",", ":"))


def _split(draft: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    def rule(item: dict[str, str]) -> dict[str, str]:
        return {f: item[f] for f in service.FIELDS}

    return (
        [rule(i) for i in draft if i["change"] == "add"],
        [rule(i) for i in draft if i["change"] == "remove"],
    )


# --- who may use the page ---------------------------------------------------------------------


def _access(actor: Actor) -> tuple[bool, bool]:
    """(may save, may preview): system administrators both; privacy officers preview only
    (with examples in their scope); anyone else is refused, logged."""
    manages = permissions.may(actor, "admin:policy", "manage")
    assesses = manages or permissions.may(actor, "audit", "review")
    if not assesses:
        refuse(actor, "policy.denied", "Only a system administrator or a privacy officer may.")
    return manages, assesses


def _flash_error(error: DomainError) -> None:
    flash(error.message, "error")
    for field, reasons in error.details.items():
        if field in ("confirmation_token", "confirm_disclosure"):
            continue
        for reason in reasons:
            flash(f"{field}: {reason}", "error")


def _page(
    actor: Actor,
    draft: list[dict[str, str]],
    *,
    impact: dict[str, Any] | None = None,
    rule_form: RuleForm | None = None,
    save_form: SaveForm | None = None,
    status: int = 200,
):
    """The page; the typed rule or reason comes back with it when a step was refused."""
    manages, _ = _access(actor)
    rules = service.list_rules(actor) if manages else None
    return (
        render_template(
            "policies/index.html",
            manages=manages,
            rules=rules,
            draft=draft,
            draft_text=_dump(draft),
            impact=impact,
            describe=disclosure.describe,
            total=disclosure.total,
            rule_form=rule_form or RuleForm(formdata=None),
            save_form=save_form or SaveForm(formdata=None),
        ),
        status,
    )


def _preview(actor: Actor, draft: list[dict[str, str]]) -> dict[str, Any]:
    add, remove = _split(draft)
    if permissions.may(actor, "admin:policy", "manage"):
        return service.preview(actor, add, remove)
    for rule in add:
        if problems := service.rule_problems(rule):
            raise DomainError(f"Not a rule: {disclosure.describe(rule)}", details=problems)
    answer = policy_impact(actor, add, remove, None)
    return answer | {"assessed": True, "since": answer["since"].isoformat()}


# --- pages --------------------------------------------------------------------------------------


def _csrf_failed(form: FlaskForm) -> bool:
    if form.validate_on_submit() or not form.csrf_token.errors:
        return False
    flash("The form expired; try again.", "error")
    return True


@bp.get("")
def index():
    return _page(current_actor(), [])


@bp.post("/draft")
def add_to_draft():
    """Put a rule (to add or to remove) in the draft; the page comes back with it."""
    actor = current_actor()
    form = RuleForm()
    draft = _parse(form.draft.data)
    if not form.validate_on_submit():
        for field, reasons in form.errors.items():
            for reason in reasons:
                label = getattr(form, field).label.text if field != "csrf_token" else "Form"
                flash(f"{label}: {reason}", "error")
        return _page(actor, draft, rule_form=form, status=422)
    item = {"change": form.change.data} | {f: getattr(form, f).data.strip() for f in service.FIELDS}
    # an addition must be acceptable; any stored rule may be drafted for removal
    rule = {f: item[f] for f in service.FIELDS}
    problems = service.rule_problems(rule) if item["change"] == "add" else {}
    for field, reasons in problems.items():
        for reason in reasons:
            flash(f"{getattr(form, field).label.text}: {reason}", "error")
    if problems:
        return _page(actor, draft, rule_form=form, status=422)
    if any(disclosure.rule_key(i) == disclosure.rule_key(item) for i in draft):
        flash("The draft has this rule already.", "error")
    elif len(draft) >= MAX_DRAFT:
        flash(f"A draft holds at most {MAX_DRAFT} rules.", "error")
    else:
        draft.append(item)
    return _page(actor, draft)


@bp.post("/draft/<int:position>/drop")
def drop_from_draft(position: int):
    """Take one rule out of the draft."""
    form = DraftForm()
    draft = _parse(form.draft.data)
    if not _csrf_failed(form) and 0 <= position < len(draft):
        draft.pop(position)
    return _page(current_actor(), draft)


@bp.post("/preview")
def preview():
    """What the draft would newly show and newly withhold in the views logged lately."""
    actor = current_actor()
    form = DraftForm()
    draft = _parse(form.draft.data)
    if _csrf_failed(form):
        return _page(actor, draft)
    if not draft:
        flash("The draft is empty: add or remove a rule first.", "error")
        return _page(actor, draft, status=422)
    try:
        impact = _preview(actor, draft)
    except DomainError as error:
        _flash_error(error)
        return _page(actor, draft, status=error.status)
    return _page(actor, draft, impact=impact)


@bp.post("/save")
def save():
    """Save the draft. When it newly discloses, only with the box ticked and a reason (the
    service checks that the confirmation is for the impact it computes now)."""
    actor = current_actor()
    form = SaveForm()
    draft = _parse(form.draft.data)
    if _csrf_failed(form):
        return _page(actor, draft)
    reason = (form.reason.data or "").strip()
    confirmation = None
    if form.understood.data and form.token.data:
        if len(reason) < service.MIN_REASON:
            flash(
                f"Give the reason for the disclosure ({service.MIN_REASON} characters or more).",
                "error",
            )
            form.understood.data = False  # ticked again for the counts shown now
            return _page(actor, draft, impact=_preview(actor, draft), save_form=form, status=422)
        confirmation = service.Confirmation(form.token.data, reason)
    add, remove = _split(draft)
    try:
        saved = service.change_rules(actor, add, remove, confirmation)
    except service.ConfirmationRequired as required:
        form.understood.data = False  # new counts are confirmed afresh, never pre-ticked
        if required.stale:
            flash(required.message, "error")
        else:
            flash(
                "This change newly discloses sections of client records: tick the box and "
                "give a reason to save it.",
                "error",
            )
        impact = required.impact | {"confirmation_token": required.token}
        return _page(actor, draft, impact=impact, save_form=form, status=409)
    except DomainError as error:
        _flash_error(error)
        return _page(actor, draft, status=error.status)
    message = f"Saved: the policy is now at version {saved['version']}."
    if saved["confirmed_disclosure"]:
        message += (
            f" Your confirmation of {saved['confirmed_disclosure']['total']} newly shown "
            "section(s) is in the access log."
        )
    flash(message, "info")
    return redirect(url_for(".index"))
