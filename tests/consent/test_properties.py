"""Property tests: decide() against an oracle written straight from the rules.

The oracle deliberately uses none of the package's helpers (status, coverage, age), so a
mistake in them cannot hide behind the same mistake in the test.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from consent import (
    PART2_REDISCLOSURE_NOTICE,
    AccessRequest,
    Consent,
    ConsentDecision,
    Evidence,
    Grantor,
    Revocation,
    decide,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
IDS = tuple(f"k{i}" for i in range(8))
AGENCIES = ("A", "B")
CATEGORIES = ("housing", "substance_use", "education")
PURPOSES = ("treatment", "care_coordination")
BIRTH_DATES = (
    None,
    date(2015, 3, 1),  # a child throughout
    date(1990, 3, 1),  # an adult throughout
    date(2007, 1, 5),  # turns 18 at T0 + 96 h, inside the generated window
    date(2007, 1, 5),  # listed twice: the birthday is where the FERPA rules differ
)
SETTINGS = settings(max_examples=300, deadline=None, database=None)


def at_hour(hour: int) -> datetime:
    return T0 + timedelta(hours=hour)


# Scopes are drawn relative to the request so that most consents come close to covering it.
SCOPE_SHAPES = st.sampled_from(("any", "any", "exact", "exact", "wider", "wider", "miss"))
KINDS = st.sampled_from(("self", "parent", "guardian", "authorized_representative"))
CLIENT = st.sampled_from(("c1", "c1", "c1", "c2"))
PROVISIONS = st.sampled_from(("permit", "permit", "permit", "deny"))
HOURS = st.integers(-10, 40).map(lambda tens: tens * 10)  # a coarse grid makes ties common


def scope(draw: st.DrawFn, code: str, codes: tuple[str, ...]) -> frozenset[str]:
    other = next(c for c in codes if c != code)
    shape = draw(SCOPE_SHAPES)
    return {
        "any": frozenset({"*"}),
        "exact": frozenset({code}),
        "wider": frozenset({code, other}),
        "miss": frozenset({other}),
    }[shape]


def make_consent(draw: st.DrawFn, id: str, ids: list[str], req: AccessRequest) -> Consent:
    effective_from = at_hour(draw(st.integers(-10, 10)) * 10)
    lasts = draw(st.sampled_from((None,) * 8 + tuple(range(10, 401, 10))))
    signed = draw(st.sampled_from((None, *range(-200, 151, 10))))
    return Consent(
        id=id,
        client_id=draw(CLIENT),
        grantor=Grantor(kind=draw(KINDS), name="Signer"),
        provision=draw(PROVISIONS),
        source_agencies=scope(draw, req.source_agency, AGENCIES),
        categories=scope(draw, req.category, CATEGORIES),
        recipients=scope(draw, req.recipient_agency, AGENCIES),
        purposes=scope(draw, req.purpose, PURPOSES),
        effective_from=effective_from,
        expires_at=None if lasts is None else effective_from + timedelta(hours=lasts),
        expiry_event=draw(st.sampled_from((None, None, "end of treatment"))),
        signed_at=None if signed is None else at_hour(signed),
        evidence=Evidence(method="written"),
        recorded_by="officer",
        # The oracle knows nothing of trust: the request's source records every consent.
        recorded_by_agency=req.source_agency,
        recorded_at=at_hour(draw(HOURS)),
        supersedes=draw(st.sampled_from([None] * 8 + ids)),
    )


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Consent], list[Revocation], AccessRequest]:
    req = AccessRequest(
        client_id="c1",
        source_agency=draw(st.sampled_from(AGENCIES)),
        source_is_part2_program=draw(st.sampled_from((False, False, False, True))),
        category=draw(st.sampled_from(CATEGORIES)),
        recipient_agency=draw(st.sampled_from(AGENCIES)),
        purpose=draw(st.sampled_from(PURPOSES)),
        at=at_hour(draw(st.integers(0, 20)) * 10),
        client_birth_date=draw(st.sampled_from(BIRTH_DATES)),
    )
    ids = draw(st.lists(st.sampled_from(IDS), unique=True, min_size=1, max_size=6))
    consent_list = [make_consent(draw, id, ids, req) for id in ids]
    revoked_ids = st.sampled_from(ids or IDS)
    revocations = [
        Revocation(
            consent_id=draw(revoked_ids),
            revoked_at=at_hour(draw(HOURS)),
            revoked_by="officer",
            reason="asked",
            method="verbal",
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    # Half the time, ask exactly at an instant where some consent changes state.
    edges = [at_hour(96), *(r.revoked_at for r in revocations)]  # 96 h: an 18th birthday
    for c in consent_list:
        edges += [c.effective_from, c.recorded_at]
        edges += [t for t in (c.expires_at, c.signed_at) if t is not None]
    if draw(st.booleans()):
        req = dataclasses.replace(req, at=draw(st.sampled_from(edges)))
    return consent_list, revocations, req


@st.composite
def ferpa_worlds(draw: st.DrawFn) -> tuple[list[Consent], list[Revocation], AccessRequest]:
    """One covering education permit, signed and asked about on a 4-hour grid around hour 96."""
    signed_at = at_hour(draw(st.integers(-30, 40)) * 4)
    consent = Consent(
        id="f1",
        client_id="c1",
        grantor=Grantor(kind=draw(KINDS), name="Signer"),
        provision="permit",
        source_agencies={"A"},
        categories=draw(st.sampled_from(({"education"}, {"*"}))),
        recipients={"B"},
        purposes={"treatment"},
        effective_from=signed_at,
        signed_at=signed_at,
        evidence=Evidence(method="written"),
        recorded_by="officer",
        recorded_by_agency="A",
        recorded_at=signed_at,
    )
    req = AccessRequest(
        client_id="c1",
        source_agency="A",
        source_is_part2_program=False,
        category="education",
        recipient_agency="B",
        purpose="treatment",
        at=signed_at + timedelta(hours=draw(st.integers(0, 40)) * 4),
        client_birth_date=draw(st.sampled_from(BIRTH_DATES)),
    )
    return [consent], [], req


# --- the oracle, from the rules ------------------------------------------------------------


def is_part2(req: AccessRequest) -> bool:
    return req.category == "substance_use" or req.source_is_part2_program


def covering(consent: Consent, req: AccessRequest) -> bool:
    wanted = [
        (consent.source_agencies, req.source_agency),
        (consent.categories, req.category),
        (consent.recipients, req.recipient_agency),
        (consent.purposes, req.purpose),
    ]
    return consent.client_id == req.client_id and all(
        "*" in scope or code in scope for scope, code in wanted
    )


def active(
    consent: Consent, consents: list[Consent], revocations: list[Revocation], at: datetime
) -> bool:
    return (
        consent.signed_at is not None
        and consent.signed_at <= at
        and consent.effective_from <= at
        and (consent.expires_at is None or at < consent.expires_at)
        and not any(r.consent_id == consent.id and r.revoked_at <= at for r in revocations)
        and not any(s.supersedes == consent.id and s.recorded_at <= at for s in consents)
    )


def superseded(consent_id: str, consents: list[Consent], at: datetime) -> bool:
    return any(s.supersedes == consent_id and s.recorded_at <= at for s in consents)


def named(scope: frozenset[str], code: str) -> bool:
    return "*" not in scope and code in scope


def years(birth: date, on: date) -> int:
    anniversary_passed = (on.month, on.day) >= (birth.month, birth.day)
    return on.year - birth.year - (0 if anniversary_passed else 1)


def qualifies(consent: Consent, req: AccessRequest) -> bool:
    """An active covering permit may disclose only if Part 2 and FERPA are satisfied."""
    if is_part2(req) and not (
        named(consent.source_agencies, req.source_agency)
        and named(consent.categories, req.category)
        and named(consent.recipients, req.recipient_agency)
        and named(consent.purposes, req.purpose)
        and (consent.expires_at is not None or consent.expiry_event is not None)
    ):
        return False
    if req.category == "education":
        birth = req.client_birth_date
        if birth is None or consent.signed_at is None:
            return False
        minor_when_signed = years(birth, consent.signed_at.date()) < 18
        adult_now = years(birth, req.at.date()) >= 18
        if minor_when_signed:
            return consent.grantor.kind in ("parent", "guardian") and not adult_now
        return consent.grantor.kind == "self"
    return True


def oracle_permits(
    consents: list[Consent], revocations: list[Revocation], req: AccessRequest
) -> bool:
    relevant = [
        c for c in consents if covering(c, req) and active(c, consents, revocations, req.at)
    ]
    if any(c.provision == "deny" for c in relevant):
        return False
    return any(c.provision == "permit" and qualifies(c, req) for c in relevant)


def by_id(consents: list[Consent], consent_id: str | None) -> Consent:
    [consent] = [c for c in consents if c.id == consent_id]
    return consent


# --- properties ----------------------------------------------------------------------------


@settings(SETTINGS, max_examples=1000)
@given(worlds())
def test_permitted_exactly_when_the_oracle_says_so(world) -> None:
    consent_list, revocations, req = world
    decision = decide(consent_list, revocations, req)
    assert decision.permitted == oracle_permits(consent_list, revocations, req)
    assert decision.permitted == (decision.reason == "consent_permit")


@SETTINGS
@given(ferpa_worlds())
def test_ferpa_signer_rules_match_the_oracle(world) -> None:
    consent_list, revocations, req = world
    decision = decide(consent_list, revocations, req)
    assert decision.permitted == oracle_permits(consent_list, revocations, req)


@SETTINGS
@given(worlds())
def test_deny_always_wins(world) -> None:
    consent_list, revocations, req = world
    denies = [
        c
        for c in consent_list
        if c.provision == "deny"
        and covering(c, req)
        and active(c, consent_list, revocations, req.at)
    ]
    decision = decide(consent_list, revocations, req)
    if denies:
        assert not decision.permitted
        assert decision.reason == "consent_denied"
        assert decision.consent_id == min(c.id for c in denies)


@SETTINGS
@given(worlds())
def test_relied_on_consent_is_in_force_covering_and_a_permit(world) -> None:
    consent_list, revocations, req = world
    decision = decide(consent_list, revocations, req)
    if not decision.permitted:
        return
    consent = by_id(consent_list, decision.consent_id)
    assert consent.provision == "permit" and covering(consent, req)
    assert consent.signed_at is not None and consent.signed_at <= req.at
    assert consent.effective_from <= req.at
    assert consent.expires_at is None or req.at < consent.expires_at
    assert all(r.revoked_at > req.at for r in revocations if r.consent_id == consent.id)


@SETTINGS
@given(worlds())
def test_part2_never_permits_without_the_recipient_named(world) -> None:
    consent_list, revocations, req = world
    decision = decide(consent_list, revocations, req)
    assert decision.part2 == is_part2(req)
    if decision.permitted and is_part2(req):
        consent = by_id(consent_list, decision.consent_id)
        assert named(consent.recipients, req.recipient_agency)
        assert decision.obligations == (PART2_REDISCLOSURE_NOTICE,)
    else:
        assert decision.obligations == ()


@SETTINGS
@given(worlds())
def test_superseded_versions_never_decide(world) -> None:
    consent_list, revocations, req = world
    decision = decide(consent_list, revocations, req)
    if decision.consent_id is not None:
        assert not superseded(decision.consent_id, consent_list, req.at)


@SETTINGS
@given(worlds(), st.randoms(use_true_random=False))
def test_input_order_never_matters(world, rnd) -> None:
    consent_list, revocations, req = world
    decision: ConsentDecision = decide(consent_list, revocations, req)
    shuffled_consents, shuffled_revocations = list(consent_list), list(revocations)
    rnd.shuffle(shuffled_consents)
    rnd.shuffle(shuffled_revocations)
    assert decide(shuffled_consents, shuffled_revocations, req) == decision


@SETTINGS
@given(worlds())
def test_a_revocation_at_the_instant_stops_the_permit(world) -> None:
    consent_list, revocations, req = world
    decision = decide(consent_list, revocations, req)
    if not decision.permitted:
        return
    assert decision.consent_id is not None
    revoked_now = Revocation(
        consent_id=decision.consent_id,
        revoked_at=req.at,
        revoked_by="officer",
        reason="asked",
        method="verbal",
    )
    after = decide(consent_list, [*revocations, revoked_now], req)
    assert after.consent_id != decision.consent_id or not after.permitted
