"""Demo of 42 CFR Part 2 as amended in 2024 (docs/part2-2024.md).

Daniel Reyes is a patient of the Riverside Recovery Program (rrp, a Part 2 program). He
signed the single consent for treatment, payment and health care operations, naming
caseops as the intermediary and designating "my treating providers" generally (2.31(a)(4)).
The system administrator records that the Community Health Center (cchc) and the Bayview
Medical Clinic (bmc) are treating providers and covered entities. Both hold a health record
of Daniel; only cchc's worker is on his care team:

* ``cchc.worker`` opens Daniel's record for ``treatment`` and sees rrp's substance-use
  section, with the redisclosure notice: the general designation reached cchc;
* ``bmc.worker`` sees nothing of rrp's record (not even that it exists): no treating
  relationship at that instant;
* for ``care_coordination`` (not TPO), cchc's worker does not see it either.

cchc's worker's look is logged as a disclosure under the designation, and Daniel's written
request for the 2.24 list waits on ``rrp.consent``'s home page with its due date.
Idempotent: nothing is done twice.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from caseops.access import service as access
from caseops.agencies import service as agencies
from caseops.audit import part2_list
from caseops.auth.service import actor_for
from caseops.authz.actor import Actor
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.records import service as records
from caseops.records.models import SourceRecord
from caseops.registry import service as consents
from caseops.users.service import get_user

DANIEL = {
    "given_name": "Daniel",
    "family_name": "Reyes",
    "birth_date": "1979-11-23",
    "ssn": "321-54-9876",
    "sex": "M",
    "address": {"street_number": "88", "street": "Harbor View Rd", "city": "Bayview"},
}
TPO_CLASS = (
    "my treating providers, health plans, third-party payers, and people helping to operate "
    "this program"
)
# (agency, source id, category, data)
RECORDS = [
    ("rrp", "RR-207", "substance_use", {"program": "outpatient", "medication": "buprenorphine"}),
    ("cchc", "CH-207", "health", {"conditions": ["hypertension"], "pcp": "Dr. Amari"}),
    ("bmc", "BM-207", "health", {"conditions": ["fractured wrist"], "seen": "2026-10-02"}),
]


def _actor(username: str) -> Actor:
    return actor_for(get_user(username))


def seed_part2() -> str:
    if db.session.scalar(select(SourceRecord.id).where(SourceRecord.source_record_id == "RR-207")):
        return "Part 2 (2024) demo already present"
    operator = Actor.operator()
    for code in ("cchc", "bmc"):
        agencies.set_facts(
            operator,
            code,
            {
                "treating_provider": True,
                "covered_entity": True,
                "reason": "Demo: a clinic delivering care, a HIPAA covered entity.",
            },
        )
    daniel = None
    for agency, srid, category, data in RECORDS:
        result = records.upsert(
            _actor(f"{agency}.system"),
            agency,
            srid,
            {"category": category, "person": DANIEL, "data": data, "source_version": 1},
        )
        daniel = daniel or result.client_id
    now = utcnow()
    consents.record_consent(
        _actor("rrp.consent"),
        daniel,
        {
            "provision": "permit",
            "source_agencies": ["rrp"],
            "categories": ["substance_use"],
            "recipients": [],
            "purposes": ["treatment", "payment", "operations"],
            "effective_from": now - timedelta(days=7),
            "expiry_event": "end of treatment",
            "grantor": {"kind": "self", "name": "Daniel Reyes"},
            "signed_at": now - timedelta(days=7),
            "evidence": {"method": "written"},
            "revocation_right_acknowledged": True,
            "intermediary": current_app.config.get("CASEOPS_INTERMEDIARY_NAME") or "caseops",
            "general_designation": "treating_provider_relationship",
            "recipient_description": TPO_CLASS,
            "hipaa_redisclosure_statement": True,
        },
    )
    access.add_care_team_member(_actor("cchc.worker"), daniel, "cchc.worker", None)
    # cchc's worker looks: a disclosure under the general designation, in the log.
    access.view_record(_actor("cchc.worker"), daniel, "treatment")
    part2_list.record_request(
        _actor("rrp.consent"), daniel, now.date(), "Letter from the patient, by post."
    )
    return (
        f"Part 2 (2024) demo: Daniel Reyes ({daniel}) with a single TPO consent under the "
        "general designation; cchc.worker (care team) sees rrp's record for treatment, "
        "bmc.worker (no relationship) does not; a 2.24 request waits for rrp.consent"
    )
