"""The pure task rules (``caseops.tasks.rules``), walked by hypothesis."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from caseops.tasks import rules

statuses = st.sampled_from(rules.STATUSES)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))
names = st.sampled_from(["ana", "ben", "cy", "dee"])


@given(st.lists(statuses, max_size=6))
def test_a_walk_from_open_finishes_at_most_once(wanted):
    """Whatever is asked, a task moves at most once, from open to a final status."""
    status, moves = rules.OPEN, 0
    for target in wanted:
        if target in rules.allowed_moves(status):
            status, moves = target, moves + 1
    assert moves <= 1
    assert (status == rules.OPEN) == (moves == 0)


@given(statuses)
def test_final_statuses_allow_nothing(status):
    assert (rules.allowed_moves(status) == ()) == (status in rules.FINAL)


@given(statuses, st.one_of(st.none(), days), days)
def test_overdue_means_open_and_due_before_today(status, due_on, today):
    overdue = rules.is_overdue(status, due_on, today)
    assert overdue == (status == rules.OPEN and due_on is not None and due_on < today)
    if due_on is not None and status == rules.OPEN:
        assert not rules.is_overdue(status, due_on, due_on)  # due today is not overdue
        assert rules.is_overdue(status, due_on, due_on + timedelta(days=1))


@given(names, st.booleans(), names, st.one_of(st.none(), names))
def test_who_may_change(who, supervisor, created_by, assignee):
    allowed = rules.may_change(rules.Standing(who, supervisor), created_by, assignee)
    assert allowed == (supervisor or who in (created_by, assignee))


def test_cancelling_needs_a_note_and_done_does_not():
    assert rules.CANCELLED in rules.NOTE_REQUIRED and rules.DONE not in rules.NOTE_REQUIRED
