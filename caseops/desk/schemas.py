"""API shapes of the desk (``/api/v1/me/...``)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from caseops.desk.service import SCOPES


class CaseloadQuery(Schema):
    scope = fields.String(
        load_default="mine",
        validate=validate.OneOf(SCOPES),
        metadata={
            "description": "mine: the caller's own clients; agency: a supervisor's agency "
            "caseload by worker"
        },
    )


class CaseloadEntryOut(Schema):
    client_id = fields.String()
    name = fields.String(allow_none=True)
    birth_date = fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD"})
    relationship = fields.String(metadata={"description": "care_team | referral"})
    changed_since_my_last_view = fields.Boolean(
        allow_none=True,
        metadata={
            "description": "what the caller may see of the record changed since their "
            "last view (true when never viewed); null in the agency scope"
        },
    )
    last_viewed_at = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "when the caller last opened the record; null: never (or "
            "in the agency scope)"
        },
    )
    open_tasks = fields.Integer()
    open_referrals = fields.Integer()
    worker = fields.String(
        allow_none=True,
        metadata={"description": "agency scope only: the worker, null for unassigned"},
    )


class CaseloadOut(Schema):
    scope = fields.String()
    clients = fields.List(fields.Nested(CaseloadEntryOut))
