"""Who may speak for a source agency: a matrix of the ways a source stands behind a
consent, and properties that hold whatever the consents, attestations and rules are."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent import (
    AccessRequest,
    Attestation,
    Consent,
    Evidence,
    Grantor,
    Reason,
    Revocation,
    Trust,
    TrustRule,
    decide,
    is_narrowing,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SETTINGS = settings(max_examples=400, deadline=None, database=None)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def permit(id: str = "c1", **changes: Any) -> Consent:
    fields: dict[str, Any] = {
        "id": id,
        "client_id": "client-1",
        "grantor": Grantor(kind="self", name="Ann Lee"),
        "provision": "permit",
        "source_agencies": {"HOUSING"},
        "categories": {"housing"},
        "recipients": {"CLINIC"},
        "purposes": {"care_coordination"},
        "effective_from": hours(-10),
        "expires_at": hours(1000),
        "signed_at": hours(-10),
        "evidence": Evidence(method="written"),
        "recorded_by": "officer",
        "recorded_by_agency": "CLINIC",
        "recorded_at": hours(-10),
    }
    fields.update(changes)
    return Consent(**fields)


def part2_permit(id: str = "p1", **changes: Any) -> Consent:
    fields: dict[str, Any] = {
        "source_agencies": {"TREAT"},
        "categories": {"housing"},
        "revocation_right_acknowledged": True,
    }
    return permit(id, **(fields | changes))


def request(**changes: Any) -> AccessRequest:
    fields: dict[str, Any] = {
        "client_id": "client-1",
        "source_agency": "HOUSING",
        "source_is_part2_program": False,
        "category": "housing",
        "recipient_agency": "CLINIC",
        "purpose": "care_coordination",
        "at": hours(1),
    }
    return AccessRequest(**(fields | changes))


def part2_request(**changes: Any) -> AccessRequest:
    fields = {"source_agency": "TREAT", "source_is_part2_program": True, "category": "housing"}
    return request(**(fields | changes))


def attest(consent_id: str, agency: str, at: datetime = T0) -> Attestation:
    return Attestation(consent_id=consent_id, agency=agency, attested_by="x", attested_at=at)


def rule(agency: str, partner: str, categories: set[str], **changes: Any) -> TrustRule:
    fields: dict[str, Any] = {
        "agency": agency,
        "partner": partner,
        "categories": categories,
        "starts_at": hours(-100),
    }
    return TrustRule(**(fields | changes))


# --- the matrix: who stands behind a permit --------------------------------------------------

HOUSING_RULE = rule("HOUSING", "CLINIC", {"housing"})


@pytest.mark.parametrize(
    ("consent", "trust", "permitted"),
    [
        # Recorded by the source itself.
        (permit(recorded_by_agency="HOUSING"), Trust(), True),
        # Recorded by another agency, nobody from the source acted.
        (permit(), Trust(), False),
        (permit(recorded_by_agency=None), Trust(), False),
        # Attested by the source.
        (permit(), Trust(attestations=[attest("c1", "HOUSING")]), True),
        # Attested, but by somebody else, or for another consent, or only later.
        (permit(), Trust(attestations=[attest("c1", "CLINIC")]), False),
        (permit(), Trust(attestations=[attest("c2", "HOUSING")]), False),
        (permit(), Trust(attestations=[attest("c1", "HOUSING", hours(2))]), False),
        # A standing rule of the source for the recorder and the category.
        (permit(), Trust(rules=[HOUSING_RULE]), True),
        (permit(), Trust(rules=[rule("HOUSING", "SCHOOL", {"housing"})]), False),
        (permit(), Trust(rules=[rule("HOUSING", "CLINIC", {"health"})]), False),
        (permit(), Trust(rules=[rule("CLINIC", "CLINIC", {"housing"})]), False),
        (permit(), Trust(rules=[rule("HOUSING", "CLINIC", {"*"})]), False),
        (permit(), Trust(rules=[rule("HOUSING", "CLINIC", {"housing"}, ends_at=hours(0))]), False),
        (
            permit(),
            Trust(rules=[rule("HOUSING", "CLINIC", {"housing"}, starts_at=hours(5))]),
            False,
        ),
        (permit(recorded_by_agency=None), Trust(rules=[HOUSING_RULE]), False),
    ],
)
def test_a_permit_opens_a_source_only_once_the_source_stood_behind_it(
    consent: Consent, trust: Trust, permitted: bool
) -> None:
    decision = decide([consent], [], request(), trust=trust)
    assert decision.permitted is permitted
    if not permitted:
        assert (decision.reason, decision.consent_id) == (Reason.CONSENT_NOT_ATTESTED, "c1")


def test_the_default_trust_counts_only_the_recording_agency() -> None:
    consent = permit(source_agencies={"HOUSING", "SCHOOL"}, recorded_by_agency="HOUSING")
    assert decide([consent], [], request()).permitted
    school = request(source_agency="SCHOOL")
    assert decide([consent], [], school).reason is Reason.CONSENT_NOT_ATTESTED


def test_each_source_of_a_consent_stands_behind_it_separately() -> None:
    consent = permit(source_agencies={"*"})
    trust = Trust(attestations=[attest("c1", "HOUSING")])
    assert decide([consent], [], request(), trust=trust).permitted
    other = decide([consent], [], request(source_agency="SCHOOL"), trust=trust)
    assert other.reason is Reason.CONSENT_NOT_ATTESTED


@pytest.mark.parametrize(
    ("req", "consent"),
    [
        (part2_request(), part2_permit(categories={"housing"})),  # a Part 2 program's record
        (request(category="substance_use"), permit(categories={"substance_use"})),  # SUD data
    ],
)
@pytest.mark.parametrize(
    ("trust", "permitted"),
    [
        (Trust(rules=[rule("TREAT", "CLINIC", {"housing", "substance_use"})]), False),
        (Trust(rules=[rule("HOUSING", "CLINIC", {"housing", "substance_use"})]), False),
        (Trust(attestations=[attest("c1", "TREAT"), attest("p1", "TREAT")]), "TREAT"),
        (Trust(attestations=[attest("c1", "HOUSING"), attest("p1", "HOUSING")]), "HOUSING"),
    ],
)
def test_part2_data_needs_the_holders_own_act_never_a_standing_rule(
    req: AccessRequest, consent: Consent, trust: Trust, permitted: bool | str
) -> None:
    expected = permitted == req.source_agency
    assert decide([consent], [], req, trust=trust).permitted is expected


def test_a_part2_program_recording_its_own_consent_needs_nothing_more() -> None:
    consent = part2_permit(categories={"housing"}, recorded_by_agency="TREAT")
    assert decide([consent], [], part2_request()).permitted


def test_deny_needs_no_attestation() -> None:
    allowed = permit("a1", recorded_by_agency="HOUSING")
    deny = permit("d1", provision="deny", recorded_by_agency="SCHOOL")
    decision = decide([allowed, deny], [], request())
    assert (decision.permitted, decision.reason) == (False, Reason.CONSENT_DENIED)


def test_revocation_recorded_by_anyone_counts() -> None:
    allowed = permit("a1", recorded_by_agency="HOUSING")
    revocation = Revocation(
        consent_id="a1", revoked_at=hours(0), revoked_by="someone", reason="x", method="verbal"
    )
    assert decide([allowed], [revocation], request()).reason is Reason.CONSENT_REVOKED


def test_form_defects_are_reported_before_the_missing_attestation() -> None:
    consent = part2_permit(recipients={"*"})
    decision = decide([consent], [], part2_request())
    assert decision.reason is Reason.PART2_RECIPIENT_NOT_NAMED


# --- amendments ----------------------------------------------------------------------------


def amended(old: Consent, **changes: Any) -> Consent:
    fields = {
        "id": "c2",
        "supersedes": old.id,
        "version": old.version + 1,
        "recorded_at": hours(0),
        "recorded_by_agency": "SCHOOL",
    }
    return dataclasses.replace(old, **(fields | changes))


ATTESTED = Trust(attestations=[attest("c1", "HOUSING", hours(-5))])


@pytest.mark.parametrize(
    ("changes", "narrowing"),
    [
        ({}, True),
        ({"recipients": frozenset({"CLINIC"})}, True),
        ({"purposes": frozenset({"care_coordination"})}, True),
        ({"expires_at": hours(500)}, True),
        ({"effective_from": hours(-5)}, True),
        ({"provision": "deny"}, True),
        ({"categories": frozenset({"housing", "health"})}, False),
        ({"recipients": frozenset({"CLINIC", "SCHOOL", "JUSTICE"})}, False),
        ({"recipients": frozenset({"*"})}, False),
        ({"expires_at": None}, False),
        ({"expires_at": hours(2000)}, False),
        ({"effective_from": hours(-20), "signed_at": hours(-20)}, False),
        ({"grantor": Grantor(kind="parent", name="Bo Lee")}, False),
        ({"client_id": "client-2"}, False),
    ],
)
def test_narrowing_amendments_keep_the_attestation_broadening_ones_need_it_again(
    changes: dict[str, Any], narrowing: bool
) -> None:
    old = permit(recipients={"CLINIC", "SCHOOL"}, purposes={"care_coordination", "treatment"})
    new = amended(old, **changes)
    assert is_narrowing(old, new) is narrowing
    decision = decide([old, new], [], request(), trust=ATTESTED)
    if new.provision == "deny":
        assert decision.reason is Reason.CONSENT_DENIED
    elif narrowing:
        assert decision.permitted and decision.consent_id == "c2"
    elif not narrowing and new.client_id == old.client_id:
        assert decision.reason is Reason.CONSENT_NOT_ATTESTED
        again = Trust(attestations=[*ATTESTED.attestations, attest("c2", "HOUSING")])
        assert decide([old, new], [], request(), trust=again).permitted


def test_an_unattested_version_passes_nothing_on() -> None:
    old = permit()
    new = amended(old, expires_at=hours(500))
    assert decide([old, new], [], request()).reason is Reason.CONSENT_NOT_ATTESTED


def test_a_narrowing_of_a_form_defective_part2_version_inherits_nothing() -> None:
    old = part2_permit(recipients={"*"}, purposes={"*"})
    new = amended(old, recipients=frozenset({"CLINIC"}), purposes=frozenset({"care_coordination"}))
    trust = Trust(attestations=[attest("p1", "TREAT", hours(-5))])
    assert decide([old, new], [], part2_request(), trust=trust).reason is (
        Reason.CONSENT_NOT_ATTESTED
    )


def test_deny_replacing_deny_narrows_only_when_it_refuses_as_much() -> None:
    old = permit(provision="deny", source_agencies={"*"})
    assert is_narrowing(old, amended(old))
    assert not is_narrowing(old, amended(old, source_agencies=frozenset({"HOUSING"})))
    assert not is_narrowing(old, amended(old, expires_at=hours(10)))
    assert not is_narrowing(old, amended(old, provision="permit"))


# --- properties ----------------------------------------------------------------------------

AGENCIES = ("A", "B", "C")
CATEGORIES = ("housing", "substance_use")
CODES = st.sampled_from(AGENCIES)
HOURS = st.integers(-4, 4).map(lambda n: hours(n * 10))


def scope_of(values: tuple[str, ...]):
    return st.one_of(st.just(frozenset({"*"})), st.frozensets(st.sampled_from(values), min_size=1))


@st.composite
def consents(draw: st.DrawFn, id: str, supersedes: str | None) -> Consent:
    start = draw(HOURS)
    lasts = draw(st.sampled_from((None, 30, 80)))
    return Consent(
        id=id,
        client_id="c",
        grantor=Grantor(kind="self", name="Ann"),
        provision=draw(st.sampled_from(("permit", "permit", "permit", "deny"))),
        source_agencies=draw(scope_of(AGENCIES)),
        categories=draw(scope_of(CATEGORIES)),
        recipients=draw(st.sampled_from((frozenset({"*"}), frozenset({"B"}), frozenset("BC")))),
        purposes=frozenset({"treatment"}),
        effective_from=start,
        expires_at=None if lasts is None else start + timedelta(hours=lasts),
        signed_at=start,
        evidence=Evidence(method="written"),
        revocation_right_acknowledged=True,
        recorded_by="someone",
        recorded_by_agency=draw(st.sampled_from((*AGENCIES, None))),
        recorded_at=draw(HOURS),
        version=2 if supersedes else 1,
        supersedes=supersedes,
    )


@st.composite
def worlds(draw: st.DrawFn):
    ids = [f"k{i}" for i in range(draw(st.integers(1, 4)))]
    items = [
        draw(consents(id, draw(st.sampled_from([None, *ids[:i]])) if i else None))
        for i, id in enumerate(ids)
    ]
    attestations = [
        attest(draw(st.sampled_from(ids)), draw(CODES), draw(HOURS))
        for _ in range(draw(st.integers(0, 3)))
    ]
    rules = [
        rule(draw(CODES), draw(CODES), draw(st.frozensets(st.sampled_from(CATEGORIES))))
        for _ in range(draw(st.integers(0, 2)))
    ]
    revocations = [
        Revocation(
            consent_id=draw(st.sampled_from(ids)),
            revoked_at=draw(HOURS),
            revoked_by="someone",
            reason="asked",
            method="verbal",
        )
        for _ in range(draw(st.integers(0, 1)))
    ]
    req = AccessRequest(
        client_id="c",
        source_agency=draw(CODES),
        source_is_part2_program=draw(st.booleans()),
        category=draw(st.sampled_from(CATEGORIES)),
        recipient_agency="B",
        purpose="treatment",
        at=draw(HOURS),
    )
    return items, revocations, Trust(attestations=attestations, rules=rules), req


def without_acts_of(agency: str, items, trust: Trust, *, keep_rules: bool):
    """The world as if ``agency`` had never recorded, attested (nor, unless kept, ruled)."""
    items = [
        dataclasses.replace(c, recorded_by_agency="Z") if c.recorded_by_agency == agency else c
        for c in items
    ]
    trust = Trust(
        attestations=[a for a in trust.attestations if a.agency != agency],
        rules=[r for r in trust.rules if keep_rules or r.agency != agency],
    )
    return items, trust


@SETTINGS
@given(worlds())
def test_a_consent_never_opens_a_source_that_did_not_stand_behind_it(world) -> None:
    items, revocations, trust, req = world
    items, trust = without_acts_of(req.source_agency, items, trust, keep_rules=False)
    assert not decide(items, revocations, req, trust=trust).permitted


@SETTINGS
@given(worlds())
def test_part2_never_opens_without_the_holders_own_act(world) -> None:
    items, revocations, trust, req = world
    if not req.is_part2:
        req = dataclasses.replace(req, category="substance_use")
    items, trust = without_acts_of(req.source_agency, items, trust, keep_rules=True)
    assert not decide(items, revocations, req, trust=trust).permitted


@SETTINGS
@given(worlds(), st.sampled_from(("k0", "k1", "k2", "k3")), HOURS)
def test_revoking_a_permit_by_any_agency_only_narrows(world, consent_id: str, at: datetime) -> None:
    """(Revoking a deny re-opens what the permits allow: only what their sources stood
    behind, which the first property covers.)"""
    items, revocations, trust, req = world
    if any(c.id == consent_id and c.provision == "deny" for c in items):
        return
    revocation = Revocation(
        consent_id=consent_id, revoked_at=at, revoked_by="anyone", reason="x", method="verbal"
    )
    if decide(items, [*revocations, revocation], req, trust=trust).permitted:
        assert decide(items, revocations, req, trust=trust).permitted


@SETTINGS
@given(worlds(), st.data())
def test_a_narrowing_amendment_never_widens_what_decide_permits(world, data) -> None:
    items, revocations, trust, req = world
    # Amend the latest version of the first consent, by an agency that is not the source
    # and with no attestation of its own: whatever it opens, it inherited.
    replaced = {c.supersedes for c in items}
    old = next(c for c in reversed(items) if c.id not in replaced)
    if old.provision == "deny":
        return
    new = dataclasses.replace(
        old,
        id="amend",
        supersedes=old.id,
        recorded_by_agency=data.draw(st.sampled_from(("Z", None))),
        recorded_at=data.draw(HOURS),
        recipients=data.draw(st.sampled_from((old.recipients, frozenset({"B"})))),
        categories=data.draw(st.sampled_from((old.categories, frozenset({"substance_use"})))),
        expires_at=data.draw(
            st.sampled_from((old.expires_at, old.effective_from + timedelta(hours=40)))
        ),
    )
    if not is_narrowing(old, new) or req.at < new.recorded_at:
        return
    # Once amended, a later revocation would name the new version (the service refuses to
    # revoke a superseded one): drop such events from both worlds.
    revocations = [
        r for r in revocations if not (r.consent_id == old.id and r.revoked_at > new.recorded_at)
    ]
    if decide([*items, new], revocations, req, trust=trust).permitted:
        assert decide(items, revocations, req, trust=trust).permitted
