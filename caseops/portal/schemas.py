"""API shapes for access codes. A code's text appears in one answer only: the issue."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from caseops.portal.codes import MAX_DAYS


class IssueCodeBody(Schema):
    expires_in_days = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=MAX_DAYS),
        metadata={"description": f"1 to {MAX_DAYS} days; 90 when left out"},
    )


class AccessCodeOut(Schema):
    id = fields.String(metadata={"description": "the code's public id (its first 8 characters)"})
    client_id = fields.String()
    issued_by = fields.String()
    issued_by_agency = fields.String()
    issued_at = fields.DateTime()
    expires_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    revoked_by = fields.String(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)
    state = fields.String(metadata={"description": "active, locked, expired or revoked"})


class IssuedCodeOut(AccessCodeOut):
    code = fields.String(
        metadata={"description": "the whole code: shown once, stored only as a hash"}
    )
