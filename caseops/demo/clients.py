"""Demo clients: agency records with the name variants and typos real data has, consents
in every state, care teams, and a possible match waiting in the review queue.

Everything goes through the services (ingest, linkage, consents, care teams), so the
demo shows what the product does, and the access log holds every step.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from caseops.access import service as access
from caseops.auth.service import actor_for
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.records import service as records
from caseops.records.models import SourceRecord
from caseops.registry import service as consents
from caseops.users.models import User
from caseops.users.service import get_user


def _person(given, family, born, **more) -> dict[str, Any]:
    return {"given_name": given, "family_name": family, "birth_date": born, **more}


MARIA = dict(
    ssn="123-45-6780",
    sex="F",
    phone="415-555-0101",
    address={
        "street_number": "12",
        "street": "Seacliff Ave",
        "city": "Bayview",
        "postcode": "94110",
        "state": "CA",
    },
)
# (agency, source id, category, person, data)
RECORDS = [
    (
        "hha",
        "HH-1001",
        "housing",
        _person("Maria", "Lopez", "1984-03-12", **MARIA),
        {
            "program_type": "rapid_rehousing",
            "enrollment_date": "2026-01-05",
            "housing_status": "sheltered",
            "case_manager": "J. Ortiz",
            "notes": "Prefers morning calls. Two children in household.",
        },
    ),
    (
        "cchc",
        "CH-88",
        "health",
        _person("María", "Lopez-Garcia", "1984-03-12", ssn="123-45-6780", sex="F"),
        {
            "conditions": ["asthma", "type 2 diabetes"],
            "medications": ["albuterol", "metformin"],
            "primary_care_provider": "Dr. Chen",
            "last_visit": "2026-10-02",
        },
    ),
    (
        "rrp",
        "RR-17",
        "substance_use",
        _person("Maria", "Lopez", "1984-03-12", phone="415-555-0101"),
        {
            "program": "outpatient",
            "admission_date": "2026-04-01",
            "substances": ["alcohol"],
            "treatment_status": "active",
        },
    ),
    (
        "usd",
        "SD-5521",
        "education",
        _person("Mateo", "Lopez", "2014-09-30", address=MARIA["address"]),
        {
            "school": "Bayview Elementary",
            "grade_level": "6",
            "enrollment_status": "enrolled",
            "iep": True,
            "attendance_rate": 0.91,
        },
    ),
    (
        "cws",
        "CW-310",
        "child_welfare",
        _person("Mateo", "Lopez", "2014-09-30"),
        {
            "case_status": "open",
            "case_opened": "2025-11-20",
            "placement_type": "in-home",
            "caseworker": "R. Singh",
        },
    ),
    (
        "hha",
        "HH-1002",
        "housing",
        _person("James", "O'Brien", "1961-07-04", ssn="234-56-7890"),
        {"program_type": "permanent_supportive", "housing_status": "housed"},
    ),
    (
        "cchc",
        "CH-91",
        "health",
        _person("Jim", "OBrien", "1961-07-04", ssn="234-56-7890"),
        {"conditions": ["COPD"], "primary_care_provider": "Dr. Adeyemi"},
    ),
    (
        "cchc",
        "CH-92",
        "behavioral_health",
        _person("Jim", "OBrien", "1961-07-04", ssn="234-56-7890"),
        {"diagnoses": ["depression"], "provider": "Dr. Park", "risk_level": "medium"},
    ),
    (
        "hha",
        "HH-1003",
        "housing",
        _person("Aisha", "Rahman", "1990-12-01", sex="F"),
        {"program_type": "emergency_shelter", "housing_status": "sheltered"},
    ),
    # Same name, day and month of birth swapped (a classic keying error): linked.
    (
        "cchc",
        "CH-95",
        "health",
        _person("Aisha", "Rahman", "1990-01-12", sex="F"),
        {"conditions": ["pregnancy"], "last_visit": "2026-09-14"},
    ),
    (
        "hha",
        "HH-1004",
        "housing",
        _person("Elena", "Lopez", "1984-03-12", sex="F", address=MARIA["address"]),
        {
            "program_type": "rapid_rehousing",
            "housing_status": "sheltered",
            "notes": "Twin sister of a household member; separate case.",
        },
    ),
    # ^ Maria's twin: same family name, birth date and address. Not linked automatically:
    #   it waits in the data steward's review queue.
]


def _actor(username: str):
    return actor_for(get_user(username))


def _exists(username: str) -> bool:
    return db.session.scalar(select(User.id).where(User.username == username)) is not None


def _write_records() -> dict[str, str]:
    clients = {}
    for agency, srid, category, person, data in RECORDS:
        result = records.upsert(
            _actor(f"{agency}.system"),
            agency,
            srid,
            {"category": category, "person": person, "data": data, "source_version": 1},
        )
        clients[srid] = result.client_id
    return clients


def _consent(scope: dict[str, Any], **timing) -> dict[str, Any]:
    now = utcnow()
    body = {
        "provision": "permit",
        "purposes": ["care_coordination"],
        "effective_from": now - timedelta(days=30),
        "expires_at": now + timedelta(days=335),
        "grantor": {"kind": "self", "name": "Maria Lopez"},
        "signed_at": now - timedelta(days=30),
        "evidence": {"method": "written"},
        "revocation_right_acknowledged": True,
    }
    return body | scope | timing


def seed_clients() -> str:
    if db.session.scalar(select(func.count()).select_from(SourceRecord)):
        return "demo clients already present"
    clients = _write_records()
    maria = clients["HH-1001"]
    officer = _actor("cchc.consent")
    # An agency speaks only for its own data (docs/trust-model.md): hha's consent officer
    # records what releases hha's records, cchc's what releases cchc's.
    hha_officer = _actor("hha.consent")
    now = utcnow()
    # Active: hha's housing record to cchc; cchc's health record to hha.
    consents.record_consent(
        hha_officer,
        maria,
        _consent({"source_agencies": ["hha"], "categories": ["housing"], "recipients": ["cchc"]}),
    )
    consents.record_consent(
        officer,
        maria,
        _consent({"source_agencies": ["cchc"], "categories": ["health"], "recipients": ["hha"]}),
    )
    # Part 2: the treatment program to cchc only, named, with an expiry. cchc records it;
    # it opens rrp's record only once rrp's own consent officer attests it.
    part2 = consents.record_consent(
        officer,
        maria,
        _consent(
            {
                "source_agencies": ["rrp"],
                "categories": ["substance_use"],
                "recipients": ["cchc"],
                "expires_at": now + timedelta(days=90),
            }
        ),
    )
    if _exists("rrp.consent"):
        consents.attest(_actor("rrp.consent"), part2.id)
    # Deny: nothing of Maria's to child welfare.
    consents.record_consent(
        officer,
        maria,
        _consent(
            {
                "provision": "deny",
                "source_agencies": ["*"],
                "categories": ["*"],
                "recipients": ["cws"],
                "purposes": ["*"],
            }
        ),
    )
    # Revoked, expired and not yet effective ones, for the timeline.
    revoked = consents.record_consent(
        officer,
        maria,
        _consent({"source_agencies": ["cchc"], "categories": ["health"], "recipients": ["usd"]}),
    )
    consents.revoke(officer, revoked.id, "Client withdrew permission by phone", "verbal")
    consents.record_consent(
        hha_officer,
        maria,
        _consent(
            {"source_agencies": ["hha"], "categories": ["housing"], "recipients": ["usd"]},
            effective_from=now - timedelta(days=400),
            signed_at=now - timedelta(days=400),
            expires_at=now - timedelta(days=35),
        ),
    )
    consents.record_consent(
        hha_officer,
        maria,
        _consent(
            {
                "source_agencies": ["hha"],
                "categories": ["housing"],
                "recipients": ["cws"],
                "provision": "permit",
            },
            effective_from=now + timedelta(days=10),
            expires_at=now + timedelta(days=20),
        ),
    )
    # Waiting: cchc (which serves Jim) records a consent releasing hha's housing record; it
    # sits in hha.consent's attestation queue, and cchc's worker sees the section withheld
    # as "consent_not_attested" until hha attests.
    jim = clients["HH-1002"]
    consents.record_consent(
        officer,
        jim,
        _consent(
            {
                "source_agencies": ["hha"],
                "categories": ["housing"],
                "recipients": ["cchc"],
                "grantor": {"kind": "self", "name": "James O'Brien"},
                "expires_at": now + timedelta(days=12),
            }
        ),
    )
    for username in ("hha.worker", "hha.supervisor"):
        access.add_care_team_member(_actor(username), maria, username, None)
        access.add_care_team_member(_actor(username), jim, username, None)
    access.add_care_team_member(_actor("cchc.worker"), maria, "cchc.worker", None)
    access.add_care_team_member(_actor("cchc.worker"), jim, "cchc.worker", None)
    return (
        f"demo clients: {len(set(clients.values()))} people from {len(RECORDS)} agency "
        "records; consents in every state for Maria Lopez; care teams; a review item; "
        "a consent waiting for hha to attest"
    )
