"""API shapes for agencies."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

CODE_PATTERN = r"^[a-z][a-z0-9_-]{1,31}$"


class AgencyCreateSchema(Schema):
    code = fields.String(
        required=True,
        validate=validate.Regexp(
            CODE_PATTERN,
            error="Use 2-32 lowercase letters, digits, '-' or '_', starting with a letter.",
        ),
    )
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    kind = fields.String(load_default="other", validate=validate.Length(min=1, max=64))
    part2_program = fields.Boolean(load_default=False)
    ferpa_institution = fields.Boolean(load_default=False)


class AgencySchema(Schema):
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    part2_program = fields.Boolean()
    ferpa_institution = fields.Boolean()
    created_at = fields.DateTime()
