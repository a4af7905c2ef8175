"""API shapes for policy rules."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

VALUE = fields.String(required=True, validate=validate.Length(min=1, max=255))


class RuleSchema(Schema):
    """A Casbin ``p`` line: role, agency domain (or *), object, action, allow|deny."""

    sub = VALUE
    dom = VALUE
    obj = VALUE
    act = VALUE
    eft = fields.String(load_default="allow", validate=validate.OneOf(["allow", "deny"]))


class RuleChangeInSchema(RuleSchema):
    """A rule to add or remove, and, for a change that newly discloses, its confirmation."""

    confirm_disclosure = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=1000),
        metadata={
            "description": (
                "The `confirmation_token` of the 409 `confirmation_required` answer: confirms "
                "the sections this change newly shows (bound to this change, this policy "
                "version and those counts; valid 30 minutes). See docs/simulation.md."
            )
        },
    )
    reason = fields.String(
        load_default=None,
        validate=validate.Length(min=5, max=2000),
        metadata={"description": "Why the disclosure is accepted; required with the token."},
    )

    @validates_schema
    def _reason_with_confirmation(self, data, **_kwargs):
        if data.get("confirm_disclosure") and not data.get("reason"):
            raise ValidationError("A confirmation needs a reason.", field_name="reason")


class RuleListSchema(Schema):
    version = fields.Integer()
    rules = fields.List(fields.Nested(RuleSchema))


class CellSchema(Schema):
    agency = fields.String()
    category = fields.String()
    count = fields.Integer()


class AssessmentSchema(Schema):
    """What saving the change was weighed against (counts only)."""

    assessed = fields.Boolean(
        metadata={"description": "false: no rule of the change can decide a record section"}
    )
    since = fields.String()
    views_replayed = fields.Integer()
    truncated = fields.Boolean()
    newly_shown = fields.List(fields.Nested(CellSchema))
    newly_withheld = fields.List(fields.Nested(CellSchema))


class ConfirmedDisclosureSchema(Schema):
    newly_shown = fields.List(fields.Nested(CellSchema))
    total = fields.Integer()
    since = fields.String()
    views_replayed = fields.Integer()
    reason = fields.String()
    digest = fields.String()


class RuleChangeSchema(Schema):
    rule = fields.Nested(RuleSchema)
    version = fields.Integer()
    impact = fields.Nested(AssessmentSchema)
    confirmed_disclosure = fields.Nested(ConfirmedDisclosureSchema, allow_none=True)
