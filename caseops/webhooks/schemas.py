"""API shapes for webhooks. Types only: URL and event-kind rules live in the service and
come back per field."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from caseops.webhooks.outbox import EVENT_KINDS

STATUSES = ("pending", "delivered", "given_up")


class WebhookBody(Schema):
    url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "http:// or https:// only; redirects are not followed"},
    )
    events = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(min=1, max=len(EVENT_KINDS)),
        metadata={"description": f"any of {', '.join(EVENT_KINDS)}"},
    )


class WebhookOut(Schema):
    id = fields.String()
    agency = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    created_by = fields.String()
    created_at = fields.DateTime()
    disabled_by = fields.String(allow_none=True)
    disabled_at = fields.DateTime(allow_none=True)
    active = fields.Boolean()


class WebhookCreatedOut(WebhookOut):
    secret = fields.String(
        metadata={
            "description": "the signing secret, shown this once: keep it to verify "
            "X-Caseops-Signature"
        }
    )


class DeliveriesQuery(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class DeliveryOut(Schema):
    id = fields.Integer()
    event_id = fields.String(metadata={"description": "the body's id: deduplicate on it"})
    kind = fields.String()
    occurred_at = fields.DateTime()
    data = fields.Dict(keys=fields.String(), values=fields.String())
    status = fields.String(metadata={"description": "pending, delivered or given_up"})
    attempts = fields.Integer()
    last_attempt_at = fields.DateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    given_up_at = fields.DateTime(allow_none=True)
