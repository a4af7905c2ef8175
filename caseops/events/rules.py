"""What an event may carry and who reads it: pure tables, no Flask, no SQLAlchemy.

An event tells a person that something concerning them happened and carries only what
lets their page ask again through the access decision: ids, and kinds (a status code, a
record category, an agency code). Never a name, a title, a note or a value from a
record: ``check_data`` refuses anything else (a ValueError, a programming error), so
contents cannot reach a stream by mistake.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from caseops.vocabulary import CATEGORIES

# The same names as the webhooks (DESIGN.md, "The worker's desk"). Issue 18's text calls
# the first two ``referral.incoming`` and ``referral.status``: those are these.
EVENT_KINDS: tuple[str, ...] = (
    "referral.requested",
    "referral.status_changed",
    "task.assigned",
    "consent.revoked",
    "client.updated",
)

# An event addressed to an agency reaches that agency's users holding one of these roles
# (an event addressed to a user reaches that user whatever their roles). Kinds absent
# here are addressed to users only.
# Referrals: only supervisors agency-wide, as a referral is known on the receiving side to
# its supervisors and assigned worker only (the ``referral`` rule of
# caseops/authz/endpoint_rules.py); the assigned worker and the sending worker are told
# by name (``caseops.events.producers.referral_event``).
AGENCY_AUDIENCE: dict[str, frozenset[str]] = {
    "referral.requested": frozenset({"supervisor"}),
    "referral.status_changed": frozenset({"supervisor"}),
    "consent.revoked": frozenset({"case_worker", "supervisor", "consent_officer"}),
}

ID_KEY = re.compile(r"^[a-z][a-z0-9_]{0,40}_id$")
ID_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
AGENCY_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
STATUS_KEYS = frozenset({"status", "previous_status"})
STATUS_VALUE = re.compile(r"^[a-z][a-z-]{1,31}$")
MAX_DATA_KEYS = 8


def check_data(data: Mapping[str, object]) -> dict[str, str]:
    """``data`` as a plain dict of strings, or ValueError when anything is not an id or kind.

    Keys: ``<thing>_id`` with a short opaque id (an integer id is turned into its
    string); ``status`` / ``previous_status`` with a state code; ``category`` with a
    record category of the vocabulary; ``agency`` with an agency code.
    """
    if not isinstance(data, Mapping) or len(data) > MAX_DATA_KEYS:
        raise ValueError(f"event data must be a mapping of at most {MAX_DATA_KEYS} ids")
    checked: dict[str, str] = {}
    for key, raw in data.items():
        if not isinstance(key, str):
            raise ValueError("event data keys must be strings")
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise ValueError(f"event data {key!r} must be an id (string or integer)")
        value = str(raw)
        if key in STATUS_KEYS:
            ok = bool(STATUS_VALUE.match(value))
        elif key == "category":
            ok = value in CATEGORIES
        elif key == "agency":
            ok = bool(AGENCY_CODE.match(value))
        elif ID_KEY.match(key):
            ok = bool(ID_VALUE.match(value))
        else:
            raise ValueError(f"event data key {key!r} is not an id or a kind (ids only)")
        if not ok:
            raise ValueError(f"event data {key!r} is not a short id or code (no client data)")
        checked[key] = value
    return checked


def reaches(kind: str, roles: frozenset[str]) -> bool:
    """Whether an event of ``kind`` addressed to an agency reaches a user of that agency
    holding ``roles``."""
    return bool(AGENCY_AUDIENCE.get(kind, frozenset()) & roles)


def agency_kinds(roles: frozenset[str]) -> tuple[str, ...]:
    """The agency-addressed kinds a user holding ``roles`` reads (sorted)."""
    return tuple(sorted(kind for kind in AGENCY_AUDIENCE if reaches(kind, roles)))


def addressed_to(
    kind: str,
    user_id: int | None,
    agency_code: str | None,
    reader_id: int,
    reader_agency: str | None,
    reader_roles: frozenset[str],
) -> bool:
    """Whether a notification (``user_id`` or ``agency_code`` its recipient) is the
    reader's: addressed to them, or to their agency for a kind their roles read."""
    if user_id is not None:
        return user_id == reader_id
    return agency_code is not None and agency_code == reader_agency and reaches(kind, reader_roles)
