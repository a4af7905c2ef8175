"""API shapes for simulations and impact runs (never a record's contents)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from caseops.vocabulary import PURPOSES, ROLES

NO_COMMA = validate.Regexp(r"^[^,]+$", error="Must be non-empty and contain no comma.")


def _value():
    return fields.String(required=True, validate=[validate.Length(min=1, max=255), NO_COMMA])


class SimulateViewIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=150))
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES))
    at = fields.AwareDateTime(
        load_default=None,
        metadata={"description": "the decision instant (default now); see docs/simulation.md"},
    )


class RuleIn(Schema):
    """A Casbin ``p`` line, as ``/api/v1/policies`` takes it."""

    sub = fields.String(required=True, validate=validate.OneOf(ROLES))
    dom = _value()
    obj = _value()
    act = _value()
    eft = fields.String(load_default="allow", validate=validate.OneOf(["allow", "deny"]))


class RuleOut(Schema):
    sub = fields.String()
    dom = fields.String()
    obj = fields.String()
    act = fields.String()
    eft = fields.String()


class SimulatedSectionOut(Schema):
    agency = fields.String()
    category = fields.String()
    would_show = fields.Boolean()
    reason = fields.String(allow_none=True)
    basis = fields.String(allow_none=True)
    policy_rule = fields.Nested(RuleOut, allow_none=True)
    consent_id = fields.String(allow_none=True)
    relationship = fields.String(allow_none=True)
    referral_id = fields.String(allow_none=True)
    agreement = fields.String(
        allow_none=True,
        metadata={"description": "agreement id, 'waived', or null (none covers, or own agency)"},
    )


class SimulateViewOut(Schema):
    username = fields.String()
    agency = fields.String()
    client_id = fields.String()
    purpose = fields.String()
    at = fields.DateTime()
    decided_at = fields.DateTime()
    outcome = fields.String(metadata={"description": "view | not_found | refused | inactive"})
    policy_version = fields.Integer()
    sections = fields.List(fields.Nested(SimulatedSectionOut))


class ImpactIn(Schema):
    add = fields.List(fields.Nested(RuleIn), load_default=list, validate=validate.Length(max=100))
    remove = fields.List(
        fields.Nested(RuleIn), load_default=list, validate=validate.Length(max=100)
    )
    since = fields.AwareDateTime(load_default=None)


class CellOut(Schema):
    agency = fields.String()
    category = fields.String()
    count = fields.Integer()


class ExampleOut(Schema):
    username = fields.String()
    user_agency = fields.String()
    client_id = fields.String()
    purpose = fields.String()
    agency = fields.String()
    category = fields.String()
    change = fields.String()
    reason_before = fields.String(allow_none=True)
    reason_after = fields.String(allow_none=True)
    rule_after = fields.Nested(RuleOut, allow_none=True)
    logged_seq = fields.Integer()


class IgnoredOut(Schema):
    add = fields.List(fields.Nested(RuleOut))
    remove = fields.List(fields.Nested(RuleOut))


class ScopeOut(Schema):
    organisation = fields.Boolean()
    agency = fields.String(allow_none=True)


class ImpactOut(Schema):
    since = fields.DateTime()
    decided_at = fields.DateTime()
    scope = fields.Nested(ScopeOut)
    limit = fields.Integer(metadata={"description": "at most this many logged views replayed"})
    truncated = fields.Boolean()
    views_found = fields.Integer()
    views_replayed = fields.Integer()
    views_skipped = fields.Integer()
    ignored = fields.Nested(IgnoredOut)
    newly_shown = fields.List(fields.Nested(CellOut))
    newly_withheld = fields.List(fields.Nested(CellOut))
    counts_only = fields.Boolean()
    examples = fields.List(fields.Nested(ExampleOut))
