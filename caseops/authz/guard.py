"""The one way a service refuses on policy grounds: ask Casbin, and log the refusal."""

from __future__ import annotations

from caseops.audit.service import record as audit
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.errors import Forbidden


def require(
    actor: Actor, obj: str, act: str, *, action: str, message: str, client_id: str | None = None
) -> None:
    """Return if the policy lets ``actor`` do ``act`` on ``obj``; otherwise write a denied
    ``action`` entry to the access log and raise Forbidden(``message``)."""
    if policy.allowed(actor, obj, act):
        return
    audit(action, actor=actor, outcome="denied", client_id=client_id, detail={"reason": "policy"})
    raise Forbidden(message)
