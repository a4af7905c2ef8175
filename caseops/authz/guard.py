"""The functions that refuse: ask a predicate, and on "no" log the refusal and raise.

Every refusal in caseops goes through ``refuse`` so that each one is logged the same way
(one ``outcome="denied"`` entry naming the action and the reason) before the caller hears
of it. Predicates (the questions) live in ``caseops.authz.permissions``.
"""

from __future__ import annotations

from typing import Any, NoReturn

from caseops.audit.service import record as audit
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.errors import DomainError, Forbidden


def refuse(
    actor: Actor,
    action: str,
    message: str,
    *,
    reason: str = "policy",
    client_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    detail: dict[str, Any] | None = None,
    error: type[DomainError] = Forbidden,
) -> NoReturn:
    """Write a denied ``action`` entry (committed on its own, so it survives the caller's
    rollback), then raise ``error(message)``."""
    audit(
        action,
        actor=actor,
        outcome="denied",
        target_type=target_type,
        target_id=target_id,
        client_id=client_id,
        detail={"reason": reason} | (detail or {}),
    )
    raise error(message)


def require(
    actor: Actor, obj: str, act: str, *, action: str, message: str, client_id: str | None = None
) -> None:
    """Return if the policy lets ``actor`` do ``act`` on ``obj``; otherwise refuse."""
    if permissions.may(actor, obj, act):
        return
    refuse(actor, action, message, client_id=client_id)
