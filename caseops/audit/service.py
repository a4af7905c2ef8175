"""The one audit writer. Every feature that shows, hides, searches or changes anything
calls ``record``; nothing else inserts into ``access_events``.

Two ways to write, both fail closed (``AuditUnavailable``, so nothing is shown):

* ``record(..., session=s)`` joins the caller's transaction: a change and its log entry
  commit together or not at all (consent changes, admin changes).
* ``record(...)`` commits the entry on its own, before the caller returns any data
  (views, searches, logins) and even when the caller's own work is rolled back
  (denials, failed logins).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, make_transient_to_detached

from caseops.audit.models import OUTCOMES, AccessEvent
from caseops.authz.actor import Actor
from caseops.context import current_origin
from caseops.db_types import utcnow
from caseops.errors import AuditUnavailable
from caseops.extensions import db

log = logging.getLogger(__name__)
_INSERT = insert(AccessEvent.__table__).returning(AccessEvent.__table__.c.seq)


def record(
    action: str,
    *,
    actor: Actor,
    outcome: str = "success",
    target_type: str | None = None,
    target_id: str | None = None,
    client_id: str | None = None,
    purpose: str | None = None,
    detail: dict[str, Any] | None = None,
    session: Session | None = None,
) -> AccessEvent:
    """Append one entry to the access log; raise ``AuditUnavailable`` if it cannot be."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    origin = current_origin()
    values = {
        "occurred_at": utcnow(),
        "actor": actor.username,
        "actor_user_id": actor.user_id,
        "actor_agency": actor.agency,
        "actor_roles": sorted(actor.roles),
        "token_id": actor.token_id,
        "action": action,
        "outcome": outcome,
        "target_type": target_type,
        "target_id": None if target_id is None else str(target_id),
        "client_id": client_id,
        "purpose": purpose,
        "request_id": origin.request_id,
        "channel": origin.channel,
        "ip": origin.ip,
        "user_agent": (origin.user_agent or "")[:512] or None,
        "detail": detail or {},
    }
    event = AccessEvent(**values)
    try:
        if session is not None:
            session.add(event)
            session.flush()
        else:
            # One INSERT ... RETURNING that commits by itself (autocommit): one round
            # trip instead of BEGIN, INSERT, COMMIT, and no ORM unit of work, which is
            # what lets the log keep up with many concurrent writers. It is durable
            # once it returns, like a commit. The entry comes back detached, as from
            # a session.
            with db.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT")
                event.seq = connection.execute(_INSERT, values).scalar_one()
            make_transient_to_detached(event)
    except SQLAlchemyError as exc:
        log.error("access log write failed for action %s: %s", action, exc.__class__.__name__)
        raise AuditUnavailable(
            "The access log could not be written, so the request was refused."
        ) from exc
    return event
