"""The data steward's review queue: possible matches side by side, link or keep apart,
and undo of the steward's recent decisions. ``caseops.clients.service`` decides, moves
records and writes the access log; this page parses, calls and renders.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, session, url_for

from caseops.auth.current import current_actor
from caseops.authz import permissions
from caseops.clients import service as clients
from caseops.errors import Conflict, NotFound
from caseops.ui.clients import _install_template_helpers
from caseops.ui.forms import ActionForm

bp = Blueprint("linkage_pages", __name__, url_prefix="/linkage")
bp.record_once(_install_template_helpers)

RECENT_KEY = "linkage_recent"
RECENT_LIMIT = 5

IDENTIFIERS = (
    ("name", "Name"),
    ("birth_date", "Birth date"),
    ("ssn", "SSN"),
    ("sex", "Sex"),
    ("address", "Address"),
    ("phone", "Phone"),
    ("email", "Email"),
)


def _name(person: dict[str, Any]) -> str:
    parts = (person.get("given_name"), person.get("middle_name"), person.get("family_name"))
    return " ".join(p for p in parts if p)


def _address(person: dict[str, Any]) -> str:
    address = person.get("address") or {}
    street = " ".join(p for p in (address.get("street_number"), address.get("street")) if p)
    parts = (street, address.get("line2"), address.get("city"), address.get("state"))
    line = ", ".join(p for p in parts if p)
    return f"{line} {address.get('postcode') or ''}".strip()


def _masked_ssn(ssn: str | None) -> str:
    digits = "".join(ch for ch in ssn or "" if ch.isdigit())
    return f"•••-••-{digits[-4:]}" if len(digits) >= 4 else ""


def _identifier(person: dict[str, Any], key: str) -> tuple[str, str]:
    """(what to show, what to compare) for one identifier of one side of a pair."""
    if key == "name":
        value = _name(person)
        return value, value.casefold()
    if key == "address":
        value = _address(person)
        return value, value.casefold()
    if key == "ssn":
        digits = "".join(ch for ch in person.get("ssn") or "" if ch.isdigit())
        return _masked_ssn(person.get("ssn")), digits
    value = str(person.get(key) or "")
    return value, value.casefold()


def comparison(item: dict[str, Any]) -> list[dict[str, str]]:
    """The pair's identifiers row by row, with a plain-text agreement for each."""
    rows = []
    for key, title in IDENTIFIERS:
        left, left_key = _identifier(item["record"]["person"], key)
        right, right_key = _identifier(item["candidate"]["person"], key)
        if not left_key and not right_key:
            continue
        if not left_key or not right_key:
            agreement = "missing"
        else:
            agreement = "same" if left_key == right_key else "differs"
        rows.append({"title": title, "left": left, "right": right, "agreement": agreement})
    return rows


def _remember(entry: dict[str, Any]) -> None:
    recent = [e for e in session.get(RECENT_KEY, []) if e.get("item") != entry["item"]]
    session[RECENT_KEY] = [entry, *recent][:RECENT_LIMIT]


def _summary(item: dict[str, Any]) -> str:
    """The pair by agency and source record id: no names or birth dates, as this goes into
    the (signed, not encrypted) session cookie."""
    record, candidate = item["record"], item["candidate"]
    return (
        f"{record['agency'].upper()} {record['source_record_id']} and "
        f"{candidate['agency'].upper()} {candidate['source_record_id']}"
    )


@bp.get("/review")
def review_page():
    actor = current_actor()
    queue = clients.review_queue(actor)
    return render_template(
        "linkage/review.html",
        queue=[item | {"rows": comparison(item)} for item in queue],
        recent=session.get(RECENT_KEY, []),
        action_form=ActionForm(),
        name_of=_name,
        organisation_wide=permissions.has_organisation_scope(actor, "linkage"),
        agency=actor.agency,
    )


def _decide(item_id: int, resolve, decision: str, done: str):
    actor = current_actor()
    if ActionForm().validate_on_submit():
        try:
            item = resolve(actor, item_id)
        except (Conflict, NotFound) as error:
            flash(error.message, "error")
        else:
            _remember(
                {
                    "item": item["id"],
                    "decision": decision,
                    "summary": _summary(item),
                    # The link event is what undo needs; the service may not return it.
                    "link_event": item.get("link_event"),
                }
            )
            flash(f"{done}: {_summary(item)}.", "info")
    return redirect(url_for("linkage_pages.review_page"))


@bp.post("/review/<int:item_id>/link")
def link(item_id: int):
    return _decide(item_id, clients.resolve_link, "linked", "Linked as the same person")


@bp.post("/review/<int:item_id>/keep-apart")
def keep_apart(item_id: int):
    return _decide(item_id, clients.resolve_keep_apart, "kept_apart", "Kept apart")


@bp.post("/events/<int:event_id>/undo")
def undo(event_id: int):
    actor = current_actor()
    if ActionForm().validate_on_submit():
        try:
            clients.undo(actor, event_id)
        except (Conflict, NotFound) as error:
            flash(error.message, "error")
        else:
            session[RECENT_KEY] = [
                e | {"undone": True} if e.get("link_event") == event_id else e
                for e in session.get(RECENT_KEY, [])
            ]
            flash("Undone: the record is back where it was and the pair is open again.", "info")
    return redirect(url_for("linkage_pages.review_page"))
