"""The referral state machine, exhaustively and as a random walk (issue 17).

The expected table is written here a second time, from DESIGN.md's words, so that a slip in
``caseops.referrals.machine`` fails a test instead of defining the truth."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from caseops.referrals.machine import (
    MOVES,
    OPENS_ACCESS,
    TERMINAL,
    Move,
    Refusal,
    Side,
    Status,
    check_move,
    moves_from,
    replay,
)

S = Status
SENDER, RECIPIENT = Side.SENDER, Side.RECIPIENT

# DESIGN.md, "Referrals": draft -> requested; requested -> accepted | rejected | cancelled;
# accepted -> in-progress | on-hold | completed | failed | cancelled; in-progress <-> on-hold;
# in-progress | on-hold -> completed | failed | cancelled; any -> entered-in-error.
# The sender sends a draft and marks entered-in-error; either side cancels (a draft only
# the sender, who alone knows of it); the recipient does everything else.
SPEC_EDGES = {
    (S.DRAFT, S.REQUESTED),
    (S.DRAFT, S.CANCELLED),
    (S.REQUESTED, S.ACCEPTED),
    (S.REQUESTED, S.REJECTED),
    (S.REQUESTED, S.CANCELLED),
    *((S.ACCEPTED, t) for t in (S.IN_PROGRESS, S.ON_HOLD, S.COMPLETED, S.FAILED, S.CANCELLED)),
    (S.IN_PROGRESS, S.ON_HOLD),
    (S.ON_HOLD, S.IN_PROGRESS),
    *((f, t) for f in (S.IN_PROGRESS, S.ON_HOLD) for t in (S.COMPLETED, S.FAILED, S.CANCELLED)),
    *((f, S.ENTERED_IN_ERROR) for f in Status if f is not S.ENTERED_IN_ERROR),
}


def spec_sides(frm: Status, to: Status) -> set[Side]:
    if to is S.ENTERED_IN_ERROR or frm is S.DRAFT:
        return {SENDER}
    if to is S.CANCELLED:
        return {SENDER, RECIPIENT}
    return {RECIPIENT}


WORDS = {"reason": "Client moved out of county", "outcome": "Six counselling sessions"}


@pytest.mark.parametrize(
    ("frm", "to", "side"), list(itertools.product(Status, Status, Side)), ids=str
)
def test_every_state_target_and_side(frm, to, side):
    verdict = check_move(frm, to.value, side, **WORDS)
    if (frm, to) not in SPEC_EDGES:
        assert verdict.refusal is Refusal.NOT_A_MOVE
        assert to.value not in verdict.allowed_moves
    elif side not in spec_sides(frm, to):
        assert verdict.refusal is Refusal.WRONG_SIDE
    else:
        assert verdict.allowed, verdict
    # what a side is told it may do from here is exactly what the spec lets it do
    assert set(verdict.allowed_moves) == {
        t.value for f, t in SPEC_EDGES if f is frm and side in spec_sides(f, t)
    }


def test_the_table_is_the_spec():
    assert set(MOVES) == SPEC_EDGES
    for (frm, to), sides in MOVES.items():
        assert set(sides) == spec_sides(frm, to), (frm, to)


@pytest.mark.parametrize("to", [S.REJECTED, S.CANCELLED, S.ON_HOLD, S.FAILED])
@pytest.mark.parametrize("blank", [None, "", "   "])
def test_reasons_are_required_where_gravity_requires_a_status_reason(to, blank):
    frm = next(f for f, t in MOVES if t is to and RECIPIENT in MOVES[(f, t)])
    verdict = check_move(frm, to.value, RECIPIENT, reason=blank, outcome=None)
    assert verdict.refusal is Refusal.REASON_REQUIRED


@pytest.mark.parametrize("blank", [None, "", "\t"])
def test_completing_needs_an_outcome(blank):
    verdict = check_move(S.IN_PROGRESS, "completed", RECIPIENT, reason="x", outcome=blank)
    assert verdict.refusal is Refusal.OUTCOME_REQUIRED
    assert check_move(S.IN_PROGRESS, "completed", RECIPIENT, reason=None, outcome="Housed").allowed


def test_an_unknown_status_is_named_as_such():
    verdict = check_move(S.REQUESTED, "done", RECIPIENT, reason=None, outcome=None)
    assert verdict.refusal is Refusal.UNKNOWN_STATUS
    assert set(verdict.allowed_moves) == {"accepted", "rejected", "cancelled"}


def test_terminal_states_only_admit_the_senders_correction():
    for state in TERMINAL:
        assert set(moves_from(state)) <= {"entered-in-error"}
    assert moves_from(S.ENTERED_IN_ERROR) == ()
    assert OPENS_ACCESS.isdisjoint(TERMINAL)


def test_replay_refuses_a_history_the_table_forbids():
    good = [
        Move(None, S.REQUESTED, SENDER),
        Move(S.REQUESTED, S.REQUESTED, None),  # an assignment
        Move(S.REQUESTED, S.ACCEPTED, RECIPIENT),
    ]
    assert replay(good) is S.ACCEPTED
    with pytest.raises(ValueError):
        replay([Move(None, S.REQUESTED, SENDER), Move(S.REQUESTED, S.ACCEPTED, SENDER)])
    with pytest.raises(ValueError):
        replay([Move(None, S.ACCEPTED, SENDER)])
    with pytest.raises(ValueError):
        replay([Move(None, S.DRAFT, SENDER), Move(S.REQUESTED, S.ACCEPTED, RECIPIENT)])
    with pytest.raises(ValueError):
        replay([])


class ReferralWalk(RuleBasedStateMachine):
    """Random requests by either side; only what the table allows lands, and the stored
    history always replays to the current state."""

    def __init__(self):
        super().__init__()
        self.state: Status | None = None
        self.history: list[Move] = []

    @precondition(lambda self: self.state is None)
    @rule(send=st.booleans())
    def create(self, send):
        self.state = S.REQUESTED if send else S.DRAFT
        self.history.append(Move(None, self.state, SENDER))

    @precondition(lambda self: self.state is not None)
    @rule(
        target_status=st.sampled_from([*Status, "bogus"]),
        side=st.sampled_from(list(Side)),
        reason=st.sampled_from([None, "", "Client asked"]),
        outcome=st.sampled_from([None, "Housed"]),
    )
    def request(self, target_status, side, reason, outcome):
        target = getattr(target_status, "value", target_status)
        verdict = check_move(self.state, target, side, reason=reason, outcome=outcome)
        if verdict.allowed:
            to = Status(target)
            assert (self.state, to) in SPEC_EDGES and side in spec_sides(self.state, to)
            self.history.append(Move(self.state, to, side))
            self.state = to
        else:
            assert verdict.refusal is not None

    @precondition(lambda self: self.state is not None)
    @rule()
    def assign(self):
        self.history.append(Move(self.state, self.state, None))

    @invariant()
    def history_replays_to_the_state(self):
        if self.state is not None:
            assert replay(self.history) is self.state


ReferralWalk.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
test_random_walks_stay_within_the_table = ReferralWalk.TestCase
