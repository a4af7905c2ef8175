"""Task and note pages for case workers and supervisors (issue 18): the "My tasks" page
(overdue first and marked in words, not only colour), and the forms the client page
carries: a new task, done / cancel / hand over, a new note, an amendment.

Everything goes through ``caseops.tasks.service`` and ``caseops.notes.service``, which
decide who may do what and write the access log; these views parse the forms, call them
and redirect back (post/redirect/get). A task or note of another agency answers the same
404 page as an unknown id, because the services answer so.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm

from caseops.auth.current import current_actor
from caseops.authz import policy
from caseops.authz.permissions import load_client
from caseops.errors import DomainError, Forbidden
from caseops.notes import service as notes
from caseops.tasks import service as tasks
from caseops.tasks.rules import STATUSES
from caseops.ui.clients import _install_template_helpers
from caseops.ui.task_forms import (
    STATUS_LABELS,
    AmendForm,
    CancelForm,
    HandOverForm,
    NoteForm,
    StatusFilterForm,
    TaskForm,
    is_worker,
    with_colleagues,
)
from caseops.vocabulary import PURPOSES

bp = Blueprint("task_pages", __name__)
bp.record_once(_install_template_helpers)


def _back(default: str) -> Any:
    """Back to the page the form was on: only a path of this site (never an open
    redirect), else ``default``."""
    target = request.form.get("next") or ""
    if not target.startswith("/") or target[1:2] in ("/", "\\"):
        target = default
    return redirect(target)


def _flash_error(error: DomainError) -> None:
    flash(error.message, "error")
    for reasons in error.details.values():
        for reason in reasons:
            flash(reason, "error")


def _client_page(client_id: str) -> str:
    purpose = request.form.get("purpose") or None
    return url_for("client_pages.client_page", client_id=client_id, purpose=purpose)


# --- My tasks -----------------------------------------------------------------------------


@bp.get("/tasks")
def my_tasks_page():
    actor = current_actor()
    if not is_worker(actor):
        abort(404)
    form = StatusFilterForm(formdata=request.args)
    status = form.status.data if form.status.data in STATUSES else "open"
    found = tasks.my_tasks(actor, status)
    return render_template(
        "tasks/mine.html",
        form=form,
        status=status,
        tasks=found,
        overdue=sum(1 for t in found if t["overdue"]),
        task_status_labels=STATUS_LABELS,
        cancel_form=CancelForm(formdata=None),
    )


# --- task forms ---------------------------------------------------------------------------


@bp.post("/clients/<client_id>/tasks")
def create_task(client_id: str):
    actor = current_actor()
    form = with_colleagues(actor, TaskForm(), "assignee")
    if form.validate_on_submit():
        try:
            tasks.create(
                actor,
                client_id,
                {
                    "title": form.title.data,
                    "assignee": form.assignee.data,
                    "due_on": form.due_on.data,
                },
            )
        except DomainError as error:
            _flash_error(error)
        else:
            flash("Task created.", "info")
    else:
        for field, reasons in form.errors.items():
            for reason in reasons:
                flash(f"{getattr(form, field).label.text}: {reason}", "error")
    return _back(_client_page(client_id))


@bp.post("/tasks/<task_id>/done")
def task_done(task_id: str):
    actor = current_actor()
    if FlaskForm().validate_on_submit():
        try:
            tasks.change_status(actor, task_id, "done", None)
        except DomainError as error:
            if error.status == 404:
                raise
            _flash_error(error)
        else:
            flash("Task marked done.", "info")
    return _back(url_for("task_pages.my_tasks_page"))


@bp.post("/tasks/<task_id>/cancel")
def task_cancel(task_id: str):
    actor = current_actor()
    form = CancelForm()
    if form.validate_on_submit():
        try:
            tasks.change_status(actor, task_id, "cancelled", form.note.data)
        except DomainError as error:
            if error.status == 404:
                raise
            _flash_error(error)
        else:
            flash("Task cancelled.", "info")
    else:
        flash("Say why the task is cancelled.", "error")
    return _back(url_for("task_pages.my_tasks_page"))


@bp.post("/tasks/<task_id>/assign")
def task_hand_over(task_id: str):
    actor = current_actor()
    form = with_colleagues(actor, HandOverForm(), "username")
    if form.validate_on_submit():
        try:
            tasks.assign(actor, task_id, form.username.data)
        except DomainError as error:
            if error.status == 404:
                raise
            _flash_error(error)
        else:
            flash(f"Task handed over to {form.username.data}.", "info")
    else:
        flash("Choose a colleague of your agency.", "error")
    return _back(url_for("task_pages.my_tasks_page"))


# --- note forms ---------------------------------------------------------------------------


@bp.get("/clients/<client_id>/notes/new")
def new_note_page(client_id: str):
    """The note form on a page of its own (as "Refer…" is): the record page then lists
    no category the client has nothing in. A hidden client: the 404 of an unknown one."""
    actor = current_actor()
    load_client(actor, client_id)
    if not is_worker(actor) or not policy.allowed(actor, "notes", "write"):
        raise Forbidden("Your role does not write notes.")
    return render_template(
        "clients/note_new.html",
        form=NoteForm(formdata=None),
        client_id=client_id,
        purpose=purpose if (purpose := request.args.get("purpose")) in PURPOSES else None,
    )


@bp.post("/clients/<client_id>/notes")
def write_note(client_id: str):
    actor = current_actor()
    form = NoteForm()
    if form.validate_on_submit():
        try:
            notes.write(actor, client_id, {"category": form.category.data, "text": form.text.data})
        except DomainError as error:
            if error.status == 404:
                raise
            _flash_error(error)
            return _back(_client_page(client_id))
        flash("Note added.", "info")
        return redirect(_client_page(client_id))
    flash("Write the note and choose its category.", "error")
    return _back(_client_page(client_id))


@bp.post("/notes/<note_id>/amend")
def amend_note(note_id: str):
    actor = current_actor()
    form = AmendForm()
    if form.validate_on_submit():
        try:
            note = notes.amend(actor, note_id, form.text.data, form.reason.data)
        except DomainError as error:
            if error.status == 404:
                raise
            _flash_error(error)
        else:
            flash("Note amended; the original is kept.", "info")
            return _back(url_for("client_pages.client_page", client_id=note["client_id"]))
    else:
        flash("Write the amended text and say why.", "error")
    return _back(url_for("task_pages.my_tasks_page"))
