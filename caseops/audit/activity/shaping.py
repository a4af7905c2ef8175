"""The activity report's statistics and shape: counts per day, agency and user, and the JSON
the API and the privacy officer's page show. Pure: rows in, dicts out."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from caseops.audit.activity.rules import (
    HIGH_VOLUME_FACTOR,
    RULES,
    WORKING_HOURS,
    off_hours,
    withheld_without_relationship,
)


def _per_day() -> defaultdict[str, dict[str, Counter]]:
    return defaultdict(lambda: {"agencies": Counter(), "users": Counter()})


@dataclass
class Tally:
    """The period's views counted per day, agency and user, with the seqs the rules need."""

    per_day: defaultdict[str, dict[str, Counter]] = field(default_factory=_per_day)
    agency_of: dict[str, str] = field(default_factory=dict)
    views: Counter = field(default_factory=Counter)
    clients: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    late: defaultdict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    unrelated: defaultdict[str, list[int]] = field(default_factory=lambda: defaultdict(list))


def tally(rows: Iterable[Any], reasons: Callable[[Any], Mapping[str, str]]) -> Tally:
    """Count `client.view` rows (seq, occurred_at, actor, actor_agency, client_id);
    `reasons(row)` gives the withheld sections' reasons the officer may read."""
    out = Tally()
    for row in rows:
        day = row.occurred_at.astimezone(UTC).date().isoformat()
        agency = row.actor_agency or ""
        out.per_day[day]["agencies"][agency] += 1
        out.per_day[day]["users"][row.actor] += 1
        out.agency_of[row.actor] = agency
        out.views[row.actor] += 1
        if row.client_id:
            out.clients[row.actor].add(row.client_id)
        if off_hours(row.occurred_at):
            out.late[row.actor].append(row.seq)
        if withheld_without_relationship(reasons(row)):
            out.unrelated[row.actor].append(row.seq)
    return out


def users(counts: Tally) -> list[dict[str, Any]]:
    """One entry per viewing user, by name."""
    return [
        {
            "username": name,
            "agency": counts.agency_of[name],
            "views": counts.views[name],
            "distinct_clients": len(counts.clients[name]),
        }
        for name in sorted(counts.views)
    ]


def days(counts: Tally) -> list[dict[str, Any]]:
    """One entry per UTC day with views, in date order."""
    return [
        {
            "date": day,
            "views": sum(per["users"].values()),
            "agencies": dict(sorted(per["agencies"].items())),
            "users": dict(sorted(per["users"].items())),
        }
        for day, per in sorted(counts.per_day.items())
    ]


def report(
    *,
    scope: Mapping[str, Any],
    since: datetime,
    until: datetime,
    days: list[dict[str, Any]],
    users: list[dict[str, Any]],
    flags: list[dict[str, Any]],
) -> dict[str, Any]:
    """The activity report as the API returns it."""
    return {
        "scope": scope,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "working_hours_utc": list(WORKING_HOURS),
        "high_volume_factor": HIGH_VOLUME_FACTOR,
        "rules": RULES,
        "days": days,
        "users": users,
        "flags": flags,
    }
