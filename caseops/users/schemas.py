"""API shapes for users and tokens (admin audience)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from caseops.agencies.schemas import CODE_PATTERN
from caseops.vocabulary import ROLES

# A username never equals a role name: Casbin would read it as that role. A list of
# validators (not validate.And) so that the OpenAPI document carries the pattern.
USERNAME = [
    validate.Regexp(
        r"^[a-z][a-z0-9._-]{2,63}$",
        error="Use 3-64 lowercase letters, digits, '.', '-' or '_', starting with a letter.",
    ),
    validate.NoneOf(ROLES, error="A username cannot be a role name."),
]
ROLE_LIST = fields.List(
    fields.String(validate=validate.OneOf(ROLES)), required=True, validate=validate.Length(min=1)
)


class UserCreateSchema(Schema):
    username = fields.String(required=True, validate=USERNAME)
    agency = fields.String(required=True, validate=validate.Regexp(CODE_PATTERN))
    roles = ROLE_LIST
    password = fields.String(load_default=None, validate=validate.Length(max=1024))
    email = fields.Email(load_default=None)
    display_name = fields.String(load_default=None, validate=validate.Length(max=200))


class RolesSchema(Schema):
    roles = ROLE_LIST


class UserSchema(Schema):
    username = fields.String()
    agency = fields.String()
    kind = fields.String()
    display_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    active = fields.Boolean()
    roles = fields.List(fields.String(), metadata={"description": "Roles in force."})
    pending_roles = fields.List(
        fields.String(),
        metadata={"description": "Roles that read client records, awaiting the agency's approval."},
    )
    pending_granted_by = fields.String(
        allow_none=True, metadata={"description": "Who granted the pending roles."}
    )
    second_factor_enrolled = fields.Boolean()
    locked_until = fields.DateTime(allow_none=True)
    last_login_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class CreatedUserSchema(UserSchema):
    initial_password = fields.String(
        allow_none=True, metadata={"description": "Shown once when no password was given."}
    )


class TokenCreateSchema(Schema):
    scopes = fields.List(fields.String(validate=validate.OneOf(ROLES)), load_default=None)
    expires_in_days = fields.Integer(load_default=None, validate=validate.Range(min=1, max=365))
    name = fields.String(load_default=None, validate=validate.Length(max=100))


class TokenSchema(Schema):
    id = fields.Integer()
    name = fields.String(allow_none=True)
    scopes = fields.List(fields.String())
    created_by = fields.String()
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)


class IssuedTokenSchema(TokenSchema):
    token = fields.String(metadata={"description": "The bearer value. Shown once, never again."})


class UserQuerySchema(Schema):
    agency = fields.String(load_default=None, validate=validate.Regexp(CODE_PATTERN))
    pending = fields.Boolean(
        load_default=False, metadata={"description": "Only accounts with roles awaiting approval."}
    )
