"""The pure rules: an event carries ids and kinds only, and reaches only its reader."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseops.events.rules import AGENCY_AUDIENCE, EVENT_KINDS, addressed_to, check_data
from caseops.vocabulary import ROLES

ROLE_SETS = st.frozensets(st.sampled_from(ROLES))


@given(st.text(min_size=1, max_size=80))
def test_a_value_with_a_space_or_punctuation_is_never_an_id(text):
    if any(ch.isspace() or ch in "@.,:;'\"<>/\\" for ch in text):
        with pytest.raises(ValueError):
            check_data({"client_id": text})


@given(st.text(min_size=1, max_size=30).filter(lambda k: not k.endswith("_id")))
def test_only_id_keys_and_named_kinds_are_accepted(key):
    if key in {"status", "previous_status", "category", "agency"}:
        return
    with pytest.raises(ValueError):
        check_data({key: "abcd1234"})


@given(
    st.sampled_from(EVENT_KINDS),
    st.integers(1, 5),
    st.integers(1, 5),
    st.sampled_from(["hha", "cchc"]),
    ROLE_SETS,
)
def test_a_user_addressed_event_reaches_that_user_whatever_their_roles(
    kind, recipient, reader, agency, roles
):
    assert addressed_to(kind, recipient, None, reader, agency, roles) == (recipient == reader)


@given(st.sampled_from(EVENT_KINDS), st.sampled_from(["hha", "cchc"]), ROLE_SETS)
def test_an_agency_event_reaches_only_its_agencys_roles_that_read_the_kind(kind, agency, roles):
    audience = AGENCY_AUDIENCE.get(kind, frozenset())
    assert addressed_to(kind, None, agency, 7, "hha", roles) == (
        agency == "hha" and bool(audience & roles)
    )


def test_client_and_task_events_are_never_addressed_to_a_whole_agency():
    assert "client.updated" not in AGENCY_AUDIENCE
    assert "task.assigned" not in AGENCY_AUDIENCE
    # a referral is known on the receiving side to its supervisors and assigned worker
    assert AGENCY_AUDIENCE["referral.requested"] == frozenset({"supervisor"})
