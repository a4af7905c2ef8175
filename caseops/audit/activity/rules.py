"""The activity report's flag rules: pure functions over counts, no database.

Each rule turns the period's statistics into flags; a flag is a prompt for a human to look,
not a verdict, and says why it was raised (`RULES`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from statistics import median
from typing import Any

WORKING_HOURS = (7, 19)  # UTC hours: 07:00 inclusive to 19:00 exclusive
HIGH_VOLUME_FACTOR = 3
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


def off_hours(at: datetime) -> bool:
    """Whether a view at `at` falls outside `WORKING_HOURS` (UTC)."""
    start, end = WORKING_HOURS
    return not start <= at.astimezone(UTC).hour < end


def withheld_without_relationship(reasons: Mapping[str, str]) -> bool:
    """Whether a view withheld at least one section for `no_relationship`."""
    return "no_relationship" in reasons.values()


def high_volume_flags(users: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Users who viewed more distinct clients than `HIGH_VOLUME_FACTOR` times their agency's
    median (only agencies with at least two viewing users have a norm), in `users` order."""
    flags: list[dict[str, Any]] = []
    by_agency: dict[str, list[int]] = {}
    for user in users:
        by_agency.setdefault(user["agency"], []).append(user["distinct_clients"])
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
    return flags


def view_flags(
    kind: str, found: Mapping[str, Sequence[int]], agency_of: Mapping[str, str]
) -> list[dict[str, Any]]:
    """One flag per user with views of `kind` (`off_hours` or `no_relationship`), by name;
    `found` maps each user to the seqs of those views."""
    return [
        {
            "kind": kind,
            "username": name,
            "agency": agency_of[name],
            "count": len(found[name]),
            "seqs": list(found[name][:MAX_SEQS]),
            "explanation": f"{len(found[name])} view(s): {RULES[kind]}",
        }
        for name in sorted(found)
    ]


def break_glass_flags(grant_ids: Iterable[str]) -> list[dict[str, Any]]:
    """One flag listing the unreviewed break-the-glass grants, or none when there are none."""
    ids = list(grant_ids)
    if not ids:
        return []
    return [
        {
            "kind": "unreviewed_break_glass",
            "count": len(ids),
            "grant_ids": ids[:MAX_SEQS],
            "explanation": f"{len(ids)} grant(s): {RULES['unreviewed_break_glass']}",
        }
    ]
