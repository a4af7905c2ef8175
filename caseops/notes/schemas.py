"""API shapes for notes. Who may write and amend, and who reads (the record view's
decision), live in the services."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from caseops.vocabulary import CATEGORIES

TEXT = validate.Length(min=1, max=20000)
REASON = validate.Length(min=1, max=2000)


class NoteIn(Schema):
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    text = fields.String(required=True, validate=TEXT)
    referral_id = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=32),
        metadata={"description": "a referral of this client your agency sent or received"},
    )


class NoteAmendIn(Schema):
    text = fields.String(required=True, validate=TEXT, metadata={"description": "the new text"})
    reason = fields.String(required=True, validate=REASON, metadata={"description": "why"})


class AmendmentOut(Schema):
    seq = fields.Integer()
    at = fields.DateTime()
    by = fields.String(
        allow_none=True,
        metadata={"description": "who amended (null outside the author's agency)"},
    )
    reason = fields.String()


class NoteOut(Schema):
    id = fields.String()
    client_id = fields.String()
    agency = fields.String(metadata={"description": "the author's agency: the section's source"})
    category = fields.String()
    referral_id = fields.String(allow_none=True)
    author = fields.String(
        allow_none=True, metadata={"description": "null outside the author's agency"}
    )
    written_at = fields.DateTime()
    text = fields.String(metadata={"description": "the current text (the last amendment's)"})
    original_text = fields.String(
        allow_none=True, metadata={"description": "the text as first written, when amended"}
    )
    amended = fields.Boolean()
    amendments = fields.List(fields.Nested(AmendmentOut))
    part2 = fields.Boolean(
        metadata={"description": "42 CFR Part 2 data (substance use, or a Part 2 program's)"}
    )
