"""Marshmallow schemas of the access statement (``caseops.audit.statement``).

The statement's entries carry arbitrary revealed field values (a field's value is
whatever the log holds), so the nested parts are documented as objects; the format is
fixed by ``format`` and docs/access-statement.md."""

from __future__ import annotations

from marshmallow import Schema, fields


class StatementSchema(Schema):
    format = fields.String(metadata={"description": "caseops-access-statement/1"})
    client_id = fields.String()
    generated_at = fields.String(metadata={"description": "ISO 8601, UTC"})
    names = fields.Boolean(metadata={"description": "whether staff names are shown"})
    scope = fields.String(metadata={"description": "client | organisation | agency:<code>"})
    checkpoint = fields.Dict(
        allow_none=True,
        metadata={
            "description": "the signed checkpoint the proofs lead to: origin, tree_size, "
            "root_hash, signed_at, key_id, checkpoint (text), signature"
        },
    )
    public_key = fields.Dict(
        allow_none=True, metadata={"description": "algorithm, key_id, origin, public_key_pem"}
    )
    consistency = fields.String(metadata={"description": "how to hold the log to this checkpoint"})
    proves = fields.Dict(metadata={"description": "which fields a proven entry proves"})
    proof_statuses = fields.Dict(keys=fields.String(), values=fields.String())
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    entries = fields.List(
        fields.Dict(),
        metadata={
            "description": "oldest first: seq, occurred_at, kind, action, agency, roles, "
            "purpose, categories, basis, consents, referrals, break_glass, staff (if names), "
            "proof_status, and when proven leaf {v, seq, revealed, withheld} and proof "
            "{leaf_index, tree_size, audit_path}"
        },
    )
    left_out = fields.List(fields.Dict(), metadata={"description": "what is not listed, and why"})
    incidents = fields.List(
        fields.Dict(), metadata={"description": "incidents naming the client: id, timeline"}
    )
