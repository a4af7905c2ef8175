"""The access decision, exhaustively: role x own/foreign agency x consent state x
relationship x category kind x break-the-glass, against the real default policy.

Each cell's expectation is written from the rule in DESIGN.md, not read from the code:
    shown iff policy(read) and (own agency or consent permits) and relationship
    or, under break-the-glass, policy(break_glass) and (not Part 2 or consent permits).
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import consent
from caseops.access.rules import Facts, SectionFacts, decide_section
from caseops.authz import policy
from caseops.authz.actor import Actor
from tests.factories import PERSONAS

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
ACTOR_AGENCY = "cchc"
PURPOSE = "care_coordination"
CONSENT_STATES = [
    "none",
    "permit",
    "deny",
    "expired",
    "revoked",
    "future",
    "superseded",
    "unattested",  # a permit the recipient recorded and the source never stood behind
    "attested",  # the same permit, attested by the source's consent officer
]
RELATIONSHIPS = ["yes", "no", "ended"]
KINDS = {  # kind -> (category, foreign source agency, that agency is a Part 2 program)
    "plain": ("housing", "hha", False),
    "part2": ("substance_use", "rrp", True),
    "ferpa": ("education", "usd", False),
}
READERS = {"case_worker", "supervisor"}
# This matrix is about consent, policy and relationship: every pair is waived from data
# sharing agreements (an upgraded installation); tests/access/test_agreement_decision.py
# crosses agreement states with these.
WAIVED = consent.Agreements(
    waived=consent.agreements.waived_pairs(
        [(a, b) for a in ("hha", "cchc", "rrp", "usd") for b in ("hha", "cchc", "rrp", "usd")]
    )
)


def section_for(kind: str, own: bool) -> SectionFacts:
    category, foreign, part2_program = KINDS[kind]
    agency = ACTOR_AGENCY if own else foreign
    return SectionFacts(
        record_id=1, agency=agency, agency_part2=part2_program and not own, category=category
    )


def a_consent(cid: str, provision: str, section: SectionFacts, **changes) -> consent.Consent:
    fields = {
        "id": cid,
        "client_id": "c1",
        "grantor": consent.Grantor(kind="self", name="Client"),
        "provision": provision,
        "source_agencies": frozenset({section.agency}),
        "categories": frozenset({section.category}),
        "recipients": frozenset({ACTOR_AGENCY}),
        "purposes": frozenset({PURPOSE}),
        "effective_from": AT - timedelta(days=30),
        "expires_at": AT + timedelta(days=300),
        "signed_at": AT - timedelta(days=30),
        "evidence": consent.Evidence(method="written"),
        "revocation_right_acknowledged": True,
        "recorded_by": "officer",
        "recorded_by_agency": section.agency,  # the source records it, unless a state says
        "recorded_at": AT - timedelta(days=30),
    }
    fields.update(changes)
    return consent.Consent(**fields)


def consents_for(state: str, section: SectionFacts):
    """Consents and revocations putting the client in ``state`` for this section."""
    if state == "none":
        return [], []
    if state == "permit":
        return [a_consent("k1", "permit", section)], []
    if state in ("unattested", "attested"):
        return [a_consent("k1", "permit", section, recorded_by_agency=ACTOR_AGENCY)], []
    if state == "deny":
        return [a_consent("k0", "permit", section), a_consent("k1", "deny", section)], []
    if state == "expired":
        return [a_consent("k1", "permit", section, expires_at=AT - timedelta(days=1))], []
    if state == "future":
        return [a_consent("k1", "permit", section, effective_from=AT + timedelta(days=1))], []
    if state == "revoked":
        revocation = consent.Revocation(
            consent_id="k1",
            revoked_at=AT - timedelta(hours=1),
            revoked_by="officer",
            reason="asked",
            method="written",
        )
        return [a_consent("k1", "permit", section)], [revocation]
    if state == "superseded":
        newer = a_consent(
            "k2",
            "permit",
            section,
            recipients=frozenset({"cws"}),
            version=2,
            supersedes="k1",
            recorded_at=AT - timedelta(days=2),
        )
        return [a_consent("k1", "permit", section), newer], []
    raise AssertionError(state)


def trust_for(state: str, section: SectionFacts) -> consent.Trust:
    if state != "attested":
        return consent.NO_TRUST
    return consent.Trust(
        attestations=[
            consent.Attestation(
                consent_id="k1",
                agency=section.agency,
                attested_by="source officer",
                attested_at=AT - timedelta(days=1),
            )
        ]
    )


def expected(role: str, own: bool, state: str, relationship: str, kind: str, glass: bool):
    """(shown, reason, hidden) from the rule."""
    reads = role in READERS
    consent_ok = own or state in ("permit", "attested")
    related = relationship == "yes"
    part2 = kind == "part2"
    if reads and consent_ok and related:
        return True, None, False
    if glass and reads and (not part2 or consent_ok):
        return True, None, False
    if not reads:
        reason = "policy"
    elif not consent_ok:
        reason = {
            "none": "no_consent",
            "deny": "consent_denied",
            "expired": "consent_expired",
            "revoked": "consent_revoked",
            "future": "consent_not_yet_effective",
            "superseded": "no_consent",
            "unattested": "consent_not_attested",
        }[state]
    else:
        reason = "no_relationship"
    return False, reason, part2 and not consent_ok


def test_exhaustive_decision_matrix(app):
    mismatches = []
    cells = 0
    for role in PERSONAS:
        permits = policy.permissions(
            Actor(username="w", agency=ACTOR_AGENCY, roles=frozenset({role}))
        )
        for own, state, relationship, kind, glass in itertools.product(
            (True, False), CONSENT_STATES, RELATIONSHIPS, KINDS, (False, True)
        ):
            section = section_for(kind, own)
            consents, revocations = consents_for(state, section)
            facts = Facts(
                client_id="c1",
                sections=[section],
                consents=consents,
                revocations=revocations,
                birth_date=date(1990, 1, 1),
                relationship=relationship == "yes",
                break_glass=glass,
                trust=trust_for(state, section),
                agreements=WAIVED,
            )
            got = decide_section(section, facts, ACTOR_AGENCY, permits, PURPOSE, AT)
            want = expected(role, own, state, relationship, kind, glass)
            cells += 1
            if (got.shown, got.reason, got.hidden) != want:
                mismatches.append(
                    (
                        role,
                        own,
                        state,
                        relationship,
                        kind,
                        glass,
                        (got.shown, got.reason, got.hidden),
                        want,
                    )
                )
    assert cells == len(PERSONAS) * 2 * len(CONSENT_STATES) * 3 * 3 * 2
    assert mismatches == []


def test_part2_shown_carries_the_redisclosure_notice(app):
    permits = policy.permissions(
        Actor(username="w", agency=ACTOR_AGENCY, roles=frozenset({"case_worker"}))
    )
    section = section_for("part2", own=False)
    consents, revocations = consents_for("permit", section)
    facts = Facts("c1", [section], consents, revocations, None, True, False, agreements=WAIVED)
    decision = decide_section(section, facts, ACTOR_AGENCY, permits, PURPOSE, AT)
    assert decision.shown and decision.notice == consent.PART2_REDISCLOSURE_NOTICE
    plain = section_for("plain", own=False)
    consents, revocations = consents_for("permit", plain)
    facts = Facts("c1", [plain], consents, revocations, None, True, False, agreements=WAIVED)
    assert decide_section(plain, facts, ACTOR_AGENCY, permits, PURPOSE, AT).notice is None


# --- a property over random worlds ------------------------------------------------------

AGENCIES = {"hha": False, "cchc": False, "rrp": True, "usd": False}
CATEGORIES = ["housing", "health", "substance_use", "education"]
codes = st.sampled_from(sorted(AGENCIES))


@st.composite
def worlds(draw):
    agency = draw(codes)
    roles = frozenset(draw(st.sets(st.sampled_from(PERSONAS), max_size=3)))
    sections = [
        SectionFacts(i, source, AGENCIES[source], category)
        for i, (source, category) in enumerate(
            draw(st.lists(st.tuples(codes, st.sampled_from(CATEGORIES)), min_size=1, max_size=6))
        )
    ]
    consents, revocations = [], []
    for i in range(draw(st.integers(0, 4))):

        def scope(values):
            return draw(
                st.one_of(
                    st.just(frozenset({"*"})), st.frozensets(st.sampled_from(values), min_size=1)
                )
            )

        start = AT + timedelta(days=draw(st.integers(-60, 10)))
        expires = draw(
            st.one_of(st.none(), st.integers(-30, 90).map(lambda d: AT + timedelta(days=d)))
        )
        if expires is not None and expires <= start:
            expires = start + timedelta(days=1)
        consents.append(
            consent.Consent(
                id=f"k{i}",
                client_id="c1",
                grantor=consent.Grantor(kind="self", name="C"),
                provision=draw(st.sampled_from(["permit", "deny"])),
                source_agencies=scope(sorted(AGENCIES)),
                categories=scope(CATEGORIES),
                recipients=scope(sorted(AGENCIES)),
                purposes=scope([PURPOSE, "treatment"]),
                effective_from=start,
                expires_at=expires,
                signed_at=start,
                evidence=consent.Evidence(method="written"),
                revocation_right_acknowledged=True,
                recorded_by="o",
                recorded_by_agency=draw(codes),
                recorded_at=start,
            )
        )
        if draw(st.booleans()) and draw(st.booleans()):
            revocations.append(
                consent.Revocation(
                    consent_id=f"k{i}",
                    revoked_at=AT + timedelta(days=draw(st.integers(-5, 5))),
                    revoked_by="o",
                    reason="asked",
                    method="written",
                )
            )
    relationship = draw(st.booleans())
    trust = consent.Trust(
        attestations=[
            consent.Attestation(
                consent_id=f"k{draw(st.integers(0, 3))}",
                agency=draw(codes),
                attested_by="o",
                attested_at=AT - timedelta(days=draw(st.integers(-2, 60))),
            )
            for _ in range(draw(st.integers(0, 3)))
        ],
        rules=[
            consent.TrustRule(
                agency=draw(codes),
                partner=draw(codes),
                categories=draw(st.frozensets(st.sampled_from(CATEGORIES), min_size=1)),
                starts_at=AT - timedelta(days=90),
            )
            for _ in range(draw(st.integers(0, 2)))
        ],
    )
    return (
        agency,
        roles,
        Facts(
            client_id="c1",
            sections=sections,
            consents=consents,
            revocations=revocations,
            birth_date=date(1990, 1, 1),
            relationship=relationship,
            break_glass=False,
            trust=trust,
            # some pairs waived, the others needing an agreement none of them has
            agreements=consent.Agreements(
                waived=consent.agreements.waived_pairs(
                    draw(st.lists(st.tuples(codes, codes), max_size=6))
                )
            ),
        ),
    )


@pytest.fixture
def permits_for(app):
    cache = {}

    def get(agency, roles):
        key = (agency, roles)
        if key not in cache:
            cache[key] = policy.permissions(Actor(username="w", agency=agency, roles=roles))
        return cache[key]

    return get


# The fixture is a read-only cache of policy answers: sharing it across examples is safe.
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=worlds())
def test_shown_iff_policy_and_own_or_consent_and_relationship(permits_for, world):
    agency, roles, facts = world
    permits = permits_for(agency, roles)
    for section in facts.sections:
        got = decide_section(section, facts, agency, permits, PURPOSE, AT)
        consent_ok = (
            section.agency == agency
            or consent.decide(
                facts.consents,
                facts.revocations,
                consent.AccessRequest(
                    client_id="c1",
                    source_agency=section.agency,
                    source_is_part2_program=section.agency_part2,
                    category=section.category,
                    recipient_agency=agency,
                    purpose=PURPOSE,
                    at=AT,
                    client_birth_date=facts.birth_date,
                ),
                trust=facts.trust,
            ).permitted
        )
        agreed = section.agency == agency or facts.agreements.is_waived(section.agency, agency)
        rule = (
            permits(f"record:{section.category}", "read")
            and agreed
            and consent_ok
            and facts.relationship
        )
        assert got.shown == rule
        if not got.shown and permits(f"record:{section.category}", "read") and not agreed:
            assert got.reason == "no_agreement"
        if got.hidden:
            assert section.part2 and not got.shown
