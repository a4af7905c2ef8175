"""The one audit writer. Every feature that shows, hides, searches or changes anything
calls ``record``; nothing else inserts into ``access_events``.

Two ways to write, both fail closed (``AuditUnavailable``, so nothing is shown):

* ``record(..., session=s)`` joins the caller's transaction: a change and its log entry
  commit together or not at all (consent changes, admin changes).
* ``record(...)`` commits the entry on its own, before the caller returns any data
  (views, searches, logins) and even when the caller's own work is rolled back
  (denials, failed logins).

Entries written on their own are *group-committed*: threads of one process that write
at the same moment share one multi-row INSERT (one round trip, one commit), and each
returns only once its own entry is committed. Under load that is what lets the log keep
up with many concurrent requests; alone, an entry is written at once as before.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, make_transient_to_detached

from caseops.audit import actions
from caseops.audit.models import OUTCOMES, AccessEvent
from caseops.authz.actor import Actor
from caseops.context import current_origin
from caseops.db_types import utcnow
from caseops.errors import AuditUnavailable
from caseops.extensions import db
from caseops.storage.bulk import insert_rows
from caseops.storage.dialect import is_postgresql

log = logging.getLogger(__name__)
_INSERT = insert(AccessEvent.__table__).returning(
    AccessEvent.__table__.c.seq, sort_by_parameter_order=True
)
_MAX_GROUP = 256


class _Pending:
    """One entry waiting for its group's commit."""

    __slots__ = ("done", "error", "seq", "values", "woken")

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.woken = threading.Event()
        self.done = False
        self.seq: int | None = None
        self.error: SQLAlchemyError | None = None


class GroupWriter:
    """Leader/follower group commit for standalone entries of one engine.

    The first writer to arrive leads: it takes every entry queued so far (its own
    included), inserts them in one autocommitted statement and wakes their writers.
    Entries that arrived meanwhile wait; the leader hands the lead to the first of them.
    No background thread, so nothing to start or stop around gunicorn's fork.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False

    def write(self, engine: Engine, values: dict[str, Any]) -> int:
        """Insert one entry; return its ``seq`` once committed, or raise SQLAlchemyError."""
        mine = _Pending(values)
        with self._lock:
            self._queue.append(mine)
            follower = self._leading
            self._leading = True
        if follower:
            mine.woken.wait()
        if not mine.done:  # leading: write a group (it always holds this entry)
            with self._lock:
                group, self._queue = self._queue[:_MAX_GROUP], self._queue[_MAX_GROUP:]
            try:
                self._commit(engine, group)
            finally:
                with self._lock:
                    if self._queue:
                        self._queue[0].woken.set()  # the lead passes on
                    else:
                        self._leading = False
                for pending in group:
                    if pending.seq is None and pending.error is None:  # the leader crashed
                        pending.error = SQLAlchemyError("the access log write did not complete")
                    pending.done = True
                    if pending is not mine:
                        pending.woken.set()
        if mine.error is not None:
            raise mine.error
        return mine.seq

    def _commit(self, engine: Engine, group: list[_Pending]) -> None:
        try:
            self._insert(engine, group)
        except SQLAlchemyError as exc:
            if len(group) == 1 and not _disconnected(exc):
                group[0].error = exc
                return
            # Nothing of the group was written (one statement, one commit): write its
            # entries one by one, so one bad entry or a dropped connection fails only
            # what cannot be written.
            for pending in group:
                try:
                    self._insert(engine, [pending])
                except SQLAlchemyError as single:
                    pending.error = single

    @staticmethod
    def _insert(engine: Engine, group: list[_Pending]) -> None:
        values = [pending.values for pending in group]
        if len(group) == 1 or is_postgresql(engine):
            # One INSERT ... RETURNING (multi-row on PostgreSQL: a group stays far below
            # the driver's page size and parameter limit) that commits by itself: one
            # round trip.
            with engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT")
                seqs = connection.execute(_INSERT, values).scalars().all()
        else:
            # SQLite writes the rows one by one: a transaction, so they commit together.
            with engine.begin() as connection:
                seqs = connection.execute(_INSERT, values).scalars().all()
        for pending, seq in zip(group, seqs, strict=True):
            pending.seq = seq


def _disconnected(exc: SQLAlchemyError) -> bool:
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


_writers: weakref.WeakKeyDictionary[Engine, GroupWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def group_writer(engine: Engine) -> GroupWriter:
    """The process's group writer for ``engine``."""
    with _writers_lock:
        writer = _writers.get(engine)
        if writer is None:
            writer = _writers[engine] = GroupWriter()
        return writer


def entry_values(
    action: str,
    *,
    actor: Actor,
    outcome: str = "success",
    target_type: str | None = None,
    target_id: str | None = None,
    client_id: str | None = None,
    purpose: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The columns of one entry: what happened, by whom, from where (the running
    operation's origin), now."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    actions.check(action)
    origin = current_origin()
    return {
        "occurred_at": utcnow(),
        "actor": actor.username,
        "actor_user_id": actor.user_id,
        "actor_agency": actor.agency,
        "actor_roles": sorted(actor.roles),
        "token_id": actor.token_id,
        "action": action,
        "outcome": outcome,
        "target_type": target_type,
        "target_id": None if target_id is None else str(target_id),
        "client_id": client_id,
        "purpose": purpose,
        "request_id": origin.request_id,
        "channel": origin.channel,
        "ip": origin.ip,
        "user_agent": (origin.user_agent or "")[:512] or None,
        "detail": detail or {},
        # leaf version 2: the secret the per-field salts derive from (one system call)
        "leaf_salt": os.urandom(32),
    }


def record(
    action: str,
    *,
    actor: Actor,
    outcome: str = "success",
    target_type: str | None = None,
    target_id: str | None = None,
    client_id: str | None = None,
    purpose: str | None = None,
    detail: dict[str, Any] | None = None,
    session: Session | None = None,
) -> AccessEvent:
    """Append one entry to the access log; raise ``AuditUnavailable`` if it cannot be."""
    values = entry_values(
        action,
        actor=actor,
        outcome=outcome,
        target_type=target_type,
        target_id=target_id,
        client_id=client_id,
        purpose=purpose,
        detail=detail,
    )
    event = AccessEvent(**values)
    try:
        if session is not None:
            session.add(event)
            session.flush()
        else:
            # Committed (autocommit, grouped with concurrent entries) before this
            # returns; the entry comes back detached, as from a session.
            event.seq = group_writer(db.engine).write(db.engine, values)
            make_transient_to_detached(event)
    except SQLAlchemyError as exc:
        raise _unavailable(action, 1, exc) from exc
    return event


def record_many(entries: list[dict[str, Any]], *, session: Session) -> int:
    """Append one entry per item of ``entries`` (each holds ``record``'s keyword
    arguments, ``action`` and ``actor`` at least) inside the caller's transaction, in
    one statement (COPY on PostgreSQL): bulk ingest logs hundreds of writes per
    transaction. Fails closed
    like ``record``; returns the number of entries."""
    rows = [entry_values(**entry) for entry in entries]
    if rows:
        columns = tuple(rows[0])
        try:
            insert_rows(
                session.connection(),
                AccessEvent.__table__,
                columns,
                [tuple(row[name] for name in columns) for row in rows],
            )
        except SQLAlchemyError as exc:
            raise _unavailable(rows[0]["action"], len(rows), exc) from exc
    return len(rows)


def _unavailable(action: str, entries: int, exc: SQLAlchemyError) -> AuditUnavailable:
    """Log why the access log refused a write; the error that refuses the request."""
    log.error(
        "access log write failed for %d entries (%s): %s", entries, action, exc.__class__.__name__
    )
    return AuditUnavailable("The access log could not be written, so the request was refused.")
