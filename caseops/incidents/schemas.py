"""API shapes of /api/v1/incidents (privacy officers; administrators reverse containment)."""

from __future__ import annotations

from datetime import UTC

from marshmallow import Schema, fields, validate

from caseops.incidents.models import KINDS, STEPS

REASON = validate.Length(min=5, max=2000)


class IncidentInSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    summary = fields.String(required=True, validate=validate.Length(min=5, max=4000))
    discovered_at = fields.AwareDateTime(
        load_default=None, default_timezone=UTC, metadata={"description": "default: now"}
    )
    window_start = fields.AwareDateTime(
        required=True, default_timezone=UTC, metadata={"description": "inclusive"}
    )
    window_end = fields.AwareDateTime(
        required=True, default_timezone=UTC, metadata={"description": "exclusive"}
    )
    accounts = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        load_default=list,
        validate=validate.Length(max=200),
    )
    token_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=2**31 - 1)),
        load_default=list,
        validate=validate.Length(max=200),
    )
    agencies = fields.List(
        fields.String(validate=validate.Length(min=1, max=32)),
        load_default=list,
        validate=validate.Length(max=50),
    )


class IncidentReasonSchema(Schema):
    reason = fields.String(required=True, validate=REASON)


class IncidentStepSchema(Schema):
    id = fields.Integer()
    step = fields.String(metadata={"enum": list(STEPS)})
    actor = fields.String()
    actor_agency = fields.String(allow_none=True)
    at = fields.String()
    reason = fields.String(allow_none=True)
    detail = fields.Dict()
    access_event_seq = fields.Integer(allow_none=True)


class IncidentSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    summary = fields.String()
    owner_agency = fields.String(allow_none=True)
    opened_by = fields.String()
    opened_at = fields.String()
    discovered_at = fields.String()
    window_start = fields.String()
    window_end = fields.String()
    accounts = fields.List(fields.String())
    token_ids = fields.List(fields.Integer())
    agencies = fields.List(fields.String())
    status = fields.String()
    notification_deadline = fields.String(metadata={"description": "discovery + 60 days"})
    steps = fields.List(fields.Nested(IncidentStepSchema))


class IncidentListSchema(Schema):
    items = fields.List(fields.Nested(IncidentSchema))


class IncidentContainmentSchema(Schema):
    incident_id = fields.Integer()
    step = fields.Nested(IncidentStepSchema)
    accounts = fields.List(fields.Dict())
    tokens = fields.List(fields.Dict())
    referred = fields.List(fields.Dict(), metadata={"description": "ask their administrator"})
    note = fields.String()


class IncidentScopeSchema(Schema):
    incident_id = fields.Integer()
    scope = fields.Dict()
    checkpoint = fields.Dict(allow_none=True)
    affected_clients = fields.List(fields.Dict())
    break_glass = fields.List(fields.Dict())
    denials = fields.List(fields.Dict())
    searches = fields.List(fields.Dict())
    other_entries = fields.Integer()
    unsealed_seqs = fields.List(fields.Integer())


class IncidentNotificationListSchema(Schema):
    incident_id = fields.Integer()
    kind = fields.String()
    deadline = fields.String()
    items = fields.List(fields.Dict())


class IncidentTimelineQuerySchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class IncidentTimelineSchema(Schema):
    incident_id = fields.Integer()
    status = fields.String()
    items = fields.List(fields.Nested(IncidentStepSchema))
