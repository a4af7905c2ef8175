"""The task and note forms, and what the client page adds for them (issue 18).

Kept apart from the views (``caseops.ui.tasks``) so the client page can ask for its panels
without importing the views that themselves reuse the client pages' template helpers.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.tasks import service as tasks
from caseops.tasks.rules import STATUSES
from caseops.ui.forms import CATEGORY_LABELS, label
from caseops.vocabulary import CATEGORIES

STATUS_LABELS = {"open": "Open", "done": "Done", "cancelled": "Cancelled"}


# --- forms --------------------------------------------------------------------------------


class TaskForm(FlaskForm):
    title = StringField("Task", validators=[DataRequired(), Length(max=200)])
    assignee = SelectField("Assign to")
    due_on = DateField("Due by (optional)", validators=[Optional()])


class CancelForm(FlaskForm):
    note = TextAreaField("Why cancel?", validators=[DataRequired(), Length(max=2000)])


class HandOverForm(FlaskForm):
    username = SelectField("Hand over to")


class NoteForm(FlaskForm):
    category = SelectField(
        "Category",
        choices=[SelectChoice(c, label(CATEGORY_LABELS, c)) for c in CATEGORIES],
    )
    text = TextAreaField("Note", validators=[DataRequired(), Length(max=20000)])


class AmendForm(FlaskForm):
    text = TextAreaField("Amended text", validators=[DataRequired(), Length(max=20000)])
    reason = StringField("Why amend?", validators=[DataRequired(), Length(max=2000)])


class StatusFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField(
        "Status", choices=[SelectChoice(s, STATUS_LABELS[s]) for s in STATUSES], default="open"
    )


def is_worker(actor: Actor) -> bool:
    return actor.agency is not None and bool(actor.roles & tasks.WORKERS)


def with_colleagues(actor: Actor, form: Any, field: str) -> Any:
    getattr(form, field).choices = tasks.colleagues(actor)
    return form


# --- the client page's panels -------------------------------------------------------------


def client_panels(actor: Actor, client_id: str) -> dict[str, Any]:
    """What the client page adds for tasks and notes (called after the view is logged):
    the agency's tasks on the client and the forms, for case workers and supervisors of
    an agency; nothing for anyone else."""
    if not is_worker(actor):
        return {"task_panel": None, "note_form": None}
    open_tasks = tasks.client_tasks(actor, client_id, "open")
    task_form = with_colleagues(actor, TaskForm(formdata=None), "assignee")
    task_form.assignee.data = actor.username
    writes_notes = policy.allowed(actor, "notes", "write")
    return {
        "task_panel": {
            "tasks": open_tasks,
            "form": task_form if policy.allowed(actor, "tasks", "write") else None,
            "cancel_form": CancelForm(formdata=None),
            "hand_over_form": with_colleagues(actor, HandOverForm(formdata=None), "username"),
        },
        "note_form": NoteForm(formdata=None) if writes_notes else None,
        "amend_form": AmendForm(formdata=None),
        "may_amend": lambda note: (
            note.get("agency") == actor.agency
            and (note.get("author") == actor.username or "supervisor" in actor.roles)
        ),
        "task_status_labels": STATUS_LABELS,
    }
