"""Demo referrals: Maria Lopez referred from the housing authority (hha) to the health
center (cchc) in every state of the referral Task (draft, requested, accepted,
in-progress, on-hold, completed, failed, rejected, cancelled, entered-in-error), and one
referral the other way, waiting in hha's incoming list.

Everything goes through the referral service, as a worker would: each send passes the
consent gate (the consents recorded here and in ``caseops.demo.clients`` cover it), each
move follows the state table, and every step is in the access log. Idempotent: nothing is
added once any referral exists.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from caseops.agencies.models import Agency
from caseops.auth.service import actor_for
from caseops.db_types import utcnow
from caseops.demo.clients import _consent
from caseops.extensions import db
from caseops.records.models import SourceRecord
from caseops.referrals import service as referrals
from caseops.referrals.models import Referral
from caseops.registry import service as consents
from caseops.users.service import get_user

SENDER = "hha.worker"
RECIPIENT = "cchc.worker"
RECIPIENT_SUPERVISOR = "cchc.supervisor"

# (note, service, shared categories, the recipient worker named when sending, the moves
# after it is created: (who, status, words)). The first step's status is draft when the
# moves begin with the sender sending, requested otherwise.
HOUSING = ("housing_assistance", ["housing"])
BEHAVIORAL = ("behavioral_health_care", ["housing"])
STORIES: list[tuple[str, tuple[str, list[str]], str | None, bool, list[tuple[str, str, dict]]]] = [
    (
        "Draft: supported-housing application, to send once the client agrees.",
        HOUSING,
        None,
        False,
        [],
    ),
    (
        "Counselling before the move-in date; the client asked for a woman counsellor.",
        BEHAVIORAL,
        None,
        True,
        [],
    ),
    (
        "Accepted, first appointment being booked.",
        HOUSING,
        RECIPIENT,
        True,
        [(RECIPIENT, "accepted", {})],
    ),
    (
        "Weekly sessions under way.",
        BEHAVIORAL,
        RECIPIENT,
        True,
        [(RECIPIENT, "accepted", {}), (RECIPIENT, "in-progress", {})],
    ),
    (
        "On hold while the client is away.",
        HOUSING,
        RECIPIENT,
        True,
        [
            (RECIPIENT, "accepted", {}),
            (RECIPIENT, "on-hold", {"reason": "Client travelling until next month."}),
        ],
    ),
    (
        "Closed loop: done.",
        BEHAVIORAL,
        RECIPIENT,
        True,
        [
            (RECIPIENT, "accepted", {}),
            (RECIPIENT, "in-progress", {}),
            (
                RECIPIENT,
                "completed",
                {"outcome": "Intake assessment done; weekly counselling for 8 weeks, then review."},
            ),
        ],
    ),
    (
        "Tried three times.",
        HOUSING,
        RECIPIENT,
        True,
        [
            (RECIPIENT, "accepted", {}),
            (RECIPIENT, "failed", {"reason": "Client did not attend three appointments."}),
        ],
    ),
    (
        "Asked for the housing-first program.",
        HOUSING,
        RECIPIENT,
        True,
        [(RECIPIENT, "rejected", {"reason": "No places left in the program this quarter."})],
    ),
    (
        "Sent, then no longer needed.",
        HOUSING,
        None,
        True,
        [(SENDER, "cancelled", {"reason": "Client found housing through family."})],
    ),
    (
        "Started for the wrong person.",
        HOUSING,
        None,
        False,
        [(SENDER, "entered-in-error", {"reason": "Wrong client selected."})],
    ),
]


def _actor(username: str):
    return actor_for(get_user(username))


def _maria() -> str | None:
    return db.session.scalar(
        select(SourceRecord.client_id)
        .join(Agency, SourceRecord.agency_id == Agency.id)
        .where(Agency.code == "hha", SourceRecord.source_record_id == "HH-1001")
    )


def _consents(maria: str) -> None:
    """What the referrals need beside the demo's consents: hha may tell cchc of a
    behavioral-health need (the referral itself is a disclosure in the service's
    category), and cchc may tell hha of a housing need."""
    consents.record_consent(
        _actor("hha.consent"),
        maria,
        _consent(
            {
                "source_agencies": ["hha"],
                "categories": ["behavioral_health"],
                "recipients": ["cchc"],
            }
        ),
    )
    consents.record_consent(
        _actor("cchc.consent"),
        maria,
        _consent({"source_agencies": ["cchc"], "categories": ["housing"], "recipients": ["hha"]}),
    )


def _refer(maria: str, note: str, service, to_user, send: bool) -> str:
    code, shared = service
    body = {
        "to_agency": "cchc",
        "to_user": to_user,
        "service": code,
        "service_text": None,
        "purpose": "care_coordination",
        "shared_categories": list(shared),
        "note": note,
        "urgency": "routine",
        "due_on": None,
        "send": send,
    }
    return referrals.create(_actor(SENDER), maria, body)["id"]


def seed_referrals() -> str:
    if db.session.scalar(select(func.count()).select_from(Referral)):
        return "demo referrals already present"
    maria = _maria()
    if maria is None:
        return "demo referrals skipped: no demo clients"
    _consents(maria)
    ids = []
    for note, service, to_user, send, moves in STORIES:
        referral_id = _refer(maria, note, service, to_user, send)
        for username, status, words in moves:
            referrals.move(_actor(username), referral_id, {"status": status, **words})
        ids.append(referral_id)
    # The supervisor's part: the unassigned requested one gets a worker.
    waiting = ids[1]
    referrals.assign(_actor(RECIPIENT_SUPERVISOR), waiting, RECIPIENT)
    # And one the other way, waiting in hha's incoming list.
    referrals.create(
        _actor(RECIPIENT),
        maria,
        {
            "to_agency": "hha",
            "to_user": None,
            "service": "housing_assistance",
            "service_text": "Emergency housing after discharge",
            "purpose": "care_coordination",
            "shared_categories": ["health"],
            "note": "Discharge planned for next week; needs an accessible unit.",
            "urgency": "urgent",
            "due_on": (utcnow() + timedelta(days=7)).date(),
            "send": True,
        },
    )
    return f"demo referrals: {len(ids) + 1} for Maria Lopez, one in every state"
