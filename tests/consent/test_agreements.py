"""Data sharing agreements, the pure rules (``consent.agreements``): when a version is in
force, what it covers, waivers, amendments and trust clauses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import consent
from consent.agreements import (
    WAIVED,
    Agreement,
    Agreements,
    AgreementStatus,
    ShareClause,
    TrustClause,
    day_start,
    period_end,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
AGENCIES = ["hha", "cchc", "rrp", "usd"]
CATEGORIES = ["housing", "health", "substance_use", "education"]
PURPOSES = ["care_coordination", "treatment"]


def agreement(
    id="agr_1",
    parties=("hha", "cchc"),
    categories=("housing",),
    purposes=("care_coordination",),
    accepted=("hha", "cchc"),
    starts=T0,
    ends=T0 + timedelta(days=365),
    **fields,
) -> Agreement:
    fields.setdefault(
        "share",
        (ShareClause(categories=frozenset(categories), purposes=frozenset(purposes)),),
    )
    fields.setdefault("acceptances", {p: starts for p in accepted})
    return Agreement(id=id, parties=frozenset(parties), starts_at=starts, ends_at=ends, **fields)


NOW = T0 + timedelta(days=10)


def test_an_agreement_accepted_by_every_party_covers_its_flows_both_ways():
    pacts = Agreements((agreement(),))
    assert pacts.basis("hha", "cchc", "housing", "care_coordination", NOW) == "agr_1"
    assert pacts.basis("cchc", "hha", "housing", "care_coordination", NOW) == "agr_1"
    assert pacts.basis("hha", "cchc", "health", "care_coordination", NOW) is None
    assert pacts.basis("hha", "cchc", "housing", "treatment", NOW) is None
    assert pacts.basis("hha", "rrp", "housing", "care_coordination", NOW) is None


def test_pending_until_the_last_party_accepts():
    pending = Agreements((agreement(accepted=("hha",)),))
    assert pending.basis("hha", "cchc", "housing", "care_coordination", NOW) is None
    assert pending.status_at(pending.agreements[0], NOW) is AgreementStatus.PENDING
    late = agreement(acceptances={"hha": T0, "cchc": NOW}, accepted=())
    pacts = Agreements((late,))
    assert not pacts.in_force(late, NOW - timedelta(seconds=1))
    assert pacts.in_force(late, NOW)


def test_the_period_ends_with_its_termination_date_and_a_termination_at_its_instant():
    ends_on = date(2026, 3, 31)
    version = agreement(ends=period_end(ends_on))
    pacts = Agreements((version,))
    assert pacts.in_force(version, datetime(2026, 3, 31, 23, 59, tzinfo=UTC))
    assert not pacts.in_force(version, day_start(date(2026, 4, 1)))
    assert pacts.status_at(version, day_start(date(2026, 4, 1))) is AgreementStatus.EXPIRED
    ended = agreement(terminated_at=NOW)
    pacts = Agreements((ended,))
    assert pacts.in_force(ended, NOW - timedelta(microseconds=1))
    assert not pacts.in_force(ended, NOW)
    assert pacts.status_at(ended, NOW) is AgreementStatus.TERMINATED


def test_an_amendment_replaces_its_version_only_once_every_party_accepts_it():
    old = agreement(categories=("housing", "health"))
    pending = agreement(id="agr_2", supersedes="agr_1", accepted=("hha",))
    pacts = Agreements((old, pending))
    assert pacts.basis("hha", "cchc", "health", "care_coordination", NOW) == "agr_1"
    accepted = agreement(
        id="agr_2", supersedes="agr_1", accepted=(), acceptances={"hha": T0, "cchc": NOW}
    )
    pacts = Agreements((old, accepted))
    before = NOW - timedelta(seconds=1)
    assert pacts.basis("hha", "cchc", "health", "care_coordination", before) == "agr_1"
    # narrower: health is no longer covered; housing is, by the new version
    assert pacts.basis("hha", "cchc", "health", "care_coordination", NOW) is None
    assert pacts.basis("hha", "cchc", "housing", "care_coordination", NOW) == "agr_2"
    assert pacts.status_at(old, NOW) is AgreementStatus.SUPERSEDED
    # terminating the amendment later does not revive the version it replaced
    ended = agreement(
        id="agr_2",
        supersedes="agr_1",
        accepted=(),
        acceptances={"hha": T0, "cchc": NOW},
        terminated_at=NOW + timedelta(days=1),
    )
    later = NOW + timedelta(days=2)
    assert (
        Agreements((old, ended)).basis("hha", "cchc", "housing", "care_coordination", later) is None
    )


def test_waivers_name_unordered_pairs_and_own_records_are_not_asked():
    pacts = Agreements(waived=consent.agreements.waived_pairs([("cchc", "hha")]))
    assert pacts.basis("hha", "cchc", "health", "treatment", NOW) == WAIVED
    assert pacts.basis("cchc", "hha", "health", "treatment", NOW) == WAIVED
    assert pacts.basis("hha", "rrp", "health", "treatment", NOW) is None
    with pytest.raises(ValueError):
        pacts.basis("hha", "hha", "health", "treatment", NOW)


def test_trust_clauses_become_rules_in_force_while_their_agreement_is():
    version = agreement(
        share=(),
        trust=(TrustClause(agency="hha", partner="cchc", categories=frozenset({"housing"})),),
        categories=(),
        terminated_at=NOW,
    )
    # ``share`` passed explicitly replaces the default clause
    rules = Agreements((version,)).trust_rules()
    assert len(rules) == 1
    rule = rules[0]
    assert rule.accepts("hha", "cchc", "housing", NOW - timedelta(seconds=1))
    assert not rule.accepts("hha", "cchc", "housing", NOW)
    pending = agreement(
        accepted=("hha",),
        trust=(TrustClause(agency="hha", partner="cchc", categories=frozenset({"housing"})),),
    )
    assert Agreements((pending,)).trust_rules() == ()


def test_a_trust_clause_never_reaches_substance_use():
    version = agreement(
        trust=(
            TrustClause(
                agency="hha", partner="cchc", categories=frozenset({"substance_use", "housing"})
            ),
        )
    )
    (rule,) = Agreements((version,)).trust_rules()
    assert not rule.accepts("hha", "cchc", "substance_use", NOW)
    assert rule.accepts("hha", "cchc", "housing", NOW)


def test_the_empty_default_covers_nothing():
    for source in AGENCIES:
        for recipient in AGENCIES:
            if source != recipient:
                assert (
                    consent.NO_AGREEMENTS.basis(source, recipient, "housing", "treatment", NOW)
                    is None
                )


# --- properties ------------------------------------------------------------------------------

instants = st.integers(min_value=0, max_value=400).map(lambda d: T0 + timedelta(days=d))


@st.composite
def versions(draw, id):
    parties = draw(st.frozensets(st.sampled_from(AGENCIES), min_size=2, max_size=3))
    starts = draw(instants)
    ends = draw(st.one_of(st.none(), instants))
    if ends is not None and ends < starts:
        starts, ends = ends, starts
    accepted = draw(st.dictionaries(st.sampled_from(sorted(parties)), instants))
    return Agreement(
        id=id,
        parties=parties,
        starts_at=starts,
        ends_at=ends,
        share=(
            ShareClause(
                categories=draw(st.frozensets(st.sampled_from(CATEGORIES), min_size=1)),
                purposes=draw(st.frozensets(st.sampled_from(PURPOSES), min_size=1)),
            ),
        ),
        acceptances=accepted,
        terminated_at=draw(st.one_of(st.none(), instants)),
    )


@st.composite
def worlds(draw):
    count = draw(st.integers(0, 4))
    items = []
    for i in range(count):
        item = draw(versions(f"agr_{i}"))
        if i and draw(st.booleans()):  # an amendment of an earlier version, same parties
            parent = items[draw(st.integers(0, i - 1))]
            item = Agreement(
                id=item.id,
                parties=parent.parties,
                starts_at=item.starts_at,
                ends_at=item.ends_at,
                share=item.share,
                acceptances={p: t for p, t in item.acceptances.items() if p in parent.parties},
                terminated_at=item.terminated_at,
                supersedes=parent.id,
            )
        items.append(item)
    pairs = draw(st.lists(st.tuples(st.sampled_from(AGENCIES), st.sampled_from(AGENCIES))))
    return Agreements(tuple(items), consent.agreements.waived_pairs(pairs))


requests = st.sampled_from(AGENCIES).flatmap(
    lambda source: st.tuples(
        st.just(source),
        st.sampled_from([a for a in AGENCIES if a != source]),
        st.sampled_from(CATEGORIES),
        st.sampled_from(PURPOSES),
        instants,
    )
)
# Generation is cheap but the worlds are nested: under a loaded machine (parallel test
# workers) Hypothesis's "too slow" health check trips on timing alone.
PROPERTY = settings(suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(worlds(), requests)
def test_a_basis_is_an_agreement_in_force_covering_the_flow_or_a_waiver(pacts, request):
    source, recipient, category, purpose, at = request
    basis = pacts.basis(source, recipient, category, purpose, at)
    covering = [
        a
        for a in pacts.agreements
        if {source, recipient} <= a.parties
        and any(c.covers(category, purpose) for c in a.share)
        and a.accepted_at is not None
        and max(a.starts_at, a.accepted_at) <= at
        and (a.ends_at is None or at < a.ends_at)
        and (a.terminated_at is None or at < a.terminated_at)
        and not any(
            b.supersedes == a.id and b.accepted_at is not None and b.accepted_at <= at
            for b in pacts.agreements
        )
    ]
    if covering:
        assert basis == min(a.id for a in covering)
    elif pacts.is_waived(source, recipient):
        assert basis == WAIVED
    else:
        assert basis is None
    # symmetric: an agreement (or a waiver) opens both directions between its parties
    assert basis == pacts.basis(recipient, source, category, purpose, at)


@PROPERTY
@given(worlds(), requests)
def test_active_status_is_exactly_in_force(pacts, request):
    *_, at = request
    for version in pacts.agreements:
        active = pacts.status_at(version, at) is AgreementStatus.ACTIVE
        assert active == pacts.in_force(version, at)


@PROPERTY
@given(worlds(), requests, st.integers(1, 400).map(lambda d: timedelta(days=d)))
def test_a_termination_only_ever_takes_away(pacts, request, offset):
    """Terminating any version at any instant never opens a flow that was closed."""
    source, recipient, category, purpose, at = request
    for version in pacts.agreements:
        ended = replace(
            version,
            terminated_at=min([t for t in (version.terminated_at, T0 + offset) if t is not None]),
        )
        others = tuple(a for a in pacts.agreements if a.id != version.id)
        after = Agreements((*others, ended), pacts.waived)
        if after.basis(source, recipient, category, purpose, at) is not None:
            assert pacts.basis(source, recipient, category, purpose, at) is not None
