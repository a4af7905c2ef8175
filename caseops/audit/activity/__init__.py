"""Access volume per day and simple anomaly flags, for the privacy officer.

Counts are of ``client.view`` entries (a worker asking to see a client's record) in
``[since, until)``, bucketed by UTC day. The flags are prompts for a human to look,
not verdicts; each says why it was raised:

* ``high_volume`` -- a user looked at more distinct clients than ``HIGH_VOLUME_FACTOR``
  times the median of their agency's users in the same period (only agencies with at
  least two viewing users have a norm to compare with).
* ``off_hours`` -- a user's views outside ``WORKING_HOURS`` (UTC, start inclusive,
  end exclusive).
* ``no_relationship`` -- a user's views where at least one section was withheld for
  ``no_relationship``: they opened a client they are not connected to.
* ``unreviewed_break_glass`` -- break-the-glass grants no privacy officer has reviewed
  yet (whenever they were opened).

Scope. An officer of one agency counts the views in their scope
(``caseops.audit.scope``): their agency's workers' views and other agencies' views of
clients whose records their agency holds, each read through their agency's eyes, and
the unreviewed grants of their break-the-glass queue. Medians are of those views too.
An organisation-wide officer counts everything.

Nothing here reads record contents; the request is logged.

The package: `query` (the period, the views and grants in scope; the database),
`shaping` (counts per day, agency and user, and the report's JSON) and `rules` (the flag
rules, pure functions testable without a database). `activity()` is the entry point.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from caseops.audit.activity import query, rules, shaping
from caseops.audit.activity.query import DEFAULT_DAYS, MAX_DAYS
from caseops.audit.activity.rules import (
    HIGH_VOLUME_FACTOR,
    MAX_SEQS,
    RULES,
    WORKING_HOURS,
    off_hours,
)
from caseops.audit.service import record
from caseops.audit.trail import authorize
from caseops.authz.actor import Actor

__all__ = [
    "DEFAULT_DAYS",
    "HIGH_VOLUME_FACTOR",
    "MAX_DAYS",
    "MAX_SEQS",
    "RULES",
    "WORKING_HOURS",
    "activity",
    "off_hours",
]


def activity(
    actor: Actor, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """The activity report for `[since, until)` in the actor's scope; the request is logged."""
    scope = authorize(actor, "read", "activity")
    since, until = query.period(since, until)
    rows = query.view_rows(scope, since, until)
    counts = shaping.tally(rows, lambda row: query.withheld_reasons(scope, row))
    users = shaping.users(counts)
    flags = [
        *rules.high_volume_flags(users),
        *rules.view_flags("off_hours", counts.late, counts.agency_of),
        *rules.view_flags("no_relationship", counts.unrelated, counts.agency_of),
    ]
    flags += rules.break_glass_flags(g.id for g in query.unreviewed_grants(scope))
    days = shaping.days(counts)
    record(
        "audit.activity",
        actor=actor,
        target_type="access_log",
        detail={
            "since": since.isoformat(),
            "until": until.isoformat(),
            "views": len(rows),
            "flags": len(flags),
            "scope": scope.as_dict(),
        },
    )
    return shaping.report(
        scope=scope.as_dict(), since=since, until=until, days=days, users=users, flags=flags
    )
