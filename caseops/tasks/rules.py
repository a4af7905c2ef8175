"""The rules of a task's life, pure (no Flask, no database) so property tests can walk
them: which status changes exist, who may make them, what "overdue" means.

A task is ``open`` until it is ``done`` or ``cancelled``; both are final (a finished task
that needs doing again is a new task, so the history never says "done" about something
that was then undone). Cancelling needs a note: the agency's colleagues should learn why
a piece of work was dropped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

OPEN, DONE, CANCELLED = "open", "done", "cancelled"
STATUSES = (OPEN, DONE, CANCELLED)
FINAL = (DONE, CANCELLED)
MOVES: dict[str, tuple[str, ...]] = {OPEN: FINAL, DONE: (), CANCELLED: ()}
NOTE_REQUIRED = frozenset({CANCELLED})


@dataclass(frozen=True)
class Standing:
    """How one worker of the task's agency stands to it."""

    username: str
    supervisor: bool


def allowed_moves(status: str) -> tuple[str, ...]:
    return MOVES.get(status, ())


def may_change(who: Standing, created_by: str, assignee: str | None) -> bool:
    """The task's creator, its assignee and the agency's supervisors change it (mark it
    done, cancel it, hand it to someone else); other colleagues see it but leave it be."""
    return who.supervisor or who.username in (created_by, assignee)


def is_overdue(status: str, due_on: date | None, today: date) -> bool:
    """Open and its due date has passed (the deployment's date: a task due today is not
    overdue until tomorrow begins where the agency works)."""
    return status == OPEN and due_on is not None and due_on < today
