"""/api/v1/users: accounts, roles, second-factor resets and tokens."""

from __future__ import annotations

from caseops.auth.current import current_actor
from caseops.extensions import ApiBlueprint
from caseops.users import service
from caseops.users.schemas import (
    CreatedUserSchema,
    IssuedTokenSchema,
    RolesSchema,
    TokenCreateSchema,
    TokenSchema,
    UserCreateSchema,
    UserQuerySchema,
    UserSchema,
)

blp = ApiBlueprint("users", __name__, url_prefix="/api/v1/users", description="Users and tokens")


@blp.get("")
@blp.arguments(UserQuerySchema, location="query")
@blp.response(200, UserSchema(many=True))
def list_users(query):
    """Users of the caller's agency (agency_admin) or any agency (system_admin);
    ``pending=true``: those with roles awaiting their agency's approval."""
    listed = service.list_users(current_actor(), query["agency"], pending=query["pending"])
    return [service.describe(u) for u in listed]


@blp.post("")
@blp.arguments(UserCreateSchema)
@blp.response(201, CreatedUserSchema)
def create_user(data):
    """Create a user in an agency with roles."""
    created = service.create_user(current_actor(), data)
    return service.describe(created.user) | {"initial_password": created.initial_password}


@blp.get("/<username>")
@blp.response(200, UserSchema)
def get_user(username):
    return service.describe(service.view_user(current_actor(), username))


@blp.put("/<username>/roles")
@blp.arguments(RolesSchema)
@blp.response(200, UserSchema)
def change_roles(data, username):
    return service.describe(service.change_roles(current_actor(), username, data["roles"]))


@blp.post("/<username>/approve")
@blp.response(200, UserSchema)
def approve(username):
    """Approve roles that read client records granted from outside the account's agency
    (an administrator of the account's agency, never the grantor)."""
    return service.describe(service.approve(current_actor(), username))


@blp.post("/<username>/deactivate")
@blp.response(200, UserSchema)
def deactivate(username):
    return service.describe(service.deactivate(current_actor(), username))


@blp.post("/<username>/reactivate")
@blp.response(200, UserSchema)
def reactivate(username):
    return service.describe(service.reactivate(current_actor(), username))


@blp.post("/<username>/reset-second-factor")
@blp.response(200, UserSchema)
def reset_second_factor(username):
    return service.describe(service.reset_second_factor(current_actor(), username))


@blp.post("/<username>/unlock")
@blp.response(200, UserSchema)
def unlock(username):
    return service.describe(service.unlock(current_actor(), username))


@blp.get("/<username>/tokens")
@blp.response(200, TokenSchema(many=True))
def list_tokens(username):
    return service.list_tokens(current_actor(), username)


@blp.post("/<username>/tokens")
@blp.arguments(TokenCreateSchema)
@blp.response(201, IssuedTokenSchema)
def create_token(data, username):
    """Issue a bearer token (shown once). Scopes are a subset of the user's roles."""
    issued = service.create_token(current_actor(), username, data)
    return {name: getattr(issued.token, name) for name in TokenSchema().fields} | {
        "token": issued.plaintext
    }


@blp.delete("/<username>/tokens/<int:token_id>")
@blp.response(200, TokenSchema)
def revoke_token(username, token_id):
    """Revoke a token; it stops working on the next request."""
    return service.revoke_token(current_actor(), username, token_id)
