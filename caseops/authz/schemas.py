"""API shapes for policy rules."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

VALUE = fields.String(required=True, validate=validate.Length(min=1, max=255))


class RuleSchema(Schema):
    """A Casbin ``p`` line: role, agency domain (or *), object, action, allow|deny."""

    sub = VALUE
    dom = VALUE
    obj = VALUE
    act = VALUE
    eft = fields.String(load_default="allow", validate=validate.OneOf(["allow", "deny"]))


class RuleListSchema(Schema):
    version = fields.Integer()
    rules = fields.List(fields.Nested(RuleSchema))


class RuleChangeSchema(Schema):
    rule = fields.Nested(RuleSchema)
    version = fields.Integer()
