"""Response schema of ``GET /api/v1/audit/public-keys`` (every published signing key).

Kept apart from ``schemas.py`` so key rotation adds a file instead of editing a shared one.
"""

from __future__ import annotations

from marshmallow import Schema, fields


class PublishedKeySchema(Schema):
    key_id = fields.String(metadata={"description": "C2SP signed-note key id (8 hex digits)"})
    algorithm = fields.String()
    status = fields.String(metadata={"description": "current or retired"})
    public_key_pem = fields.String()
    verifier_key = fields.String(metadata={"description": "C2SP signed-note verifier key"})
    valid_from = fields.String(allow_none=True)
    valid_until = fields.String(
        allow_none=True, metadata={"description": "null for the current key"}
    )
    checkpoints = fields.Integer(metadata={"description": "checkpoints this key signed"})
    last_signed_at = fields.String(allow_none=True)


class PublishedKeysSchema(Schema):
    origin = fields.String()
    current_key_id = fields.String()
    keys = fields.List(fields.Nested(PublishedKeySchema))
