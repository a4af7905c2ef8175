"""API shapes for events: ids and kinds only."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from caseops.events.rules import EVENT_KINDS
from caseops.events.service import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT


class NotificationsQuery(Schema):
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_ID),
        metadata={"description": "only notifications with a greater id (the last one you saw)"},
    )
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT)
    )


class EventsQuery(Schema):
    after = fields.Integer(
        load_default=None,
        validate=validate.Range(min=0, max=MAX_ID),
        metadata={
            "description": "resume after this notification id (the Last-Event-ID header "
            "wins when both are sent); without either, the stream starts now"
        },
    )


class NotificationOut(Schema):
    id = fields.Integer(metadata={"description": "increasing; the stream's event id"})
    kind = fields.String(metadata={"description": f"one of {', '.join(EVENT_KINDS)}"})
    created_at = fields.String(metadata={"description": "ISO 8601, UTC"})
    data = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": 'ids and kinds only, e.g. {"client_id": "…"}'},
    )
