"""The client's pages in plain words: what the log's codes mean to the person they are
about (pure: no Flask, no database). Staff pages say "care_team" or "break_glass_part2";
a client reads "an emergency (break-the-glass), under review"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo

ROLES = {
    "case_worker": "a case worker",
    "supervisor": "a supervisor",
    "consent_officer": "a consent officer",
    "privacy_officer": "a privacy officer",
    "data_steward": "a records officer",
    "agency_admin": "an administrator",
    "system_admin": "a system administrator",
    "integration": "the agency's computer system",
}
PURPOSES = {
    "care_coordination": "to coordinate your care",
    "treatment": "to treat you",
    "payment": "for payment",
    "operations": "for the agency's operations",
    "eligibility": "to check what you are eligible for",
    "emergency": "in an emergency",
}
CATEGORIES = {
    "housing": "housing",
    "health": "health",
    "behavioral_health": "mental health",
    "substance_use": "substance use treatment",
    "education": "education",
    "child_welfare": "child and family services",
    "justice": "justice",
    "economic_security": "income and benefits",
    "early_childhood": "early childhood",
}
REVIEW = {
    "open": "under review by a privacy officer",
    "acknowledged": "reviewed by a privacy officer",
    "escalated": "escalated by a privacy officer for further action",
}
KINDS = {
    "view": None,
    "emergency_access": "opened your record in an emergency (break-the-glass)",
    "referral_read": "read a referral about you",
}
REFERRAL_STATUS = {
    "requested": "sent, waiting for an answer",
    "accepted": "accepted",
    "in-progress": "in progress",
    "on-hold": "on hold",
    "completed": "completed",
    "failed": "could not be completed",
    "rejected": "not accepted",
    "cancelled": "cancelled",
    "entered-in-error": "made by mistake and withdrawn",
}
CONSENT_STATUS = {
    "active": "in force",
    "not_yet_effective": "not yet in force",
    "expired": "ended (expired)",
    "revoked": "revoked",
    "superseded": "replaced by a newer version",
    "draft": "draft",
}


def day(value: datetime | None, zone: tzinfo = UTC) -> str:
    """``3 March 2026``: no leading zero, month in words (never 03/04 ambiguity)."""
    if value is None:
        return ""
    local = value.astimezone(zone)
    return f"{local.day} {local:%B %Y}"


def moment(value: datetime, zone: tzinfo = UTC, zone_label: str = "UTC") -> str:
    """``3 March 2026 at 14:05 UTC``: the deployment's time zone, always named."""
    local = value.astimezone(zone)
    return f"{day(local, zone)} at {local:%H:%M} {zone_label}"


def role(roles: Iterable[str]) -> str:
    found = [ROLES.get(r, r.replace("_", " ")) for r in sorted(roles)]
    return " and ".join(found) if found else "someone"


def purpose(code: str | None) -> str:
    if not code:
        return "no purpose recorded"
    return PURPOSES.get(code, code.replace("_", " "))


def category(code: str) -> str:
    return CATEGORIES.get(code, code.replace("_", " "))


def listing(items: Iterable[str]) -> str:
    """``a, b and c``."""
    found = list(dict.fromkeys(items))
    if len(found) <= 1:
        return "".join(found)
    return ", ".join(found[:-1]) + " and " + found[-1]


def basis(
    code: str,
    *,
    consent_days: Iterable[str] = (),
    through_referral: bool = False,
    review: str | None = None,
) -> str:
    """One basis of a statement entry in words: their own record, your consent of <date>,
    a referral, an emergency (with its review state)."""
    if code.startswith("break_glass") or code == "emergency":
        return f"an emergency (break-the-glass), {review_state(review)}"
    if code == "own_agency":
        return "their own record"
    if code == "consent":
        dates = listing(f"your consent of {d}" for d in sorted(set(consent_days)))
        words = dates or "your consent"
        return f"{words}, through a referral" if through_referral else words
    if code == "referral":
        return "a referral"
    return code.replace("_", " ")


def review_state(state: str | None) -> str:
    """A break-the-glass grant's review state (the statement's ``open``, ``acknowledged``,
    ``escalated``) in words."""
    return REVIEW.get(state or "open", REVIEW["open"])


def agency(code: str | None, names: Mapping[str, str]) -> str:
    if not code:
        return "the service itself"
    return names.get(code, code)
