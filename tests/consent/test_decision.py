"""Example tests for the consent model, derived status and decide()."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from consent import (
    ANY,
    PART2_REDISCLOSURE_NOTICE,
    AccessRequest,
    Consent,
    Evidence,
    Grantor,
    GrantorKind,
    Provision,
    Reason,
    Revocation,
    Status,
    decide,
    status_at,
)
from consent.model import age_on

T0 = datetime(2025, 1, 1, tzinfo=UTC)
BEFORE_T0 = T0 - timedelta(hours=1)
AFTER_T0 = T0 + timedelta(hours=1)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def make_consent(id: str = "c1", **changes: Any) -> Consent:
    fields: dict[str, Any] = {
        "id": id,
        "client_id": "client-1",
        "grantor": Grantor(kind="self", name="Ann Lee"),
        "provision": "permit",
        "source_agencies": {"HOUSING"},
        "categories": {"housing"},
        "recipients": {"CLINIC"},
        "purposes": {"care_coordination"},
        "effective_from": T0,
        "signed_at": hours(-1),
        "evidence": Evidence(method="written"),
        "recorded_by": "officer",
        # The source records its own consents here; consent.trust's tests cover the rest.
        "recorded_by_agency": "HOUSING",
        "recorded_at": hours(-1),
    }
    fields.update(changes)
    return Consent(**fields)


def part2_consent(id: str = "p1", **changes: Any) -> Consent:
    fields: dict[str, Any] = {
        "source_agencies": {"TREAT"},
        "categories": {"substance_use"},
        "recipients": {"CLINIC"},
        "purposes": {"treatment"},
        "expires_at": hours(1000),
        "revocation_right_acknowledged": True,
        "recorded_by_agency": "TREAT",
    }
    fields.update(changes)
    return make_consent(id, **fields)


def make_request(**changes: Any) -> AccessRequest:
    fields: dict[str, Any] = {
        "client_id": "client-1",
        "source_agency": "HOUSING",
        "source_is_part2_program": False,
        "category": "housing",
        "recipient_agency": "CLINIC",
        "purpose": "care_coordination",
        "at": hours(1),
    }
    fields.update(changes)
    return AccessRequest(**fields)


def part2_request(**changes: Any) -> AccessRequest:
    fields: dict[str, Any] = {
        "source_agency": "TREAT",
        "category": "substance_use",
        "purpose": "treatment",
    }
    fields.update(changes)
    return make_request(**fields)


def revoke(consent_id: str, at: datetime) -> Revocation:
    return Revocation(
        consent_id=consent_id, revoked_at=at, revoked_by="officer", reason="asked", method="verbal"
    )


# --- model ---------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["effective_from", "expires_at", "signed_at", "recorded_at"])
def test_consent_rejects_naive_datetimes(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make_consent(**{field: datetime(2025, 1, 1)})


def test_revocation_request_and_status_reject_naive_datetimes() -> None:
    naive = datetime(2025, 1, 1)
    with pytest.raises(ValueError, match="revoked_at"):
        revoke("c1", naive)
    with pytest.raises(ValueError, match="at"):
        make_request(at=naive)
    with pytest.raises(ValueError, match="at"):
        status_at(make_consent(), naive, revocations=[], successors=[])


def test_datetimes_are_normalised_to_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    consent = make_consent(effective_from=datetime(2025, 1, 1, 2, tzinfo=plus2))
    assert consent.effective_from == T0
    assert consent.effective_from.tzinfo is UTC


def test_scopes_are_frozen_and_a_bare_string_is_refused() -> None:
    assert make_consent(recipients=["CLINIC", "CLINIC"]).recipients == frozenset({"CLINIC"})
    with pytest.raises(TypeError, match="recipients"):
        make_consent(recipients="CLINIC")


def test_vocabulary_is_enforced_on_construction() -> None:
    assert make_consent().provision is Provision.PERMIT
    with pytest.raises(ValueError):
        make_consent(provision="maybe")
    with pytest.raises(ValueError):
        Grantor(kind="friend", name="x")
    with pytest.raises(ValueError):
        Evidence(method="telepathy")
    with pytest.raises(ValueError):
        Revocation(consent_id="c1", revoked_at=T0, revoked_by="o", reason="r", method="fax")


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        (date(2007, 6, 15), date(2025, 6, 14), 17),
        (date(2007, 6, 15), date(2025, 6, 15), 18),
        (date(2008, 2, 29), date(2026, 2, 28), 17),
        (date(2008, 2, 29), date(2026, 3, 1), 18),
    ],
)
def test_age_on(birth: date, day: date, age: int) -> None:
    assert age_on(birth, day) == age


# --- status --------------------------------------------------------------------------------


def status(consent: Consent, at: datetime, revocations=(), successors=()) -> Status:
    return status_at(consent, at, revocations=revocations, successors=successors)


def test_status_draft_when_unsigned() -> None:
    assert status(make_consent(signed_at=None), hours(1)) is Status.DRAFT


def test_status_follows_the_half_open_validity_period() -> None:
    consent = make_consent(effective_from=hours(10), expires_at=hours(20))
    assert status(consent, hours(9)) is Status.NOT_YET_EFFECTIVE
    assert status(consent, hours(10)) is Status.ACTIVE
    assert status(consent, hours(19.99)) is Status.ACTIVE
    assert status(consent, hours(20)) is Status.EXPIRED


def test_status_not_effective_before_signing_even_if_back_dated() -> None:
    consent = make_consent(effective_from=hours(0), signed_at=hours(5), recorded_at=hours(5))
    assert status(consent, hours(4)) is Status.NOT_YET_EFFECTIVE
    assert status(consent, hours(5)) is Status.ACTIVE


def test_status_without_expiry_stays_active() -> None:
    assert status(make_consent(), hours(10**5)) is Status.ACTIVE


def test_status_revoked_from_the_revocation_instant_on() -> None:
    consent = make_consent()
    revocations = [revoke("other", hours(1)), revoke("c1", hours(5))]
    assert status(consent, hours(4), revocations) is Status.ACTIVE
    assert status(consent, hours(5), revocations) is Status.REVOKED


def test_status_superseded_once_the_successor_is_recorded() -> None:
    v1 = make_consent("v1")
    v2 = make_consent("v2", version=2, supersedes="v1", recorded_at=hours(5))
    unrelated = make_consent("x", supersedes="other", recorded_at=hours(1))
    assert status(v1, hours(4), successors=[v1, v2, unrelated]) is Status.ACTIVE
    assert status(v1, hours(5), successors=[v1, v2, unrelated]) is Status.SUPERSEDED
    assert status(v2, hours(5), successors=[v1, v2]) is Status.ACTIVE


def test_status_revoked_is_reported_before_superseded_and_expired() -> None:
    v1 = make_consent("v1", expires_at=hours(3))
    v2 = make_consent("v2", supersedes="v1", recorded_at=hours(2))
    assert status(v1, hours(4), [revoke("v1", hours(1))], [v2]) is Status.REVOKED
    assert status(v1, hours(4), [], [v2]) is Status.SUPERSEDED


# --- decide: general rules -----------------------------------------------------------------


def test_active_covering_permit_permits() -> None:
    decision = decide([make_consent()], [], make_request())
    assert decision.permitted
    assert decision.reason == Reason.CONSENT_PERMIT == "consent_permit"
    assert decision.consent_id == "c1"
    assert decision.obligations == ()
    assert not decision.part2


def test_nothing_recorded_means_no_consent() -> None:
    decision = decide([], [], make_request())
    assert (decision.permitted, decision.reason, decision.consent_id) == (
        False,
        Reason.NO_CONSENT,
        None,
    )


def test_another_clients_consent_is_ignored() -> None:
    decision = decide([make_consent(client_id="client-2")], [], make_request())
    assert decision.reason is Reason.NO_CONSENT


@pytest.mark.parametrize(
    "change",
    [
        {"source_agency": "JUSTICE"},
        {"category": "health"},
        {"recipient_agency": "SCHOOL"},
        {"purpose": "payment"},
    ],
)
def test_scope_must_cover_every_dimension(change: dict[str, str]) -> None:
    decision = decide([make_consent()], [], make_request(**change))
    assert decision.reason is Reason.NO_CONSENT


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("source_agencies", {"source_agency": "JUSTICE"}),
        ("categories", {"category": "health"}),
        ("recipients", {"recipient_agency": "SCHOOL"}),
        ("purposes", {"purpose": "payment"}),
    ],
)
def test_any_matches_every_code(field: str, change: dict[str, str]) -> None:
    source = change.get("source_agency", "HOUSING")
    consent = make_consent(**{field: {ANY}}, recorded_by_agency=source)
    decision = decide([consent], [], make_request(**change))
    assert decision.permitted


def test_deny_beats_permit() -> None:
    permit = make_consent("a-permit")
    deny = make_consent("z-deny", provision="deny", recipients={ANY})
    decision = decide([permit, deny], [], make_request())
    assert (decision.permitted, decision.reason, decision.consent_id) == (
        False,
        Reason.CONSENT_DENIED,
        "z-deny",
    )


def test_inactive_deny_does_not_block() -> None:
    permit = make_consent("p")
    expired_deny = make_consent("d", provision="deny", expires_at=hours(0.5))
    revoked_deny = make_consent("e", provision="deny")
    revocations = [revoke("e", hours(0.5))]
    decision = decide([permit, expired_deny, revoked_deny], revocations, make_request())
    assert decision.permitted and decision.consent_id == "p"


def test_lifecycle_reasons_name_the_consent() -> None:
    cases = [
        (make_consent(), [revoke("c1", hours(0.5))], Reason.CONSENT_REVOKED),
        (make_consent(expires_at=hours(0.5)), [], Reason.CONSENT_EXPIRED),
        (make_consent(effective_from=hours(2)), [], Reason.CONSENT_NOT_YET_EFFECTIVE),
    ]
    for consent, revocations, reason in cases:
        decision = decide([consent], revocations, make_request())
        assert (decision.permitted, decision.reason, decision.consent_id) == (False, reason, "c1")


def test_draft_never_permits_and_explains_nothing() -> None:
    decision = decide([make_consent(signed_at=None)], [], make_request())
    assert (decision.reason, decision.consent_id) == (Reason.NO_CONSENT, None)


def test_revoked_outranks_expired_outranks_not_yet_effective() -> None:
    expired = make_consent("a", expires_at=hours(0.5))
    future = make_consent("b", effective_from=hours(2))
    revoked = make_consent("c")
    decision = decide([expired, future, revoked], [revoke("c", hours(0))], make_request())
    assert (decision.reason, decision.consent_id) == (Reason.CONSENT_REVOKED, "c")
    decision = decide([future, expired], [], make_request())
    assert (decision.reason, decision.consent_id) == (Reason.CONSENT_EXPIRED, "a")


def test_inactive_denies_do_not_explain_a_refusal() -> None:
    expired_deny = make_consent(provision="deny", expires_at=hours(0.5))
    assert decide([expired_deny], [], make_request()).reason is Reason.NO_CONSENT


def test_superseded_version_is_ignored() -> None:
    v1 = make_consent("v1")
    narrowed = make_consent("v2", version=2, supersedes="v1", categories={"health"})
    decision = decide([v1, narrowed], [], make_request())
    assert (decision.permitted, decision.reason, decision.consent_id) == (
        False,
        Reason.NO_CONSENT,
        None,
    )
    widened = make_consent("v2", version=2, supersedes="v1", recipients={"CLINIC", "SCHOOL"})
    assert decide([v1, widened], [], make_request()).consent_id == "v2"


def test_superseding_takes_effect_only_once_recorded() -> None:
    v1 = make_consent("v1")
    v2 = make_consent("v2", supersedes="v1", categories={"health"}, recorded_at=hours(5))
    assert decide([v1, v2], [], make_request(at=hours(4))).consent_id == "v1"
    assert not decide([v1, v2], [], make_request(at=hours(5))).permitted


def test_ties_are_broken_by_consent_id_whatever_the_input_order() -> None:
    consents = [make_consent(id) for id in ("m", "b", "x", "k")]
    for _ in range(5):
        random.shuffle(consents)
        assert decide(consents, [], make_request()).consent_id == "b"


# --- decide: 42 CFR Part 2 -----------------------------------------------------------------


def test_part2_permit_carries_the_redisclosure_notice() -> None:
    decision = decide([part2_consent()], [], part2_request())
    assert decision.permitted and decision.part2
    assert decision.obligations == (PART2_REDISCLOSURE_NOTICE,)


def test_part2_notice_is_the_2_32_a_1_statement() -> None:
    assert PART2_REDISCLOSURE_NOTICE.startswith(
        "This record which has been disclosed to you is protected by Federal confidentiality "
        "rules (42 CFR part 2)."
    )
    assert "45 CFR part 164, subparts A and E" in PART2_REDISCLOSURE_NOTICE
    assert PART2_REDISCLOSURE_NOTICE.endswith("(see 42 CFR 2.31).")


def test_part2_program_source_makes_any_category_part2() -> None:
    consent = part2_consent(categories={"health"})
    decision = decide([consent], [], part2_request(category="health", source_is_part2_program=True))
    assert decision.permitted and decision.part2
    assert decision.obligations == (PART2_REDISCLOSURE_NOTICE,)
    blanket = part2_consent(recipients={ANY}, categories={"health"})
    request = part2_request(category="health", source_is_part2_program=True)
    assert decide([blanket], [], request).reason is Reason.PART2_RECIPIENT_NOT_NAMED


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"source_agencies": {ANY}}, Reason.PART2_SOURCE_NOT_NAMED),
        ({"categories": {ANY}}, Reason.PART2_INFORMATION_NOT_NAMED),
        ({"recipients": {ANY}}, Reason.PART2_RECIPIENT_NOT_NAMED),
        ({"purposes": {ANY}}, Reason.PART2_PURPOSE_NOT_NAMED),
        ({"expires_at": None}, Reason.PART2_NO_EXPIRY),
    ],
)
def test_part2_requires_named_scope_and_expiry(change: dict[str, Any], reason: Reason) -> None:
    decision = decide([part2_consent(**change)], [], part2_request())
    assert (decision.permitted, decision.reason, decision.consent_id) == (False, reason, "p1")
    assert decision.part2 and decision.obligations == ()


def test_part2_same_scope_is_fine_for_non_part2_data() -> None:
    blanket = make_consent(recipients={ANY}, purposes={ANY})
    assert decide([blanket], [], make_request()).permitted


def test_part2_expiry_event_is_enough() -> None:
    consent = part2_consent(expires_at=None, expiry_event="discharge from treatment")
    assert decide([consent], [], part2_request()).permitted


def test_part2_a_specific_permit_is_relied_on_beside_a_blanket_one() -> None:
    blanket = part2_consent("a", recipients={ANY})
    specific = part2_consent("b")
    decision = decide([blanket, specific], [], part2_request())
    assert decision.permitted and decision.consent_id == "b"


def test_part2_defect_outranks_a_lifecycle_reason() -> None:
    revoked = part2_consent("a")
    blanket = part2_consent("b", recipients={ANY})
    decision = decide([revoked, blanket], [revoke("a", hours(0))], part2_request())
    assert (decision.reason, decision.consent_id) == (Reason.PART2_RECIPIENT_NOT_NAMED, "b")


# --- decide: FERPA -------------------------------------------------------------------------

# Turns 18 on 2025-01-03, two days after T0.
NEARLY_ADULT = date(2007, 1, 3)


def ferpa_consent(kind: str, signed_at: datetime = BEFORE_T0) -> Consent:
    return make_consent(
        "f1",
        categories={"education"},
        source_agencies={"SCHOOL"},
        recorded_by_agency="SCHOOL",
        grantor=Grantor(kind=kind, name="Signer"),
        signed_at=signed_at,
    )


def ferpa_request(birth: date | None, at: datetime = AFTER_T0) -> AccessRequest:
    return make_request(
        source_agency="SCHOOL", category="education", client_birth_date=birth, at=at
    )


@pytest.mark.parametrize("kind", [GrantorKind.PARENT, GrantorKind.GUARDIAN])
def test_ferpa_parent_or_guardian_consents_for_a_minor(kind: GrantorKind) -> None:
    assert decide([ferpa_consent(kind)], [], ferpa_request(NEARLY_ADULT)).permitted


@pytest.mark.parametrize("kind", [GrantorKind.SELF, GrantorKind.AUTHORIZED_REPRESENTATIVE])
def test_ferpa_minor_cannot_be_consented_for_by_others(kind: GrantorKind) -> None:
    decision = decide([ferpa_consent(kind)], [], ferpa_request(NEARLY_ADULT))
    assert (decision.permitted, decision.reason, decision.consent_id) == (
        False,
        Reason.FERPA_SIGNER_INVALID,
        "f1",
    )


def test_ferpa_adult_student_signs_for_themself() -> None:
    adult = date(1990, 5, 5)
    assert decide([ferpa_consent("self")], [], ferpa_request(adult)).permitted
    decision = decide([ferpa_consent("parent")], [], ferpa_request(adult))
    assert decision.reason is Reason.FERPA_SIGNER_INVALID


def test_ferpa_parent_consent_lapses_when_the_student_turns_18() -> None:
    consent = ferpa_consent("parent")
    assert decide([consent], [], ferpa_request(NEARLY_ADULT, at=hours(47))).permitted
    decision = decide([consent], [], ferpa_request(NEARLY_ADULT, at=hours(48)))
    assert decision.reason is Reason.FERPA_SIGNER_INVALID


def test_ferpa_student_signing_after_turning_18_counts() -> None:
    consent = ferpa_consent("self", signed_at=hours(48))
    assert decide([consent], [], ferpa_request(NEARLY_ADULT, at=hours(49))).permitted


def test_ferpa_unknown_birth_date_is_unverifiable() -> None:
    decision = decide([ferpa_consent("self")], [], ferpa_request(None))
    assert (decision.permitted, decision.reason, decision.consent_id) == (
        False,
        Reason.FERPA_SIGNER_UNVERIFIABLE,
        "f1",
    )


def test_ferpa_rules_apply_to_any_category_consents_too() -> None:
    consent = make_consent(categories={ANY}, source_agencies={"SCHOOL"})
    decision = decide([consent], [], ferpa_request(None))
    assert decision.reason is Reason.FERPA_SIGNER_UNVERIFIABLE


def test_ferpa_does_not_apply_to_other_categories() -> None:
    consent = make_consent(grantor=Grantor(kind="parent", name="P"))
    assert decide([consent], [], make_request(client_birth_date=None)).permitted
