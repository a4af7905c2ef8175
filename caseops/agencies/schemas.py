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
    treating_provider = fields.Boolean(load_default=False)
    covered_entity = fields.Boolean(load_default=False)


class AgencySchema(Schema):
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    part2_program = fields.Boolean()
    ferpa_institution = fields.Boolean()
    treating_provider = fields.Boolean()
    covered_entity = fields.Boolean()
    created_at = fields.DateTime()


class AgencyFactsBody(Schema):
    """42 CFR Part 2 (2024) facts of an agency; a fact left out stays as it is."""

    treating_provider = fields.Boolean(
        load_default=None, metadata={"description": "it delivers care to patients"}
    )
    covered_entity = fields.Boolean(
        load_default=None,
        metadata={"description": "a HIPAA covered entity or business associate"},
    )
    part2_program = fields.Boolean(
        load_default=None, metadata={"description": "a 42 CFR Part 2 program"}
    )
    reason = fields.String(
        required=True,
        validate=validate.Length(min=3, max=500),
        metadata={"description": "why (shown to the Part 2 programs with the change)"},
    )


class AgencyFactChangeOut(Schema):
    id = fields.Integer()
    agency = fields.String()
    fact = fields.String()
    before = fields.Boolean()
    after = fields.Boolean()
    reason = fields.String()
    changed_by = fields.String()
    changed_at = fields.DateTime()


class AgencyFactsOut(Schema):
    code = fields.String()
    name = fields.String()
    treating_provider = fields.Boolean()
    covered_entity = fields.Boolean()
    part2_program = fields.Boolean()
    changes = fields.List(fields.Nested(AgencyFactChangeOut))


class AgencyFactsRowOut(Schema):
    code = fields.String()
    name = fields.String()
    treating_provider = fields.Boolean()
    covered_entity = fields.Boolean()
    part2_program = fields.Boolean()


class AgencyFactChangesOut(Schema):
    agencies = fields.List(fields.Nested(AgencyFactsRowOut))
    changes = fields.List(fields.Nested(AgencyFactChangeOut))
