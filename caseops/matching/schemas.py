"""API shapes of the linkage model and the steward's review tools."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from caseops.clients.schemas import ReviewItemSchema
from caseops.matching.review import MAX_BATCH


class RankedQuery(Schema):
    limit = fields.Integer(load_default=None, validate=validate.Range(min=1, max=1000))


class RankedItemSchema(ReviewItemSchema):
    rank = fields.Integer(metadata={"description": "1: the decision that changes most"})
    probability = fields.Float(
        allow_none=True, metadata={"description": "under the current model (None: built-in)"}
    )
    agreement = fields.Dict(
        keys=fields.String(),
        values=fields.String(allow_none=True),
        metadata={"description": "comparison level per field; null when missing on a side"},
    )


class DecisionSchema(Schema):
    item_id = fields.Integer(required=True)
    decision = fields.String(required=True, validate=validate.OneOf(["link", "keep_apart"]))


class BatchSchema(Schema):
    decisions = fields.List(
        fields.Nested(DecisionSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH),
    )


class DecisionResultSchema(Schema):
    item_id = fields.Integer()
    status = fields.Integer()
    outcome = fields.String()
    link_event = fields.Integer()
    message = fields.String()


class HoldSchema(Schema):
    id = fields.Integer()
    table = fields.String(attribute="table_name")
    row_id = fields.String()
    client_id = fields.String()
    candidates = fields.List(fields.String())
    reason = fields.String()
    created_at = fields.DateTime()


class SizeSchema(Schema):
    open = fields.Integer()
