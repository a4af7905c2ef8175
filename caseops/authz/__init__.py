"""Authorization: the Casbin role policy, relationship checks and the acting user."""

from caseops.authz.actor import Actor

__all__ = ["Actor"]
