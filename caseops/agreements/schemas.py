"""API shapes for data sharing agreements. Types only: which agencies, categories and
purposes are acceptable is checked by the service and comes back per field."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

CODE = fields.String(validate=validate.Length(min=1, max=32))


class ShareClauseBody(Schema):
    categories = fields.List(CODE, required=True, validate=validate.Length(min=1, max=20))
    purposes = fields.List(CODE, required=True, validate=validate.Length(min=1, max=20))


class TrustClauseBody(Schema):
    agency = fields.String(
        required=True,
        validate=validate.Length(min=1, max=32),
        metadata={"description": "the party that accepts consents its partner records"},
    )
    partner = fields.String(required=True, validate=validate.Length(min=1, max=32))
    categories = fields.List(
        CODE,
        required=True,
        validate=validate.Length(min=1, max=20),
        metadata={"description": "never substance_use (42 CFR Part 2)"},
    )


class AgreementDocumentBody(Schema):
    filename = fields.String(load_default="agreement.pdf", validate=validate.Length(max=200))
    content_type = fields.String(
        required=True,
        validate=validate.OneOf(["application/pdf", "image/png", "image/jpeg", "image/tiff"]),
        metadata={"description": "application/pdf, image/png, image/jpeg, image/tiff"},
    )
    content_base64 = fields.String(
        required=True, metadata={"description": "the signed document, base64 (at most 5 MiB)"}
    )


class VersionBody(Schema):
    """What a version says: an amendment restates it whole (same parties)."""

    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True, metadata={"description": "the termination date"})
    share = fields.List(fields.Nested(ShareClauseBody), load_default=list)
    trust = fields.List(fields.Nested(TrustClauseBody), load_default=list)
    document = fields.Nested(AgreementDocumentBody, required=True)
    note = fields.String(load_default=None, validate=validate.Length(max=1000))


class AgreementBody(VersionBody):
    parties = fields.List(
        CODE,
        required=True,
        validate=validate.Length(min=2, max=50),
        metadata={"description": "agency codes"},
    )


class TerminateBody(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class ShareClauseOut(Schema):
    categories = fields.List(fields.String())
    purposes = fields.List(fields.String())


class TrustClauseOut(Schema):
    agency = fields.String()
    partner = fields.String()
    categories = fields.List(fields.String())


class AcceptanceOut(Schema):
    agency = fields.String()
    accepted_by = fields.String()
    accepted_at = fields.DateTime()


class TerminationOut(Schema):
    terminated_by = fields.String()
    terminated_at = fields.DateTime()
    reason = fields.String()


class AgreementDocumentOut(Schema):
    sha256 = fields.String()
    filename = fields.String()
    type = fields.String()


class AgreementOut(Schema):
    id = fields.String()
    title = fields.String()
    parties = fields.List(fields.String())
    starts_on = fields.Date()
    ends_on = fields.Date(allow_none=True)
    status = fields.String(
        metadata={"description": "pending, scheduled, active, expired, terminated, superseded"}
    )
    in_force_from = fields.DateTime(allow_none=True)
    in_force_until = fields.DateTime(allow_none=True)
    share = fields.List(fields.Nested(ShareClauseOut))
    trust = fields.List(fields.Nested(TrustClauseOut))
    acceptances = fields.List(fields.Nested(AcceptanceOut))
    awaiting = fields.List(fields.String(), metadata={"description": "parties yet to accept"})
    termination = fields.Nested(TerminationOut, allow_none=True)
    supersedes = fields.String(allow_none=True)
    superseded_by = fields.String(allow_none=True)
    document = fields.Nested(AgreementDocumentOut, allow_none=True)
    note = fields.String(allow_none=True)
    recorded_by = fields.String()
    recorded_at = fields.DateTime()
