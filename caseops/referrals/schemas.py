"""API shapes for referrals. Types and vocabularies here (so the OpenAPI document states
them); who may do what, and the consent gate, live in the service."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from caseops.referrals.machine import Status
from caseops.vocabulary import CATEGORIES, PURPOSES, SERVICES, URGENCIES

STATUSES = [s.value for s in Status]
NAME = validate.Length(min=1, max=64)
WORDS = validate.Length(min=1, max=2000)


class ReferralIn(Schema):
    to_agency = fields.String(required=True, validate=validate.Length(min=1, max=32))
    to_user = fields.String(load_default=None, validate=NAME)
    service = fields.String(required=True, validate=validate.OneOf(list(SERVICES)))
    service_text = fields.String(load_default=None, validate=validate.Length(max=500))
    purpose = fields.String(load_default="care_coordination", validate=validate.OneOf(PURPOSES))
    shared_categories = fields.List(
        fields.String(validate=validate.OneOf(CATEGORIES)),
        required=True,
        validate=validate.Length(max=len(CATEGORIES)),
    )
    note = fields.String(load_default=None, validate=validate.Length(max=4000))
    urgency = fields.String(load_default="routine", validate=validate.OneOf(URGENCIES))
    due_on = fields.Date(load_default=None)
    send = fields.Boolean(load_default=False)


class MoveIn(Schema):
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    reason = fields.String(load_default=None, validate=WORDS)
    outcome = fields.String(load_default=None, validate=WORDS)
    assign_to = fields.String(load_default=None, validate=NAME)


class AssignIn(Schema):
    username = fields.String(required=True, validate=NAME)


class ListQuery(Schema):
    direction = fields.String(
        load_default="incoming", validate=validate.OneOf(["incoming", "outgoing"])
    )
    status = fields.String(
        load_default=None,
        validate=validate.OneOf([*STATUSES, "open", "closed"]),
        metadata={"description": "a status, or open / closed for every status of the kind"},
    )
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))


class PreviewQuery(Schema):
    to_agency = fields.String(required=True, validate=validate.Length(min=1, max=32))
    service = fields.String(required=True, validate=validate.OneOf(list(SERVICES)))
    purpose = fields.String(load_default="care_coordination", validate=validate.OneOf(PURPOSES))


class ServiceOut(Schema):
    code = fields.String()
    display = fields.String()
    text = fields.String()


class HistoryOut(Schema):
    seq = fields.Integer()
    at = fields.DateTime()
    kind = fields.String(metadata={"description": "created | moved | assigned"})
    to = fields.String()
    agency = fields.String()
    by = fields.String(
        allow_none=True, metadata={"description": "only for moves of the caller's own agency"}
    )
    assigned_to = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)

    class Meta:
        include = {"from": fields.String(allow_none=True)}


class ConsentStanding(Schema):
    standing = fields.Boolean()
    reason = fields.String(allow_none=True)


class ReferralOut(Schema):
    id = fields.String()
    client_id = fields.String()
    from_agency = fields.String()
    to_agency = fields.String()
    from_user = fields.String(allow_none=True)
    assigned_to = fields.String(allow_none=True)
    service = fields.Nested(ServiceOut)
    purpose = fields.String()
    shared_categories = fields.List(fields.String())
    note = fields.String(allow_none=True)
    urgency = fields.String()
    due_on = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    status = fields.String(
        metadata={
            "description": "the Task status; a sender without a Part 2 program's consent "
            "sees only 'open' or 'closed' for the program's own steps"
        }
    )
    outcome = fields.String(allow_none=True)
    side = fields.String(metadata={"description": "sender | recipient: where the caller stands"})
    allowed_moves = fields.List(fields.String())
    may_assign = fields.Boolean()
    access_open = fields.Boolean(
        metadata={"description": "whether the referral opens the shared categories now"}
    )
    consent = fields.Nested(ConsentStanding)
    flags = fields.List(fields.String())
    history = fields.List(fields.Nested(HistoryOut))


class CategoryPreview(Schema):
    category = fields.String()
    held = fields.Boolean()
    allowed = fields.Boolean()
    uncovered = fields.List(fields.Dict())


class PreviewOut(Schema):
    to_agency = fields.String()
    service = fields.String()
    purpose = fields.String()
    referral_allowed = fields.Boolean()
    referral_reason = fields.String(allow_none=True)
    categories = fields.List(fields.Nested(CategoryPreview))
