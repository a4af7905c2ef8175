"""Notes: write one on a client, amend one. Reading is the record view's business.

A note is a **section of its author's agency in its category**: who reads it is decided
by the very decision that governs that agency's records in that category
(``caseops.access.rules.decide_section``), inside ``caseops.access.service.view_record``,
and logged there. So a behavioral-health note from cchc reaches hha only under a consent
covering behavioral health from cchc, with the relationship; a note written by a 42 CFR
Part 2 program's worker, or in ``substance_use``, is Part 2 data, listed to another agency
only when a consent lets that agency know of it.

Writing needs need-to-know (care team or an open referral addressed to the writer) and
the policy to read the category written (a worker never writes what they could not read
back). Amending is the author's, or a supervisor of the author's agency; an amendment
keeps the original and says who, when and why. To anyone outside the author's agency a
note id answers as an unknown one (404). Texts and reasons are encrypted at rest, bound
to the note id and field; they never enter the access log.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Row, bindparam, exists, func, select
from sqlalchemy.exc import IntegrityError

from caseops.access.need_to_know import has_relationship, referral_of_agency
from caseops.agencies.models import Agency
from caseops.audit.service import record as audit
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse, require
from caseops.authz.permissions import load_client
from caseops.crypto import keyring_from_config
from caseops.db_types import utcnow
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.matching.models import ClientKeyHold
from caseops.notes.models import Note, NoteAmendment
from caseops.vocabulary import CATEGORIES, PART2_CATEGORY

WORKERS = frozenset({"case_worker", "supervisor"})
SUPERVISOR = "supervisor"
MAX_TEXT = 20000
MAX_REASON = 2000


def note_not_found(note_id: str) -> NotFound:
    """The one answer for an unknown note and for one hidden from the caller."""
    return NotFound(f"No note {note_id!r}.")


# --- encryption ---------------------------------------------------------------------------


def text_context(note_id: str, seq: int = 0) -> str:
    """Associated data of a note's text (``seq`` 0: the original; n: the n-th amendment),
    so a ciphertext copied to another note, amendment or field does not decrypt."""
    return f"note:{note_id}:text" if seq == 0 else f"note:{note_id}:amendment:{seq}:text"


def reason_context(note_id: str, seq: int) -> str:
    return f"note:{note_id}:amendment:{seq}:reason"


def _seal(text: str, context: str) -> str:
    return keyring_from_config(current_app.config).encrypt(text.encode(), context)


def _open(token: str, context: str) -> str:
    return keyring_from_config(current_app.config).decrypt(token, context).decode()


# --- what a note looks like ---------------------------------------------------------------


@dataclass(frozen=True)
class NoteRow:
    """A note as the record view gathers it: the row (its columns, read as ``Note``'s
    attributes are), whether its agency is a Part 2 program, and when it last changed
    (its last amendment, or its writing)."""

    note: Row
    agency_part2: bool
    changed_at: datetime


def client_notes_statement():
    """The record view's one added query: every note of a client (parameter
    ``client_id``), with its agency's Part 2 flag and the time of its last amendment."""
    last_amended = (
        select(func.max(NoteAmendment.at))
        .where(NoteAmendment.note_id == Note.id)
        .correlate(Note)
        .scalar_subquery()
    )
    return (
        select(
            *Note.__table__.c,
            Agency.part2_program.label("agency_part2"),
            last_amended.label("last_amended_at"),
        )
        .join(Agency, Agency.code == Note.agency_code)
        .where(
            Note.client_id == bindparam("client_id"),
            # a note held by re-homing (the client was split) is shown to nobody
            ~exists().where(
                ClientKeyHold.table_name == Note.__tablename__,
                ClientKeyHold.row_id == Note.id,
                ClientKeyHold.resolved_at.is_(None),
            ),
        )
        .order_by(Note.agency_code, Note.category, Note.created_at, Note.id)
    )


def note_rows(rows: Iterable[Row]) -> list[NoteRow]:
    """``client_notes_statement``'s rows as the view keeps them: each row is the note's
    columns under their own names (``describe`` reads it as it reads a ``Note``; columns,
    not an entity, as the view reads everything it does not change: issue 20)."""
    return [
        NoteRow(row, bool(row.agency_part2), row.last_amended_at or row.created_at) for row in rows
    ]


def amendments_of(note_ids: Iterable[str]) -> dict[str, list[NoteAmendment]]:
    """Amendments of these notes, oldest first: read only for notes about to be shown."""
    ids = sorted(set(note_ids))
    found: dict[str, list[NoteAmendment]] = {i: [] for i in ids}
    if ids:
        for amendment in db.session.scalars(
            select(NoteAmendment)
            .where(NoteAmendment.note_id.in_(ids))
            .order_by(NoteAmendment.note_id, NoteAmendment.seq)
        ):
            found[amendment.note_id].append(amendment)
    return found


def describe(note: Note, amendments: list[NoteAmendment], viewer_agency: str | None) -> dict:
    """The note's content (decrypted: call only once the disclosure is logged, or for the
    author's own agency). User names are shown to the author's agency only: users are
    hidden across agencies, so another agency reads "amended" with when and why, not who."""
    own = viewer_agency == note.agency_code
    original = _open(note.text_encrypted, text_context(note.id))
    changes = [
        {
            "seq": a.seq,
            "at": a.at,
            "by": a.by_user if own else None,
            "reason": _open(a.reason_encrypted, reason_context(note.id, a.seq)),
        }
        for a in amendments
    ]
    current = (
        _open(amendments[-1].text_encrypted, text_context(note.id, amendments[-1].seq))
        if amendments
        else original
    )
    return {
        "id": note.id,
        "client_id": note.client_id,
        "agency": note.agency_code,
        "category": note.category,
        "referral_id": note.referral_id,
        "author": note.author if own else None,
        "written_at": note.created_at,
        "text": current,
        "original_text": original if amendments else None,
        "amended": bool(amendments),
        "amendments": changes,
    }


# --- writing ------------------------------------------------------------------------------


def _check_text(value: str | None, field: str, limit: int, message: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > limit:
        raise ValidationFailed(
            message, details={field: [f"Between 1 and {limit} characters (not only spaces)."]}
        )
    return value


def _may_read_category(actor: Actor, category: str) -> bool:
    return permissions.may(actor, f"record:{category}", "read")


def write(actor: Actor, client_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A note on a client the worker works with, as a section of their agency in
    ``category``. Nothing is written when a check fails."""
    load_client(actor, client_id)
    require(
        actor,
        "notes",
        "write",
        action="note.write",
        message="Your role does not write notes.",
        client_id=client_id,
    )
    category = body.get("category")
    if category not in CATEGORIES:
        raise ValidationFailed(
            "Unknown category.", details={"category": [f"One of: {', '.join(CATEGORIES)}."]}
        )
    text = _check_text(body.get("text"), "text", MAX_TEXT, "Write the note.")
    at = utcnow()
    if not has_relationship(actor, client_id, at):
        refuse(
            actor,
            "note.write",
            "Write notes on clients you work with (care team or an open referral).",
            reason="no_relationship",
            client_id=client_id,
        )
    if not _may_read_category(actor, category):
        refuse(
            actor,
            "note.write",
            f"Your role does not read {category} records, so it does not write them.",
            client_id=client_id,
            detail={"category": category},
        )
    referral_id = referral_of_agency(actor, client_id, body.get("referral_id"))
    note_id = "nte_" + secrets.token_hex(10)
    note = Note(
        id=note_id,
        client_id=client_id,
        agency_code=actor.agency or "",
        category=category,
        referral_id=referral_id,
        author=actor.username,
        text_encrypted=_seal(text, text_context(note_id)),
        created_at=at,
    )
    db.session.add(note)
    part2 = category == PART2_CATEGORY or bool(
        db.session.scalar(select(Agency.part2_program).where(Agency.code == note.agency_code))
    )
    audit(
        "note.written",
        actor=actor,
        target_type="note",
        target_id=note_id,
        client_id=client_id,
        detail={
            "section": f"{note.agency_code}/{category}",
            "part2": part2,
            "referral_id": referral_id,
        },
        session=db.session,
    )
    db.session.commit()
    return describe(note, [], actor.agency) | {"part2": part2}


def load_note(actor: Actor, note_id: str) -> Note:
    """Load-or-404 for writing: a note of the actor's own agency, asked by one of its case
    workers or supervisors; anyone else gets exactly the answer an unknown id gets (what
    another agency may read of a note is the record view's to say)."""
    note = db.session.get(Note, note_id)
    if (
        note is None
        or actor.agency is None
        or note.agency_code != actor.agency
        or not (actor.roles & WORKERS)
    ):
        raise note_not_found(note_id)
    return note


def amend(actor: Actor, note_id: str, text: str | None, reason: str | None) -> dict[str, Any]:
    """A new text for the note, with the reason; the original and every earlier text are
    kept. The author amends, or a supervisor of the author's agency (403 to colleagues)."""
    note = load_note(actor, note_id)
    if actor.username != note.author and SUPERVISOR not in actor.roles:
        refuse(
            actor,
            "note.amend",
            "Only the note's author or a supervisor of their agency amends it.",
            client_id=note.client_id,
            target_type="note",
            target_id=note.id,
        )
    if not _may_read_category(actor, note.category):
        refuse(
            actor,
            "note.amend",
            f"Your role does not read {note.category} records.",
            client_id=note.client_id,
            target_type="note",
            target_id=note.id,
        )
    text = _check_text(text, "text", MAX_TEXT, "Write the amended note.")
    reason = _check_text(reason, "reason", MAX_REASON, "Say why the note is amended.")
    seq = 1 + (
        db.session.scalar(
            select(func.max(NoteAmendment.seq)).where(NoteAmendment.note_id == note.id)
        )
        or 0
    )
    db.session.add(
        NoteAmendment(
            note_id=note.id,
            seq=seq,
            text_encrypted=_seal(text, text_context(note.id, seq)),
            reason_encrypted=_seal(reason, reason_context(note.id, seq)),
            by_user=actor.username,
            by_agency=actor.agency or "",
            at=utcnow(),
        )
    )
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            "The note was amended while you were amending it; reload and try again.",
            code="note_changed",
        ) from None
    audit(
        "note.amended",
        actor=actor,
        target_type="note",
        target_id=note.id,
        client_id=note.client_id,
        detail={"section": f"{note.agency_code}/{note.category}", "seq": seq},
        session=db.session,
    )
    db.session.commit()
    return describe(note, amendments_of([note.id])[note.id], actor.agency)
