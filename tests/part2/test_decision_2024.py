"""42 CFR Part 2 as amended in 2024, the consent side: the single TPO consent under a
general designation through the intermediary, decided per request (consent.decide).

The decision matrix crosses recipient kind (named / general designation), treating
provider, treating relationship (yes / no / ended), HIPAA covered entity, the (a)(4)(iii)
statement and the purpose (TPO or another); each cell is checked against an expectation
written straight from the rule's words, not from the package's helpers. The properties
check the two promises of the designation for any consents at all.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent import (
    PART2_REDISCLOSURE_NOTICE,
    AccessRequest,
    Consent,
    Designation,
    Evidence,
    Grantor,
    Reason,
    Revocation,
    decide,
    is_narrowing,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
INTERMEDIARY = "caseops"
TPO = ("treatment", "payment", "operations")
SETTINGS = settings(max_examples=300, deadline=None, database=None)


def tpo_consent(**changes) -> Consent:
    """The single TPO consent of a Part 2 program (rrp) under the general designation."""
    values = {
        "id": "k-tpo",
        "client_id": "c1",
        "grantor": Grantor(kind="self", name="Maria Lopez"),
        "provision": "permit",
        "source_agencies": frozenset({"rrp"}),
        "categories": frozenset({"substance_use"}),
        "recipients": frozenset(),
        "purposes": frozenset(TPO),
        "effective_from": T0 - timedelta(days=30),
        "expires_at": None,
        "expiry_event": "none",
        "signed_at": T0 - timedelta(days=30),
        "evidence": Evidence(method="written"),
        "revocation_right_acknowledged": True,
        "recorded_by": "rrp.consent_officer",
        "recorded_at": T0 - timedelta(days=30),
        "recorded_by_agency": "rrp",
        "intermediary": INTERMEDIARY,
        "general_designation": Designation.TREATING_PROVIDER_RELATIONSHIP,
        "recipient_description": "my treating providers, health plans, third-party payers, "
        "and people helping to operate this program",
        "hipaa_redisclosure_statement": True,
    }
    values.update(changes)
    return Consent(**values)


def named_consent(**changes) -> Consent:
    """A Part 2 consent naming the recipient agency (cchc), for TPO and care coordination."""
    base = {
        "id": "k-named",
        "recipients": frozenset({"cchc"}),
        "purposes": frozenset({*TPO, "care_coordination"}),
        "intermediary": None,
        "general_designation": None,
        "recipient_description": None,
    }
    return tpo_consent(**(base | changes))


def request(**changes) -> AccessRequest:
    values = {
        "client_id": "c1",
        "source_agency": "rrp",
        "source_is_part2_program": True,
        "category": "substance_use",
        "recipient_agency": "cchc",
        "purpose": "treatment",
        "at": T0,
        "intermediary": INTERMEDIARY,
        "recipient_is_treating_provider": True,
        "treating_relationship": True,
        "recipient_is_covered_entity": False,
    }
    values.update(changes)
    return AccessRequest(**values)


# --- the matrix ----------------------------------------------------------------------------

# A relationship as an interval around T0: "ended" began before and ended before the
# request's instant; the decision sees only whether it holds at that instant.
RELATIONSHIPS = {
    "yes": (T0 - timedelta(days=10), None),
    "no": None,
    "ended": (T0 - timedelta(days=10), T0 - timedelta(minutes=1)),
}


def holds_at(relationship, at: datetime) -> bool:
    if relationship is None:
        return False
    start, end = relationship
    return start <= at and (end is None or at < end)


CELLS = list(
    itertools.product(
        ("named", "general"),  # recipient kind
        (True, False),  # treating provider
        ("yes", "no", "ended"),  # treating relationship
        (True, False),  # covered entity or business associate
        (True, False),  # the consent carries the (a)(4)(iii) statement
        ("treatment", "payment", "care_coordination"),  # TPO purposes, and another
    )
)


def expected(kind, treating, relationship, covered, statement, purpose) -> Reason:
    """Straight from 42 CFR 2.31(a)(4) and 2.33(a)(2), as the module docstring says."""
    tpo = purpose in TPO
    if kind == "general":
        if not tpo:  # the single consent is for TPO only: other purposes are not covered
            return Reason.NO_CONSENT
        if not treating:  # (a)(4)(ii)(B): a participant with a treating provider relationship
            return Reason.PART2_NOT_TREATING_PROVIDER
        if relationship != "yes":  # ... at that instant
            return Reason.PART2_NO_TREATING_RELATIONSHIP
    if covered and tpo and not statement:  # (a)(4)(iii)
        return Reason.PART2_HIPAA_STATEMENT_MISSING
    return Reason.CONSENT_PERMIT


@pytest.mark.parametrize(
    ("kind", "treating", "relationship", "covered", "statement", "purpose"),
    CELLS,
    ids=["-".join(str(v) for v in cell) for cell in CELLS],
)
def test_decision_matrix(kind, treating, relationship, covered, statement, purpose):
    make = tpo_consent if kind == "general" else named_consent
    consent = make(hipaa_redisclosure_statement=statement)
    decision = decide(
        [consent],
        [],
        request(
            purpose=purpose,
            recipient_is_treating_provider=treating,
            treating_relationship=holds_at(RELATIONSHIPS[relationship], T0),
            recipient_is_covered_entity=covered,
        ),
    )
    want = expected(kind, treating, relationship, covered, statement, purpose)
    assert decision.reason is want
    assert decision.permitted is (want is Reason.CONSENT_PERMIT)
    assert decision.part2  # hide the section when withheld
    if decision.permitted:
        assert decision.obligations == (PART2_REDISCLOSURE_NOTICE,)  # 2.32 travels with it
        assert decision.designation is (kind == "general")  # what the 2.24 list counts


def test_the_designation_reaches_only_through_the_named_intermediary():
    for named in (None, "", "another platform", "caseops inc"):
        decision = decide([tpo_consent(intermediary=named)], [], request())
        assert not decision.permitted
        assert decision.reason is Reason.PART2_INTERMEDIARY_NOT_NAMED
    unconfigured = decide([tpo_consent()], [], request(intermediary=None))
    assert unconfigured.reason is Reason.PART2_INTERMEDIARY_NOT_NAMED
    # the name as written on the form: case and spacing do not matter
    spelled = decide([tpo_consent(intermediary="  CaseOps ")], [], request())
    assert spelled.permitted


def test_the_designation_opens_nothing_but_what_the_consent_names():
    # another source, another category: the designation does not widen the scope
    assert not decide([tpo_consent()], [], request(source_agency="other")).permitted
    assert decide([tpo_consent()], [], request(category="housing")).reason is Reason.NO_CONSENT
    # a named recipient is still decided as before, whatever the designation facts say
    both = tpo_consent(recipients=frozenset({"cchc"}))
    assert decide([both], [], request(treating_relationship=False)).permitted
    assert not decide([both], [], request(treating_relationship=False)).designation


def test_revocation_ends_the_single_consent_at_once():
    revoked = Revocation(
        consent_id="k-tpo",
        revoked_at=T0 - timedelta(hours=1),
        revoked_by="rrp.consent_officer",
        reason="patient asked",
        method="written",
    )
    decision = decide([tpo_consent()], [revoked], request())
    assert decision.reason is Reason.CONSENT_REVOKED


def test_a_deny_still_wins_over_the_designation():
    deny = named_consent(id="k-deny", provision="deny", purposes=frozenset({"treatment"}))
    assert decide([tpo_consent(), deny], [], request()).reason is Reason.CONSENT_DENIED


def test_adding_a_designation_or_the_hipaa_statement_broadens():
    plain = named_consent(hipaa_redisclosure_statement=False)
    assert not is_narrowing(plain, dataclasses.replace(plain, hipaa_redisclosure_statement=True))
    designated = dataclasses.replace(
        plain,
        intermediary=INTERMEDIARY,
        general_designation=Designation.TREATING_PROVIDER_RELATIONSHIP,
    )
    assert not is_narrowing(plain, designated)
    assert is_narrowing(designated, plain)  # dropping it narrows
    moved = dataclasses.replace(designated, intermediary="elsewhere")
    assert not is_narrowing(designated, moved)


# --- properties ----------------------------------------------------------------------------

AGENCIES = ("cchc", "hha", "rrp")


@st.composite
def designated_consents(draw) -> list[Consent]:
    """Consents of client c1 that do not name cchc: some with a general designation (of
    any intermediary), others naming other agencies, in any state of scope."""
    consents = []
    for i in range(draw(st.integers(1, 4))):
        scope = st.sampled_from((frozenset({"*"}), frozenset({"rrp"}), frozenset({"hha"})))
        consents.append(
            tpo_consent(
                id=f"k{i}",
                provision=draw(st.sampled_from(("permit", "permit", "deny"))),
                recipients=draw(st.sampled_from((frozenset(), frozenset({"hha"})))),
                source_agencies=draw(scope),
                categories=draw(
                    st.sampled_from(
                        (frozenset({"*"}), frozenset({"substance_use"}), frozenset({"health"}))
                    )
                ),
                purposes=draw(
                    st.sampled_from(
                        (frozenset(TPO), frozenset({"*"}), frozenset({"treatment", "emergency"}))
                    )
                ),
                intermediary=draw(st.sampled_from((INTERMEDIARY, None, "other hub"))),
                general_designation=draw(
                    st.sampled_from((Designation.TREATING_PROVIDER_RELATIONSHIP, None))
                ),
                hipaa_redisclosure_statement=draw(st.booleans()),
                expires_at=draw(st.sampled_from((None, T0 + timedelta(days=1)))),
                recorded_by_agency=draw(st.sampled_from(AGENCIES)),
            )
        )
    return consents


REQUESTS = st.builds(
    request,
    source_agency=st.sampled_from(AGENCIES),
    source_is_part2_program=st.booleans(),
    category=st.sampled_from(("substance_use", "health", "housing")),
    purpose=st.sampled_from(("treatment", "payment", "operations", "care_coordination")),
    intermediary=st.sampled_from((INTERMEDIARY, "CASEOPS", None)),
    recipient_is_treating_provider=st.booleans(),
    treating_relationship=st.booleans(),
    recipient_is_covered_entity=st.booleans(),
)


@SETTINGS
@given(designated_consents(), REQUESTS)
def test_a_designation_never_discloses_without_a_treating_relationship(consents, req):
    """Whatever the consents (none names cchc), with no treating relationship at the
    request's instant nothing is disclosed to cchc, Part 2 data or not."""
    decision = decide(consents, [], dataclasses.replace(req, treating_relationship=False))
    assert not decision.permitted


@SETTINGS
@given(designated_consents(), REQUESTS)
def test_a_designation_never_discloses_without_the_intermediary_named(consents, req):
    """A disclosure reaching cchc can only come from a consent naming this deployment's
    intermediary, and then cchc is a treating provider with a relationship, for TPO."""
    decision = decide(consents, [], req)
    if decision.permitted:
        relied = next(c for c in consents if c.id == decision.consent_id)
        assert relied.general_designation is not None and decision.designation
        assert " ".join((relied.intermediary or "").split()).casefold() == (
            " ".join((req.intermediary or "").split()).casefold()
        )
        assert relied.intermediary
        assert req.recipient_is_treating_provider and req.treating_relationship
        assert req.purpose in TPO


@SETTINGS
@given(
    st.integers(-48, 48),
    st.integers(-48, 48),
    st.one_of(st.none(), st.integers(-48, 48)),
)
def test_the_relationship_counts_only_at_the_instant(at_hours, start_hours, end_hours):
    """The caller passes whether a relationship holds at the request's instant: a
    relationship that ended (or has not begun) discloses nothing on the next request."""
    at = T0 + timedelta(hours=at_hours)
    start = T0 + timedelta(hours=start_hours)
    end = None if end_hours is None else T0 + timedelta(hours=end_hours)
    holds = start <= at and (end is None or at < end)
    decision = decide([tpo_consent()], [], request(at=at, treating_relationship=holds))
    assert decision.permitted is holds
