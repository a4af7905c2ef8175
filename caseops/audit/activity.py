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
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import select

from caseops.access.models import BreakGlassGrant
from caseops.audit import break_glass
from caseops.audit.models import AccessEvent, BreakGlassReview
from caseops.audit.scope import AuditScope
from caseops.audit.service import record
from caseops.audit.trail import authorize
from caseops.authz.actor import Actor
from caseops.db_types import utcnow
from caseops.errors import ValidationFailed
from caseops.extensions import db

WORKING_HOURS = (7, 19)  # UTC hours: 07:00 inclusive to 19:00 exclusive
HIGH_VOLUME_FACTOR = 3
DEFAULT_DAYS = 14
MAX_DAYS = 366
MAX_SEQS = 20  # example entries listed per flag

RULES = {
    "high_volume": (
        f"Viewed more distinct clients than {HIGH_VOLUME_FACTOR}x the median of the "
        "agency's users in this period."
    ),
    "off_hours": (
        f"Viewed client records outside {WORKING_HOURS[0]:02d}:00-{WORKING_HOURS[1]:02d}:00 UTC."
    ),
    "no_relationship": (
        "Opened clients they have no care-team, assignment or referral relationship with "
        "(sections withheld as no_relationship)."
    ),
    "unreviewed_break_glass": "Break-the-glass grants that no privacy officer has reviewed yet.",
}


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    until = until or utcnow()
    since = since or until - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise ValidationFailed("Empty period.", details={"since": ["Must be before until."]})
    if until - since > timedelta(days=MAX_DAYS):
        raise ValidationFailed(
            "Period too long.", details={"since": [f"At most {MAX_DAYS} days before until."]}
        )
    return since, until


def off_hours(at: datetime) -> bool:
    start, end = WORKING_HOURS
    return not start <= at.astimezone(UTC).hour < end


def _reasons(scope: AuditScope, row) -> dict[str, str]:
    """The withheld sections' reasons the officer may read (a hidden Part 2 section must
    not raise a flag its listing would not show)."""
    return scope.redact_detail(row.detail, row.actor_agency, set()).get("reasons") or {}


def activity(
    actor: Actor, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    scope = authorize(actor, "read", "activity")
    since, until = _period(since, until)
    rows = db.session.execute(
        select(
            AccessEvent.seq,
            AccessEvent.occurred_at,
            AccessEvent.actor,
            AccessEvent.actor_agency,
            AccessEvent.client_id,
            AccessEvent.detail,
        )
        .where(
            AccessEvent.action == "client.view",
            AccessEvent.occurred_at >= since,
            AccessEvent.occurred_at < until,
            scope.events_condition(),
        )
        .order_by(AccessEvent.seq)
    ).all()
    rows = [r for r in rows if scope.admits("client.view", r.actor_agency, r.detail)]

    per_day: dict[str, dict[str, Counter]] = defaultdict(
        lambda: {"agencies": Counter(), "users": Counter()}
    )
    agency_of: dict[str, str] = {}
    views: Counter = Counter()
    clients: dict[str, set[str]] = defaultdict(set)
    late: dict[str, list[int]] = defaultdict(list)
    unrelated: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        day = row.occurred_at.astimezone(UTC).date().isoformat()
        agency = row.actor_agency or ""
        per_day[day]["agencies"][agency] += 1
        per_day[day]["users"][row.actor] += 1
        agency_of[row.actor] = agency
        views[row.actor] += 1
        if row.client_id:
            clients[row.actor].add(row.client_id)
        if off_hours(row.occurred_at):
            late[row.actor].append(row.seq)
        reasons = _reasons(scope, row)
        if "no_relationship" in reasons.values():
            unrelated[row.actor].append(row.seq)

    users = [
        {
            "username": name,
            "agency": agency_of[name],
            "views": views[name],
            "distinct_clients": len(clients[name]),
        }
        for name in sorted(views)
    ]
    flags: list[dict[str, Any]] = []
    by_agency: dict[str, list[int]] = defaultdict(list)
    for user in users:
        by_agency[user["agency"]].append(user["distinct_clients"])
    for user in users:
        peers = by_agency[user["agency"]]
        norm = median(peers)
        if len(peers) >= 2 and user["distinct_clients"] > HIGH_VOLUME_FACTOR * norm:
            flags.append(
                {
                    "kind": "high_volume",
                    "username": user["username"],
                    "agency": user["agency"],
                    "count": user["distinct_clients"],
                    "agency_median": norm,
                    "explanation": f"{user['distinct_clients']} distinct clients; the median "
                    f"of {user['agency']}'s {len(peers)} users is {norm:g}.",
                }
            )
    for kind, found in (("off_hours", late), ("no_relationship", unrelated)):
        for name in sorted(found):
            flags.append(
                {
                    "kind": kind,
                    "username": name,
                    "agency": agency_of[name],
                    "count": len(found[name]),
                    "seqs": found[name][:MAX_SEQS],
                    "explanation": f"{len(found[name])} view(s): {RULES[kind]}",
                }
            )
    reviewed = select(BreakGlassReview.grant_id)
    open_grants = break_glass.in_scope(
        scope,
        list(
            db.session.scalars(
                select(BreakGlassGrant)
                .where(BreakGlassGrant.id.not_in(reviewed), scope.grants_condition())
                .order_by(BreakGlassGrant.id)
            )
        ),
    )
    if open_grants:
        flags.append(
            {
                "kind": "unreviewed_break_glass",
                "count": len(open_grants),
                "grant_ids": [g.id for g in open_grants][:MAX_SEQS],
                "explanation": f"{len(open_grants)} grant(s): {RULES['unreviewed_break_glass']}",
            }
        )

    days = [
        {
            "date": day,
            "views": sum(counts["users"].values()),
            "agencies": dict(sorted(counts["agencies"].items())),
            "users": dict(sorted(counts["users"].items())),
        }
        for day, counts in sorted(per_day.items())
    ]
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
    return {
        "scope": scope.as_dict(),
        "since": since.isoformat(),
        "until": until.isoformat(),
        "working_hours_utc": list(WORKING_HOURS),
        "high_volume_factor": HIGH_VOLUME_FACTOR,
        "rules": RULES,
        "days": days,
        "users": users,
        "flags": flags,
    }
