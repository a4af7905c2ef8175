"""Demo data sharing agreements (issue 22): the demo is a new installation, so agencies
share only under agreements, except one pair under a waiver. It shows both:

* "Bayview care coordination MOU": hha, cchc, usd and bmc share every category but
  substance use, for every purpose (a year to run);
* "Riverside Recovery data sharing agreement": rrp with cchc, hha and bmc, substance use
  and health, for every purpose; it ends in 21 days, so it is listed as expiring on the
  administrators' and privacy officers' homes;
* a waiver (a Casbin policy rule) for hha and cws: they share under consent alone;
* "Schools and child welfare MOU" between usd and cws, pending: usd has not accepted, so
  nothing flows between them yet (their workers read ``no_agreement``).

Idempotent: agreements already recorded (by title) and the waiver are kept.
"""

from __future__ import annotations

import base64
from datetime import timedelta

from sqlalchemy import select

from caseops.agreements import service as agreements
from caseops.agreements import waivers
from caseops.agreements.models import AgreementRecord
from caseops.audit.service import record as audit
from caseops.authz import policy
from caseops.authz.actor import Actor
from caseops.authz.models import CasbinRule
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.vocabulary import CATEGORIES, PART2_CATEGORY, PURPOSES

PDF = b"%PDF-1.4\n% caseops demo: a signed data sharing agreement\n%%EOF\n"
WAIVED_PAIR = ("cws", "hha")


def _admin(code: str) -> Actor:
    """The agency's administrator, as the demo acts for it."""
    return Actor(username=f"{code}.admin", agency=code, roles=frozenset({"agency_admin"}))


def _body(title: str, parties: list[str], categories, days: int) -> dict:
    today = utcnow().date()
    return {
        "title": title,
        "parties": parties,
        "starts_on": today - timedelta(days=120),
        "ends_on": today + timedelta(days=days),
        "share": [{"categories": sorted(categories), "purposes": list(PURPOSES)}],
        "trust": [],
        "document": {
            "filename": f"{title.lower().replace(' ', '-')}.pdf",
            "content_type": "application/pdf",
            "content_base64": base64.b64encode(PDF + title.encode()).decode(),
        },
        "note": "demo",
    }


AGREEMENTS = [
    (
        "Bayview care coordination MOU",
        ["hha", "cchc", "usd", "bmc"],
        [c for c in CATEGORIES if c != PART2_CATEGORY],
        365,
        True,
    ),
    (
        "Riverside Recovery data sharing agreement",
        ["rrp", "cchc", "hha", "bmc"],
        [PART2_CATEGORY, "health"],
        21,
        True,
    ),
    ("Schools and child welfare MOU", ["usd", "cws"], ["education", "child_welfare"], 365, False),
]


def seed_agreements() -> str:
    operator = Actor.operator()
    made = 0
    for title, parties, categories, days, all_accept in AGREEMENTS:
        if db.session.scalar(select(AgreementRecord.id).where(AgreementRecord.title == title)):
            continue
        created = agreements.create(operator, _body(title, parties, categories, days))
        for party in parties if all_accept else parties[1:]:
            agreements.accept(_admin(party), created["id"])
        made += 1
    rule = waivers.rule_for(*WAIVED_PAIR)
    exists = db.session.scalar(
        select(CasbinRule.id).where(
            CasbinRule.ptype == "p", CasbinRule.v0 == rule["sub"], CasbinRule.v2 == rule["obj"]
        )
    )
    if exists is None:
        db.session.add(
            CasbinRule(
                ptype="p", v0=rule["sub"], v1="*", v2=rule["obj"], v3=rule["act"], v4="allow"
            )
        )
        version = policy.bump_version(db.session)
        audit(
            "policy.rule_added",
            actor=operator,
            target_type="policy_rule",
            target_id=",".join([rule["sub"], "*", rule["obj"], rule["act"], "allow"]),
            detail={"after": rule | {"eft": "allow"}, "version_after": version},
            session=db.session,
        )
        db.session.commit()
    return f"Demo agreements: {made} recorded; waiver for {' and '.join(WAIVED_PAIR)}."
