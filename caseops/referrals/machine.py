"""The referral's state machine: a pure table (no Flask, no database), after the HL7 Gravity
SDOH closed-loop referral Task, as DESIGN.md's "Wave 2" section fixes it.

Who moves what. The *sending* side (the agency that referred) sends a draft and marks a
referral entered in error; the *recipient* side (the agency referred to) does everything
else; either side may cancel. A draft is the sender's alone (the recipient has not been
told of it), so only the sender may cancel a draft.

What a move needs. ``rejected``, ``cancelled``, ``on-hold`` and ``failed`` need a reason;
``completed`` needs an outcome (what was provided: the loop is closed by it).

``check_move`` answers every request with exactly one ``Verdict``: allowed, or why not
(an unknown status, a move the table does not have: 409 with the allowed ones, the wrong
side: 403, a missing reason or outcome: 422). ``replay`` folds a history into its state,
so a stored history can always be checked against the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Status(StrEnum):
    DRAFT = "draft"
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    FAILED = "failed"
    ENTERED_IN_ERROR = "entered-in-error"


class Side(StrEnum):
    SENDER = "sender"
    RECIPIENT = "recipient"


S = Status
SENDER = frozenset({Side.SENDER})
RECIPIENT = frozenset({Side.RECIPIENT})
EITHER = SENDER | RECIPIENT

# (from, to) -> the sides that may make the move. Nothing else is a move.
_TABLE: dict[tuple[Status, Status], frozenset[Side]] = {
    (S.DRAFT, S.REQUESTED): SENDER,
    (S.DRAFT, S.CANCELLED): SENDER,
    (S.REQUESTED, S.ACCEPTED): RECIPIENT,
    (S.REQUESTED, S.REJECTED): RECIPIENT,
    (S.REQUESTED, S.CANCELLED): EITHER,
    (S.ACCEPTED, S.IN_PROGRESS): RECIPIENT,
    (S.ACCEPTED, S.ON_HOLD): RECIPIENT,
    (S.ACCEPTED, S.COMPLETED): RECIPIENT,
    (S.ACCEPTED, S.FAILED): RECIPIENT,
    (S.ACCEPTED, S.CANCELLED): EITHER,
    (S.IN_PROGRESS, S.ON_HOLD): RECIPIENT,
    (S.IN_PROGRESS, S.COMPLETED): RECIPIENT,
    (S.IN_PROGRESS, S.FAILED): RECIPIENT,
    (S.IN_PROGRESS, S.CANCELLED): EITHER,
    (S.ON_HOLD, S.IN_PROGRESS): RECIPIENT,
    (S.ON_HOLD, S.COMPLETED): RECIPIENT,
    (S.ON_HOLD, S.FAILED): RECIPIENT,
    (S.ON_HOLD, S.CANCELLED): EITHER,
}
# Any state but itself may be marked entered in error, by the sender.
for _state in Status:
    if _state is not S.ENTERED_IN_ERROR:
        _TABLE[(_state, S.ENTERED_IN_ERROR)] = SENDER

MOVES: Mapping[tuple[Status, Status], frozenset[Side]] = MappingProxyType(_TABLE)

NEEDS_REASON = frozenset({S.REJECTED, S.CANCELLED, S.ON_HOLD, S.FAILED})
NEEDS_OUTCOME = frozenset({S.COMPLETED})
# While one of these holds, the assigned recipient worker and the recipient agency's
# supervisors have the ``referral`` relationship for the shared categories.
OPENS_ACCESS = frozenset({S.ACCEPTED, S.IN_PROGRESS, S.ON_HOLD})
# The recipient's supervisors may (re)assign while one of these holds.
ASSIGNABLE = frozenset({S.REQUESTED, S.ACCEPTED, S.IN_PROGRESS, S.ON_HOLD})
TERMINAL = frozenset({S.REJECTED, S.CANCELLED, S.COMPLETED, S.FAILED, S.ENTERED_IN_ERROR})
# What the recipient's work on the referral is open (not yet closed) in.
OPEN = frozenset({S.REQUESTED}) | OPENS_ACCESS


class Refusal(StrEnum):
    """Why a move is refused; the service maps each to its HTTP status."""

    UNKNOWN_STATUS = "unknown_status"  # 422
    NOT_A_MOVE = "not_a_move"  # 409, naming the allowed moves
    WRONG_SIDE = "wrong_side"  # 403
    REASON_REQUIRED = "reason_required"  # 422
    OUTCOME_REQUIRED = "outcome_required"  # 422


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    refusal: Refusal | None = None
    allowed_moves: tuple[str, ...] = ()  # what this side may do from here (for 409 and pages)


def moves_from(state: Status, side: Side | None = None) -> tuple[str, ...]:
    """The statuses reachable from ``state`` (by ``side``, when given), in table order."""
    return tuple(
        to.value
        for (frm, to), sides in MOVES.items()
        if frm is state and (side is None or side in sides)
    )


def parse_status(value: str) -> Status | None:
    try:
        return Status(value)
    except ValueError:
        return None


def check_move(
    state: Status, target: str, side: Side, *, reason: str | None, outcome: str | None
) -> Verdict:
    """Whether ``side`` may move a referral in ``state`` to ``target`` with these words."""
    to = parse_status(target)
    if to is None:
        return Verdict(False, Refusal.UNKNOWN_STATUS, moves_from(state, side))
    sides = MOVES.get((state, to))
    if sides is None:
        return Verdict(False, Refusal.NOT_A_MOVE, moves_from(state, side))
    if side not in sides:
        return Verdict(False, Refusal.WRONG_SIDE, moves_from(state, side))
    if to in NEEDS_REASON and not (reason or "").strip():
        return Verdict(False, Refusal.REASON_REQUIRED, moves_from(state, side))
    if to in NEEDS_OUTCOME and not (outcome or "").strip():
        return Verdict(False, Refusal.OUTCOME_REQUIRED, moves_from(state, side))
    return Verdict(True, None, moves_from(state, side))


@dataclass(frozen=True)
class Move:
    """One entry of a referral's history, as the table sees it."""

    from_status: Status | None  # None: the referral's creation
    to_status: Status
    side: Side | None  # None: an assignment, which changes no status


def replay(history: Iterable[Move]) -> Status:
    """The state a history leads to; ``ValueError`` if any step is not in the table.

    The first entry creates the referral (``draft``, or ``requested`` when sent at once:
    creation and sending in one step, which the table allows from ``draft``)."""
    state: Status | None = None
    for move in history:
        if move.from_status != state:
            raise ValueError(f"history broken: at {state}, entry starts from {move.from_status}")
        if state is None:
            if move.to_status not in (S.DRAFT, S.REQUESTED):
                raise ValueError(f"a referral starts as draft or requested, not {move.to_status}")
        elif move.to_status is not state:
            sides = MOVES.get((state, move.to_status))
            if sides is None or move.side not in sides:
                raise ValueError(f"{state} -> {move.to_status} by {move.side} is not a move")
        elif move.side is not None:
            raise ValueError(f"{state} -> {state} is only an assignment")
        state = move.to_status
    if state is None:
        raise ValueError("an empty history")
    return state
