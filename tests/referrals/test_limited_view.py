"""The recipient's limited view as a property over random worlds (issue 17).

Worlds: Maria's sections at hha (housing, economic security), cchc (health) and rrp (a
Part 2 program: substance use); consents of several scopes, each active, revoked or expired;
one referral from hha to cchc in any state, sharing any categories, assigned to anyone; a
reader on any side (cchc's assigned worker, another cchc worker, cchc's supervisor, hha's
referring worker, a worker of a third agency). The oracle below is written from DESIGN.md's
words, apart from the code: a section is shown iff the policy reads it, consent permits it
(or it is the reader's own agency's), and the reader has need-to-know for it: here only
through the referral (nobody is on a care team), which needs the referral accepted, in
progress or on hold, the reader to be its assigned worker or a supervisor at the
recipient, the category to be shared, and the referral's own consent (hha's information in
the service's category to cchc, naming cchc) to stand."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

import consent
from caseops.access.rules import Facts, SectionFacts, decide_view
from caseops.referrals import gate
from caseops.referrals.machine import Status

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SECTIONS = [
    SectionFacts(1, "hha", False, "housing"),
    SectionFacts(2, "hha", False, "economic_security"),
    SectionFacts(3, "cchc", False, "health"),
    SectionFacts(4, "rrp", True, "substance_use"),
]
# (source, categories, recipients, recorded by): the scopes a world's consents draw from
SCOPES = [
    ("hha", {"housing"}, {"cchc"}, "hha"),
    ("hha", {"housing", "economic_security"}, {"cchc"}, "hha"),
    ("hha", {"housing"}, {"*"}, "hha"),  # "any recipient": no referral rests on it
    ("rrp", {"substance_use"}, {"cchc"}, "rrp"),
    ("rrp", {"substance_use"}, {"*"}, "rrp"),  # Part 2: must name the recipient
]
STATES = ["active", "revoked", "expired"]
READERS = {
    "assigned": ("cchc", "cchc.assigned", False),
    "colleague": ("cchc", "cchc.colleague", False),
    "supervisor": ("cchc", "cchc.supervisor", True),
    "sender": ("hha", "hha.sender", False),
    "third": ("ops", "ops.worker", True),
}


def _consent(i: int, scope, state: str) -> tuple[consent.Consent, list[consent.Revocation]]:
    source, categories, recipients, recorder = scope
    item = consent.Consent(
        id=f"cns_{i:02d}",
        client_id="maria",
        grantor=consent.Grantor(kind="self", name="Maria"),
        provision=consent.Provision.PERMIT,
        source_agencies=frozenset({source}),
        categories=frozenset(categories),
        recipients=frozenset(recipients),
        purposes=frozenset({"care_coordination"}),
        effective_from=NOW - timedelta(days=30),
        expires_at=NOW - timedelta(days=1) if state == "expired" else NOW + timedelta(days=300),
        signed_at=NOW - timedelta(days=30),
        evidence=consent.Evidence(method="written"),
        revocation_right_acknowledged=True,
        recorded_by=f"{recorder}.officer",
        recorded_at=NOW - timedelta(days=30),
        recorded_by_agency=recorder,
    )
    revocations = (
        [
            consent.Revocation(
                consent_id=item.id,
                revoked_at=NOW - timedelta(days=2),
                revoked_by="officer",
                reason="asked",
                method="written",
            )
        ]
        if state == "revoked"
        else []
    )
    return item, revocations


worlds = st.fixed_dictionaries(
    {
        "consents": st.lists(
            st.tuples(st.sampled_from(range(len(SCOPES))), st.sampled_from(STATES)),
            max_size=4,
        ),
        "state": st.sampled_from(list(Status)),
        "shared": st.sets(st.sampled_from([s.category for s in SECTIONS])),
        "assigned": st.sampled_from([None, "cchc.assigned", "cchc.colleague"]),
        "reader": st.sampled_from(list(READERS)),
    }
)


def _permits(obj: str, act: str) -> bool:
    return act == "read"


def _oracle_referral_consent(consents, revocations) -> bool:
    """hha's housing to cchc for care coordination, under an active permit naming cchc."""
    revoked = {r.consent_id for r in revocations}
    return any(
        c.source_agencies == {"hha"}
        and "housing" in c.categories
        and "cchc" in c.recipients
        and c.id not in revoked
        and c.expires_at > NOW
        for c in consents
    )


@settings(max_examples=int(os.environ.get("CASEOPS_FAST_EXAMPLES", 600)), deadline=None)
@given(worlds)
def test_the_recipient_sees_exactly_the_shared_consented_sections_of_an_open_referral(world):
    consents, revocations = [], []
    for i, (scope, state) in enumerate(world["consents"]):
        item, revoked = _consent(i, SCOPES[scope], state)
        consents.append(item)
        revocations += revoked
    facts_for_gate = gate.ConsentFacts("maria", consents, revocations, consent.NO_TRUST, None)
    referral = gate.ReferralFacts(
        id="ref_1",
        from_agency="hha",
        from_part2=False,
        to_agency="cchc",
        service_category="housing",
        purpose="care_coordination",
        shared=tuple(sorted(world["shared"])),
        state=world["state"].value,
        assigned_to=world["assigned"],
    )
    agency, username, supervises = READERS[world["reader"]]
    relationship = gate.referral_relationship(
        [referral], gate.Reader(agency, username, supervises), facts_for_gate, NOW
    )
    facts = Facts(
        client_id="maria",
        sections=SECTIONS,
        consents=consents,
        revocations=revocations,
        birth_date=None,
        relationship=False,
        break_glass=False,
        referral_categories=relationship,
        # every pair waived (an upgraded installation): this is about referrals and consent
        agreements=consent.Agreements(
            waived=consent.agreements.waived_pairs(
                [(a, b) for a in ("hha", "cchc", "rrp") for b in ("hha", "cchc", "rrp")]
            )
        ),
    )
    decisions = {
        d.section.record_id: d
        for d in decide_view(facts, agency, _permits, "care_coordination", NOW)
    }

    opens = (
        agency == "cchc"
        and world["state"] in (Status.ACCEPTED, Status.IN_PROGRESS, Status.ON_HOLD)
        and (supervises or world["assigned"] == username)
        and _oracle_referral_consent(consents, revocations)
    )
    for section in SECTIONS:
        decision = decisions[section.record_id]
        consented = (
            section.agency == agency
            or consent.decide(
                consents,
                revocations,
                consent.AccessRequest(
                    client_id="maria",
                    source_agency=section.agency,
                    source_is_part2_program=section.agency_part2,
                    category=section.category,
                    recipient_agency=agency,
                    purpose="care_coordination",
                    at=NOW,
                ),
            ).permitted
        )
        expected = consented and opens and section.category in world["shared"]
        assert decision.shown is expected, (section, decision, world)
        if decision.shown:
            assert decision.relationship == "referral" and decision.referral_id == "ref_1"
        # a Part 2 section another agency holds is not even listed without its consent
        assert decision.hidden is (
            section.agency_part2 and section.agency != agency and not consented
        )
