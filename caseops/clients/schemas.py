"""API shapes for client search and the linkage review queue."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class ClientSearchQuery(Schema):
    q = fields.String(load_default=None, validate=validate.Length(max=200))
    birth_date = fields.Date(load_default=None, format="%Y-%m-%d")


class ClientHit(Schema):
    client_id = fields.String()
    name = fields.String()
    birth_date = fields.String(allow_none=True)


class ReviewQuery(Schema):
    status = fields.String(
        load_default="open", validate=validate.OneOf(["open", "linked", "kept_apart"])
    )


class PairSide(Schema):
    record_id = fields.Integer()
    agency = fields.String()
    source_record_id = fields.String()
    client_id = fields.String()
    person = fields.Dict()


class ReviewItemSchema(Schema):
    id = fields.Integer()
    status = fields.String()
    score = fields.Float()
    created_at = fields.DateTime()
    record = fields.Nested(PairSide)
    candidate = fields.Nested(PairSide)
    link_event = fields.Integer(metadata={"description": "after a link: the event to undo"})


class LinkChangeSchema(Schema):
    record_id = fields.Integer()
    client_id = fields.String()
    link_event = fields.Integer()
