"""API shapes for consents. Types only: the legal completeness checks (42 CFR 2.31,
34 CFR 99.30) live in the consent domain package and come back per field."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from consent import CLIENT_METHODS

CODE_LIST = fields.List(fields.String(validate=validate.Length(min=1, max=32)), load_default=list)


class GrantorSchema(Schema):
    kind = fields.String(load_default=None)
    name = fields.String(load_default=None, validate=validate.Length(max=200))


class EvidenceSchema(Schema):
    method = fields.String(load_default=None)
    document_sha256 = fields.String(load_default=None)


class ConsentBodySchema(Schema):
    provision = fields.String(load_default=None)
    source_agencies = CODE_LIST
    categories = CODE_LIST
    recipients = CODE_LIST
    purposes = CODE_LIST
    effective_from = fields.AwareDateTime(load_default=None)
    expires_at = fields.AwareDateTime(load_default=None)
    expiry_event = fields.String(load_default=None, validate=validate.Length(max=200))
    grantor = fields.Nested(GrantorSchema, load_default=dict)
    signed_at = fields.AwareDateTime(load_default=None)
    evidence = fields.Nested(EvidenceSchema, load_default=dict)
    revocation_right_acknowledged = fields.Boolean(load_default=False)
    # 42 CFR Part 2 as amended in 2024 (docs/part2-2024.md)
    intermediary = fields.String(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "the intermediary named on the consent (2.31(a)(4)(ii))"},
    )
    general_designation = fields.String(
        load_default=None,
        validate=validate.Length(max=64),
        metadata={
            "description": "'treating_provider_relationship': participants of the intermediary "
            "with a treating provider relationship with the patient (2.31(a)(4)(ii)(B))"
        },
    )
    recipient_description = fields.String(
        load_default=None,
        validate=validate.Length(max=500),
        metadata={"description": "the class of recipients in the consent's words (2.31(a)(4)(i))"},
    )
    hipaa_redisclosure_statement = fields.Boolean(
        load_default=False,
        metadata={"description": "the consent carries the 2.31(a)(4)(iii) statement"},
    )


class RevokeSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=1000))
    method = fields.String(
        load_default="written", validate=validate.OneOf([m.value for m in CLIENT_METHODS])
    )


class RevocationOut(Schema):
    revoked_at = fields.DateTime()
    revoked_by = fields.String()
    reason = fields.String()
    method = fields.String()


class AttestationOut(Schema):
    agency = fields.String()
    attested_by = fields.String()
    attested_at = fields.DateTime()


class ConsentOut(Schema):
    id = fields.String()
    client_id = fields.String()
    version = fields.Integer()
    supersedes = fields.String(allow_none=True)
    superseded_by = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "derived now: active, expired, revoked, ..."})
    provision = fields.String()
    source_agencies = fields.List(fields.String())
    categories = fields.List(fields.String())
    recipients = fields.List(fields.String())
    purposes = fields.List(fields.String())
    effective_from = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    expiry_event = fields.String(allow_none=True)
    signed_at = fields.DateTime()
    grantor = fields.Dict()
    evidence = fields.Dict()
    revocation_right_acknowledged = fields.Boolean()
    intermediary = fields.String(allow_none=True)
    general_designation = fields.String(allow_none=True)
    recipient_description = fields.String(allow_none=True)
    hipaa_redisclosure_statement = fields.Boolean()
    recorded_by = fields.String()
    recorded_by_agency = fields.String(
        allow_none=True,
        metadata={"description": "the agency that recorded it: it stands behind its own data"},
    )
    recorded_at = fields.DateTime()
    attestations = fields.List(
        fields.Nested(AttestationOut),
        metadata={"description": "source agencies whose consent officers stood behind it"},
    )
    revocation = fields.Nested(RevocationOut, allow_none=True)


class AttestationQueueQuery(Schema):
    status = fields.String(load_default="pending", validate=validate.OneOf(["pending"]))


class TimelineEvent(Schema):
    at = fields.DateTime()
    event = fields.String()
    consent_id = fields.String()
    version = fields.Integer()
    by = fields.String()
    detail = fields.String(allow_none=True)


class ClientConsentsOut(Schema):
    client_id = fields.String()
    consents = fields.List(fields.Nested(ConsentOut))
    timeline = fields.List(fields.Nested(TimelineEvent))


class SharingQuery(Schema):
    purpose = fields.String(load_default="care_coordination")


class ExpiringQuery(Schema):
    days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=365))


class DocumentOut(Schema):
    id = fields.Integer()
    sha256 = fields.String()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    uploaded_at = fields.DateTime()
