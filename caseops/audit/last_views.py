"""A worker's last logged view of each of their clients, read back from the access log.

Why the log and not a table of "last viewed" rows: the log already holds every view, with
the purpose and (since issue 18) the fingerprint of what the worker saw, committed before
the page left the server. A second table would be a second truth that can disagree with
the log (a view whose log write failed was never shown, so it must not count as seen).

One statement for a whole caseload: the newest ``client.view`` per client, found through
the ``(actor, seq)`` index, so a caseload of fifty costs one query, not fifty.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from caseops.audit.models import AccessEvent
from caseops.extensions import db

EVENTS = AccessEvent.__table__
VIEW = "client.view"


@dataclass(frozen=True)
class LastView:
    """When the worker last opened the client's record, for which purpose, and the
    fingerprint of what they saw then (``None`` for views logged before issue 18)."""

    at: datetime
    purpose: str | None
    fingerprint: str | None


def last_views(username: str, client_ids: Iterable[str]) -> dict[str, LastView]:
    """client id -> the worker's newest logged view of it (absent: never viewed)."""
    wanted = sorted(set(client_ids))
    if not wanted:
        return {}
    newest = (
        select(func.max(EVENTS.c.seq))
        .where(
            EVENTS.c.actor == username,
            EVENTS.c.action == VIEW,
            EVENTS.c.client_id.in_(wanted),
        )
        .group_by(EVENTS.c.client_id)
    )
    rows = db.session.execute(
        select(EVENTS.c.client_id, EVENTS.c.occurred_at, EVENTS.c.purpose, EVENTS.c.detail).where(
            EVENTS.c.seq.in_(newest)
        )
    )
    return {
        client_id: LastView(at, purpose, (detail or {}).get("fingerprint"))
        for client_id, at, purpose, detail in rows
    }
