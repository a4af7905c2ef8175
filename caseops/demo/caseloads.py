"""A demo worth a first look: a few hundred synthetic clients over six agencies, so each
demo account signs in to a living desk (issue 18).

The people come from the generator the linkage benchmarks use (``caseops.demo.synthetic``:
names, nicknames, typos, moves, twins and households as administrative data has them), so the
demo also shows linkage at work. Everything goes through the services (bulk ingest, care
teams, consents, referrals, tasks, notes, views, break-the-glass), so the access log
holds every step, as it would in production.

What each account finds: ``hha.worker`` and ``cchc.worker`` a caseload of some thirty
clients, some marked changed since their last look (records updated after a view), tasks
due, incoming referrals; the supervisors their agency's caseload by worker and referrals
to assign; the consent officers consents to attest, expiring and revoked; ``privacy`` a
break-the-glass to review. Safe to run again: it does nothing once its records exist.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from caseops.access import service as access
from caseops.agencies.models import Agency
from caseops.auth.service import actor_for
from caseops.db_types import utcnow
from caseops.demo import synthetic
from caseops.errors import DomainError
from caseops.extensions import db
from caseops.notes import service as notes
from caseops.records import service as records
from caseops.records.models import SourceRecord
from caseops.referrals import service as referrals
from caseops.registry import service as consents
from caseops.tasks import service as tasks
from caseops.users.service import get_user

PEOPLE = 300
SEED = 18
PREFIX = "SYN"
# The generator's six files, as six agencies' systems and the category each holds.
FILES = {
    "A1": ("hha", "housing"),
    "A2": ("cchc", "health"),
    "A3": ("usd", "education"),
    "A4": ("cws", "child_welfare"),
    "A5": ("bmc", "health"),
    "A6": ("rrp", "substance_use"),
}
CASELOAD = {
    "hha.worker": 30,
    "cchc.worker": 30,
    "rrp.worker": 8,
    "usd.worker": 8,
    "cws.worker": 8,
    "bmc.worker": 8,
    "hha.supervisor": 4,
    "cchc.supervisor": 4,
}
TASK_TITLES = (
    "Call to confirm the intake appointment",
    "Collect proof of income for the application",
    "Follow up on the housing inspection",
    "Check the prescription refill was picked up",
    "Send the school enrolment form",
    "Book an interpreter for the next visit",
    "Review the safety plan with the family",
    "Arrange transport to the clinic",
)
NOTE_TEXTS = {
    "housing": "Met at the shelter. Interested in rapid rehousing; has a voucher interview "
    "next week.",
    "health": "Asthma controlled on current inhaler. Next check-up in three months.",
}


def _actor(username: str):
    return actor_for(get_user(username))


def _person(person: dict[str, Any]) -> dict[str, Any]:
    """A generated person in the API's shape (ISO dates, F/M, no empty fields)."""
    out: dict[str, Any] = {}
    for key, value in person.items():
        if value in (None, "", {}):
            continue
        if isinstance(value, date):
            value = value.isoformat()
        elif key == "sex":
            value = {"f": "F", "m": "M"}.get(str(value).casefold())
            if value is None:
                continue
        elif key == "address":
            value = {k: v for k, v in value.items() if v}
        out[key] = value
    return out


def _data(category: str, n: int) -> dict[str, Any]:
    if category == "housing":
        return {
            "program_type": ("rapid_rehousing", "emergency_shelter", "permanent_supportive")[n % 3],
            "housing_status": ("sheltered", "unsheltered", "housed")[n % 3],
        }
    if category == "health":
        return {"conditions": [("asthma", "diabetes", "hypertension")[n % 3]]}
    if category == "education":
        return {"school": "Bayview Middle School", "grade_level": str(6 + n % 3)}
    if category == "child_welfare":
        return {"case_status": ("family_support", "prevention")[n % 2]}
    return {"program": ("outpatient", "intensive_outpatient")[n % 2]}


def _ingest(dataset) -> dict[str, list[str]]:
    """Bulk-ingest each file; agency -> its clients (in file order, distinct)."""
    held: dict[str, list[str]] = {}
    for file, (agency, category) in FILES.items():
        lines = [
            (
                n,
                json.dumps(
                    {
                        "source_record_id": f"{PREFIX}-{record.record_id}",
                        "category": category,
                        "person": _person(record.person),
                        "data": _data(category, n),
                        "source_version": 1,
                    }
                ),
            )
            for n, record in enumerate(dataset.files.get(file, []), start=1)
        ]
        records.bulk(_actor(f"{agency}.system"), agency, lines)
        rows = db.session.execute(
            select(SourceRecord.client_id)
            .join(Agency, SourceRecord.agency_id == Agency.id)
            .where(Agency.code == agency, SourceRecord.source_record_id.like(f"{PREFIX}-%"))
            .order_by(SourceRecord.id)
        ).scalars()
        held[agency] = list(dict.fromkeys(rows))
    return held


def _quietly(step: Callable[..., Any], *args: Any) -> Any:
    """One demo step; a refusal (a rule the demo data happens to meet) skips just it."""
    try:
        return step(*args)
    except DomainError:
        db.session.rollback()
        return None


def _care_teams(held: dict[str, list[str]]) -> dict[str, list[str]]:
    caseloads: dict[str, list[str]] = {}
    for username, size in CASELOAD.items():
        agency = username.split(".")[0]
        offset = 0 if username.endswith(".worker") else 40
        chosen = held.get(agency, [])[offset : offset + size]
        actor = _actor(username)
        for client_id in chosen:
            _quietly(access.add_care_team_member, actor, client_id, username, None)
        caseloads[username] = chosen
    return caseloads


def _consent(grantor: str, scope: dict[str, Any], **timing: Any) -> dict[str, Any]:
    now = utcnow()
    body = {
        "provision": "permit",
        "purposes": ["care_coordination"],
        "effective_from": now - timedelta(days=60),
        "expires_at": now + timedelta(days=300),
        "grantor": {"kind": "self", "name": grantor},
        "signed_at": now - timedelta(days=60),
        "evidence": {"method": "written"},
        "revocation_right_acknowledged": True,
    }
    return body | scope | timing


def _name(client_id: str) -> str:
    record = db.session.scalars(
        select(SourceRecord).where(SourceRecord.client_id == client_id).limit(1)
    ).first()
    if record is None:
        return "the client"
    from caseops.matching import store

    person = store.decrypt_person(record)
    return " ".join(p for p in (person.get("given_name"), person.get("family_name")) if p)


def _consents(both: list[str]) -> int:
    """Consents in every state on clients held by hha and cchc."""
    now = utcnow()
    hha, cchc = _actor("hha.consent"), _actor("cchc.consent")
    housing = {"source_agencies": ["hha"], "categories": ["housing"], "recipients": ["cchc"]}
    health = {"source_agencies": ["cchc"], "categories": ["health"], "recipients": ["hha"]}
    refusal = {
        "provision": "deny",
        "source_agencies": ["*"],
        "categories": ["*"],
        "recipients": ["cws"],
        "purposes": ["*"],
    }
    record = consents.record_consent
    made = 0
    for n, client_id in enumerate(both[:40]):
        grantor = _name(client_id)
        kind = n % 8
        if kind in (0, 1):  # active both ways
            _quietly(record, hha, client_id, _consent(grantor, housing))
            _quietly(record, cchc, client_id, _consent(grantor, health))
        elif kind == 2:  # expiring within 30 days
            soon = {"expires_at": now + timedelta(days=5 + n % 20)}
            _quietly(record, hha, client_id, _consent(grantor, housing, **soon))
        elif kind == 3:  # revoked
            row = _quietly(record, cchc, client_id, _consent(grantor, health))
            if row is not None:
                _quietly(consents.revoke, cchc, row.id, "Client asked by phone", "verbal")
        elif kind == 4:  # expired
            past = {
                "effective_from": now - timedelta(days=400),
                "signed_at": now - timedelta(days=400),
                "expires_at": now - timedelta(days=20),
            }
            _quietly(record, hha, client_id, _consent(grantor, housing, **past))
        elif kind == 5:  # not yet effective
            later = {"effective_from": now + timedelta(days=7), "signed_at": now}
            _quietly(record, cchc, client_id, _consent(grantor, health, **later))
        elif kind == 6:  # waiting for hha to attest (cchc records hha's housing)
            _quietly(record, cchc, client_id, _consent(grantor, housing))
        else:  # a refusal, and a permit amended (the first version superseded)
            _quietly(record, hha, client_id, _consent(grantor, refusal))
            row = _quietly(record, hha, client_id, _consent(grantor, housing))
            if row is not None:
                wider = housing | {"purposes": ["care_coordination", "treatment"]}
                _quietly(consents.amend, hha, row.id, _consent(grantor, wider))
        made += 1
    return made


def _referrals(both: list[str]) -> int:
    """Referrals from hha's worker to cchc in every state the desk shows."""
    sent = 0
    stories: list[tuple[str | None, list[tuple[str, str, dict[str, Any]]]]] = [
        ("cchc.worker", []),  # requested, assigned: on cchc.worker's desk
        (None, []),  # requested, nobody assigned: cchc.supervisor assigns it
        ("cchc.worker", [("cchc.worker", "accepted", {})]),
        ("cchc.worker", [("cchc.worker", "accepted", {}), ("cchc.worker", "in-progress", {})]),
        (
            "cchc.worker",
            [
                ("cchc.worker", "accepted", {}),
                ("cchc.worker", "on-hold", {"reason": "Waiting for documents."}),
            ],
        ),
        (
            "cchc.worker",
            [
                ("cchc.worker", "accepted", {}),
                ("cchc.worker", "completed", {"outcome": "Enrolled in primary care."}),
            ],
        ),
        ("cchc.worker", [("cchc.worker", "rejected", {"reason": "Outside our service area."})]),
        (None, [("hha.worker", "cancelled", {"reason": "Client moved away."})]),
    ]
    officer, sender = _actor("hha.consent"), _actor("hha.worker")
    scope = {
        "source_agencies": ["hha"],
        "categories": ["housing", "health"],
        "recipients": ["cchc"],
    }
    for client_id, (to_user, moves) in zip(both[:8], stories, strict=False):
        # hha's worker works with the client; the referral is itself a disclosure (of a
        # health need, and of the housing it shares)
        _quietly(access.add_care_team_member, sender, client_id, "hha.worker", None)
        _quietly(consents.record_consent, officer, client_id, _consent(_name(client_id), scope))
        body = {
            "to_agency": "cchc",
            "to_user": to_user,
            "service": "primary_care",
            "service_text": None,
            "purpose": "care_coordination",
            "shared_categories": ["housing"],
            "note": "Client asked for help finding a doctor.",
            "urgency": "urgent" if sent % 3 == 0 else "routine",
            "due_on": None,
            "send": True,
        }
        created = _quietly(referrals.create, sender, client_id, body)
        if created is None:
            continue
        for username, status, words in moves:
            move = {"status": status, **words}
            _quietly(referrals.move, _actor(username), created["id"], move)
        sent += 1
    return sent


def _tasks_and_notes(caseloads: dict[str, list[str]]) -> tuple[int, int]:
    today = utcnow().date()
    made = written = 0
    rng = random.Random(SEED)  # noqa: S311 - demo data, not secrets
    for worker, supervisor, category in (
        ("hha.worker", "hha.supervisor", "housing"),
        ("cchc.worker", "cchc.supervisor", "health"),
    ):
        for n, client_id in enumerate(caseloads.get(worker, [])[:12]):
            by = supervisor if n % 3 == 0 else worker
            body = {
                "title": rng.choice(TASK_TITLES),
                "assignee": worker,
                "due_on": today + timedelta(days=n % 5),
                "referral_id": None,
            }
            if _quietly(tasks.create, _actor(by), client_id, body):
                made += 1
        for client_id in caseloads.get(worker, [])[:4]:
            note = {"category": category, "text": NOTE_TEXTS[category], "referral_id": None}
            if _quietly(notes.write, _actor(worker), client_id, note):
                written += 1
    return made, written


def _looks_and_changes(caseloads: dict[str, list[str]]) -> int:
    """Each worker opened their first ten clients; then four of those records changed,
    so those four are marked "Changed" on the worker's desk."""
    changed = 0
    for worker, agency, category in (
        ("hha.worker", "hha", "housing"),
        ("cchc.worker", "cchc", "health"),
    ):
        actor = _actor(worker)
        mine = caseloads.get(worker, [])[:10]
        for client_id in mine:
            _quietly(access.view_record, actor, client_id, "care_coordination")
        for client_id in mine[:4]:
            record = db.session.scalars(
                select(SourceRecord)
                .join(Agency, SourceRecord.agency_id == Agency.id)
                .where(
                    SourceRecord.client_id == client_id,
                    Agency.code == agency,
                    SourceRecord.source_record_id.like(f"{PREFIX}-%"),
                )
                .limit(1)
            ).first()
            if record is None:
                continue
            from caseops.matching import store

            body = {
                "category": category,
                "person": _person(store.decrypt_person(record)),
                "data": _data(category, record.id + 1) | {"notes": "New information this week."},
                "source_version": 2,
            }
            feed = _actor(f"{agency}.system")
            if _quietly(records.upsert, feed, agency, record.source_record_id, body):
                changed += 1
    return changed


def seed_caseloads(people: int = PEOPLE) -> str:
    already = db.session.scalar(
        select(SourceRecord.id).where(SourceRecord.source_record_id.like(f"{PREFIX}-%")).limit(1)
    )
    if already is not None:
        return "demo caseloads already present"
    dataset = synthetic.generate(people, agencies=len(FILES), seed=SEED)
    held = _ingest(dataset)
    caseloads = _care_teams(held)
    both = [c for c in held.get("hha", []) if c in set(held.get("cchc", []))]
    consented = _consents(both)
    sent = _referrals(both[40:])
    made, written = _tasks_and_notes(caseloads)
    changed = _looks_and_changes(caseloads)
    grant = None
    if held.get("cws"):
        grant = _quietly(
            access.break_glass,
            _actor("cws.worker"),
            held["cws"][-1],
            "Child found alone at home during a welfare check; medical history needed now.",
            "emergency",
            None,
        )
    clients = len({c for ids in held.values() for c in ids})
    return (
        f"demo caseloads: {clients} synthetic clients over {len(FILES)} agencies; "
        f"care teams for {len(caseloads)} workers; {consented} clients with consents; "
        f"{sent} referrals; {made} tasks; {written} notes; {changed} records changed since "
        f"their worker's last look; {'one' if grant else 'no'} break-the-glass"
    )
