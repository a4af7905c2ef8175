"""API shapes for the consented client view, care teams and break-the-glass."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from caseops.notes.schemas import NoteOut
from caseops.vocabulary import PURPOSES


class ViewQuery(Schema):
    purpose = fields.String(load_default="care_coordination", validate=validate.OneOf(PURPOSES))


class SectionOut(Schema):
    agency = fields.String()
    category = fields.String()
    status = fields.String(metadata={"description": "shown | withheld"})
    reason = fields.String(metadata={"description": "why withheld (reason code)"})
    basis = fields.String(metadata={"description": "own_agency | consent | break_glass ..."})
    notice = fields.String(allow_none=True, metadata={"description": "redisclosure notice"})
    relationship = fields.String(
        allow_none=True,
        metadata={"description": "the need to know: care_team | referral | break_glass"},
    )
    referral_id = fields.String(
        allow_none=True, metadata={"description": "the referral that is the basis, if one is"}
    )
    updated_at = fields.DateTime()
    data = fields.Dict(metadata={"description": "a shown record's contents (kind record)"})
    kind = fields.String(
        metadata={
            "description": "`note` on a worker's note (absent on an agency's record): a "
            "section of the author's agency in its category, decided as that agency's "
            "records are. A shown note is listed on its own, with `note`; withheld notes "
            "once per agency and category (never a count)"
        }
    )
    note = fields.Nested(NoteOut, metadata={"description": "a shown note (kind note)"})


class ViewOut(Schema):
    client_id = fields.String()
    purpose = fields.String()
    fingerprint = fields.String(
        metadata={
            "description": "digest of this caller's view (as GET .../record/fingerprint "
            "answers): changes only when what the caller sees changes"
        }
    )
    break_glass = fields.Dict(allow_none=True)
    sections = fields.List(fields.Nested(SectionOut))


class CareTeamIn(Schema):
    username = fields.String(required=True, validate=validate.Length(max=64))
    until = fields.AwareDateTime(load_default=None)


class CareTeamOut(Schema):
    client_id = fields.String()
    agency_code = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime(allow_none=True)
    added_by = fields.String()
    basis = fields.String()


class BreakGlassIn(Schema):
    # At least 20 characters once surrounding space is stripped (the service's rule), said
    # in the schema so that the OpenAPI document states it.
    justification = fields.String(
        required=True,
        validate=[
            validate.Length(min=20, max=2000, error="At least 20 and at most 2000 characters."),
            validate.Regexp(r"^\s*\S[\s\S]{18,}\S\s*$", error="At least 20 characters."),
        ],
    )
    purpose = fields.String(load_default="emergency", validate=validate.OneOf(PURPOSES))
    minutes = fields.Integer(load_default=None, validate=validate.Range(min=5, max=240))


class BreakGlassOut(Schema):
    id = fields.Integer()
    client_id = fields.String()
    purpose = fields.String()
    starts_at = fields.DateTime()
    expires_at = fields.DateTime()


class FingerprintOut(Schema):
    fingerprint = fields.String()
