"""API shapes of /api/v1/audit (privacy officer audience). Hashes are lowercase hex."""

from __future__ import annotations

from datetime import UTC

from marshmallow import Schema, fields, validate

from caseops.audit import actions
from caseops.audit.models import OUTCOMES, REVIEW_DECISIONS
from caseops.audit.trail import MAX_PAGE

SEQ = validate.Range(min=1, max=2**63 - 1)  # bigint


# An action the log can hold: a typo would otherwise answer "no entries" and look like a
# clean record. An enum, so the OpenAPI document lists the catalogue too.
CATALOGUED = validate.OneOf(
    sorted(actions.NAMES),
    error="Not a logged action; the catalogue is caseops.audit.actions (docs/audit-actions.md).",
)


class ScopeSchema(Schema):
    organisation = fields.Boolean(metadata={"description": "true: every agency's entries"})
    agency = fields.String(
        allow_none=True, metadata={"description": "the one agency overseen, if not organisation"}
    )


class EventQuerySchema(Schema):
    client_id = fields.String(load_default=None, validate=validate.Length(max=64))
    actor = fields.String(load_default=None, validate=validate.Length(max=150))
    agency = fields.String(load_default=None, validate=validate.Length(max=64))
    action = fields.String(
        load_default=None,
        validate=CATALOGUED,
        metadata={"description": "an action name of the catalogue (docs/audit-actions.md)"},
    )
    outcome = fields.String(load_default=None, validate=validate.OneOf(OUTCOMES))
    since = fields.AwareDateTime(
        load_default=None, default_timezone=UTC, metadata={"description": "inclusive"}
    )
    until = fields.AwareDateTime(
        load_default=None, default_timezone=UTC, metadata={"description": "exclusive"}
    )
    cursor = fields.Integer(
        load_default=None,
        validate=SEQ,
        metadata={"description": "next_cursor of the previous page (entries with a lower seq)"},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))


class EventSchema(Schema):
    seq = fields.Integer()
    occurred_at = fields.String(metadata={"description": "ISO 8601, UTC, microseconds"})
    actor = fields.String()
    actor_user_id = fields.Integer(allow_none=True)
    actor_agency = fields.String(allow_none=True)
    actor_roles = fields.List(fields.String())
    token_id = fields.Integer(allow_none=True)
    action = fields.String()
    outcome = fields.String()
    target_type = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    client_id = fields.String(allow_none=True)
    purpose = fields.String(allow_none=True)
    request_id = fields.String()
    channel = fields.String()
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    detail = fields.Dict()
    leaf_index = fields.Integer(
        allow_none=True, metadata={"description": "Merkle leaf index; null: not sealed yet"}
    )


class EventPageSchema(Schema):
    items = fields.List(fields.Nested(EventSchema))
    next_cursor = fields.Integer(allow_none=True)
    scope = fields.Nested(
        ScopeSchema, metadata={"description": "the part of the log the caller oversees"}
    )


class VerifySchema(Schema):
    ok = fields.Boolean()
    verified_size = fields.Integer()
    tree_size = fields.Integer()
    checkpoints = fields.Integer()
    first_bad_seq = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)


class CheckpointSchema(Schema):
    tree_size = fields.Integer()
    root_hash = fields.String()
    signed_at = fields.DateTime()
    origin = fields.String()
    key_id = fields.String()
    checkpoint = fields.String(metadata={"description": "the exact signed C2SP checkpoint text"})
    signature = fields.String(metadata={"description": "base64 Ed25519 signature of checkpoint"})


class PublicKeySchema(Schema):
    algorithm = fields.String()
    public_key_pem = fields.String()
    key_id = fields.String()
    origin = fields.String()
    verifier_key = fields.String(metadata={"description": "C2SP signed-note verifier key"})


class ProofQuerySchema(Schema):
    tree_size = fields.Integer(load_default=None, validate=SEQ)


class ProofSchema(Schema):
    seq = fields.Integer()
    leaf_index = fields.Integer()
    tree_size = fields.Integer()
    leaf_hash = fields.String()
    audit_path = fields.List(fields.String())
    root_hash = fields.String()
    checkpoint = fields.String()
    signature = fields.String()
    key_id = fields.String()


class ConsistencyQuerySchema(Schema):
    first = fields.Integer(required=True, validate=validate.Range(min=0, max=2**63 - 1))
    second = fields.Integer(load_default=None, validate=SEQ)


class ConsistencySchema(Schema):
    first = fields.Integer()
    second = fields.Integer()
    first_root = fields.String()
    second_root = fields.String()
    proof = fields.List(fields.String())


class ExportQuerySchema(Schema):
    since_seq = fields.Integer(load_default=None, validate=SEQ)
    until_seq = fields.Integer(load_default=None, validate=SEQ)
    tree_size = fields.Integer(load_default=None, validate=validate.Range(min=0, max=2**63 - 1))


class DisclosureQuerySchema(Schema):
    since = fields.AwareDateTime(
        load_default=None, default_timezone=UTC, metadata={"description": "inclusive"}
    )
    until = fields.AwareDateTime(
        load_default=None, default_timezone=UTC, metadata={"description": "exclusive"}
    )
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class DisclosureSchema(Schema):
    seq = fields.Integer()
    date = fields.String(metadata={"description": "ISO 8601, UTC"})
    recipient_agency = fields.String(allow_none=True)
    recipient_person = fields.String(metadata={"description": "username of the recipient"})
    description = fields.List(
        fields.String(), metadata={"description": "disclosed sections, agency/category"}
    )
    purpose = fields.String(allow_none=True)
    basis = fields.List(fields.String(), metadata={"description": "consent, break_glass, ..."})
    consent_ids = fields.List(fields.Raw())
    break_glass_grant = fields.Integer(allow_none=True)
    relationship = fields.List(
        fields.String(), metadata={"description": "care_team, referral, break_glass"}
    )
    referral_ids = fields.List(
        fields.String(), metadata={"description": "the referrals that were the need to know"}
    )


class DisclosureListSchema(Schema):
    client_id = fields.String()
    scope = fields.Nested(ScopeSchema)
    since = fields.String(allow_none=True)
    until = fields.String(allow_none=True)
    items = fields.List(fields.Nested(DisclosureSchema))


class BreakGlassQuerySchema(Schema):
    status = fields.String(
        load_default="open", validate=validate.OneOf(("open", "reviewed", "all"))
    )


class BreakGlassEventSchema(Schema):
    seq = fields.Integer()
    occurred_at = fields.String()
    action = fields.String()
    outcome = fields.String()
    actor = fields.String()
    purpose = fields.String(allow_none=True)
    disclosed = fields.List(fields.String(), metadata={"description": "agency/category"})


class BreakGlassReviewSchema(Schema):
    id = fields.Integer()
    decision = fields.String()
    note = fields.String()
    reviewed_by = fields.String()
    reviewed_at = fields.String()


class BreakGlassGrantSchema(Schema):
    id = fields.Integer()
    client_id = fields.String()
    username = fields.String()
    agency = fields.String()
    justification = fields.String()
    purpose = fields.String()
    starts_at = fields.String()
    expires_at = fields.String()
    status = fields.String(metadata={"description": "open (no review yet) or reviewed"})
    latest_decision = fields.String(allow_none=True)
    events = fields.List(fields.Nested(BreakGlassEventSchema))
    reviews = fields.List(fields.Nested(BreakGlassReviewSchema))


class BreakGlassQueueSchema(Schema):
    status = fields.String()
    scope = fields.Nested(ScopeSchema)
    items = fields.List(fields.Nested(BreakGlassGrantSchema))


class BreakGlassReviewInSchema(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(REVIEW_DECISIONS))
    note = fields.String(required=True, validate=validate.Length(min=5, max=2000))


class ActivityQuerySchema(Schema):
    since = fields.AwareDateTime(
        load_default=None,
        default_timezone=UTC,
        metadata={"description": "inclusive; default until minus 14 days"},
    )
    until = fields.AwareDateTime(
        load_default=None, default_timezone=UTC, metadata={"description": "exclusive; now"}
    )


class ActivityDaySchema(Schema):
    date = fields.String()
    views = fields.Integer()
    agencies = fields.Dict(keys=fields.String(), values=fields.Integer())
    users = fields.Dict(keys=fields.String(), values=fields.Integer())


class ActivityUserSchema(Schema):
    username = fields.String()
    agency = fields.String()
    views = fields.Integer()
    distinct_clients = fields.Integer()


class ActivityFlagSchema(Schema):
    kind = fields.String()
    username = fields.String()
    agency = fields.String()
    count = fields.Integer()
    agency_median = fields.Float()
    seqs = fields.List(fields.Integer())
    grant_ids = fields.List(fields.Integer())
    explanation = fields.String()


class ActivitySchema(Schema):
    scope = fields.Nested(ScopeSchema)
    since = fields.String()
    until = fields.String()
    working_hours_utc = fields.List(fields.Integer())
    high_volume_factor = fields.Integer()
    rules = fields.Dict(keys=fields.String(), values=fields.String())
    days = fields.List(fields.Nested(ActivityDaySchema))
    users = fields.List(fields.Nested(ActivityUserSchema))
    flags = fields.List(fields.Nested(ActivityFlagSchema))
