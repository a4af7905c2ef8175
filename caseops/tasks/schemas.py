"""API shapes for tasks. Who may do what lives in the service; the status rules in
``caseops.tasks.rules``."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from caseops.tasks.rules import FINAL, STATUSES

NAME = validate.Length(min=1, max=64)


class TaskIn(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    assignee = fields.String(
        load_default=None,
        validate=NAME,
        metadata={"description": "a case worker or supervisor of your agency (default: you)"},
    )
    due_on = fields.Date(load_default=None, metadata={"description": "today or later"})
    referral_id = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=32),
        metadata={"description": "a referral of this client your agency sent or received"},
    )


class TaskStatusIn(Schema):
    status = fields.String(required=True, validate=validate.OneOf(FINAL))
    note = fields.String(
        load_default=None,
        validate=validate.Length(max=2000),
        metadata={"description": "why (required when cancelling)"},
    )


class TaskAssignIn(Schema):
    username = fields.String(required=True, validate=NAME)


class MyTasksQuery(Schema):
    status = fields.String(load_default="open", validate=validate.OneOf(STATUSES))
    worker = fields.String(
        load_default=None,
        validate=NAME,
        metadata={"description": "supervisors: a colleague's tasks instead of your own"},
    )


class ClientTasksQuery(Schema):
    status = fields.String(
        load_default=None,
        validate=validate.OneOf(STATUSES),
        metadata={"description": "one status (default: every status)"},
    )


class TaskOut(Schema):
    id = fields.String()
    client_id = fields.String()
    agency = fields.String()
    referral_id = fields.String(allow_none=True)
    title = fields.String()
    status = fields.String(metadata={"description": "open | done | cancelled"})
    assignee = fields.String(allow_none=True)
    due_on = fields.Date(allow_none=True)
    overdue = fields.Boolean(
        metadata={"description": "open and due before today (the deployment's time zone)"}
    )
    created_by = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    updated_by = fields.String()
    note = fields.String(allow_none=True, metadata={"description": "the last change's note"})
