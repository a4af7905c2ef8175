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

import contextlib
import json
import logging
import os
import threading
import time
import weakref
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Engine, insert
from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state

from caseops.audit import actions
from caseops.audit.models import OUTCOMES, AccessEvent
from caseops.authz.actor import Actor
from caseops.context import current_origin
from caseops.db_types import utcnow
from caseops.errors import AuditUnavailable
from caseops.extensions import app_config, db
from caseops.metrics import APPEND
from caseops.storage.bulk import insert_rows
from caseops.storage.dialect import is_postgresql
from caseops.storage.pipeline import idle_autocommitted
from caseops.storage.pools import side_engine

log = logging.getLogger(__name__)
_TABLE = AccessEvent.__table__
_INSERT = insert(_TABLE).returning(_TABLE.c.seq, sort_by_parameter_order=True)
_MAX_GROUP = 256
_LEADERS = 2  # groups in flight per process (GroupWriter)
_MAPPER = AccessEvent.__mapper__
_MANAGER = _MAPPER.class_manager
_COLUMNS = tuple(column.name for column in _TABLE.columns if column.name != "seq")
_JSON_COLUMNS = frozenset(c.name for c in _TABLE.columns if isinstance(c.type, JSON))
_DEFAULTS = {
    c.name: c.default.arg for c in _TABLE.columns if c.default is not None and c.name != "seq"
}
_JSON_TYPES = {"occurred_at": "timestamptz", "actor_user_id": "int", "token_id": "int"}
_JSON_TYPES |= {name: "json" for name in _JSON_COLUMNS}
# A group on PostgreSQL is one parameter: a JSON array of the entries, one object each
# (``leaf_salt`` in hex; ``detail`` and ``actor_roles`` embedded as the very JSON text
# SQLAlchemy would have bound, which a ``json`` column keeps as it is). One orjson call
# serialises the group, the statement text is the same for any group size, so psycopg
# parses it once and prepares it on the server, and nothing of SQLAlchemy's per-row
# binding runs: a tenth of the client CPU of binding 18 parameters per row or one array
# per column. ``seq`` is taken from its sequence in the ``ORDER BY`` order, so the
# returned seqs sorted are the entries' seqs in group order: what SQLAlchemy's own
# ``sort_by_parameter_order`` relies on too.
_NAMES = ", ".join(_COLUMNS)
_RECORD = ", ".join(f"{name} {_JSON_TYPES.get(name, 'text')}" for name in _COLUMNS)
_VALUES = _NAMES.replace("leaf_salt", "decode(leaf_salt, 'hex')")
_GROUP_INSERT = " ".join(  # table and column names from the model only
    (
        f"INSERT INTO {_TABLE.name} ({_NAMES}) SELECT {_VALUES}",
        f"FROM ROWS FROM (json_to_recordset(%s::json) AS ({_RECORD}))",
        f"WITH ORDINALITY AS entry({_NAMES}, position)",
        "ORDER BY position RETURNING seq",
    )
)


class _Wake:
    """A one-shot wake-up: a lock created held, released by ``set``. Cheaper than a
    ``threading.Event`` (no condition variable), and a group wakes one per entry."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def set(self) -> None:
        with contextlib.suppress(RuntimeError):  # already set
            self._lock.release()

    def wait(self) -> None:
        self._lock.acquire()


class _Pending:
    """One entry waiting for its group's commit."""

    __slots__ = ("done", "error", "lent", "seq", "values", "woken")

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.woken = _Wake()
        self.done = False
        self.seq: int | None = None
        self.error: SQLAlchemyError | None = None
        # the writer's own request connection, set only while its own thread leads
        self.lent: Connection | None = None


class GroupWriter:
    """Leader/follower group commit for standalone entries of one engine.

    A writer that finds fewer than ``_LEADERS`` groups in flight leads: it takes every
    entry queued so far with its own, inserts them in one autocommitted statement and
    wakes their writers. Otherwise it queues; a leader that finishes hands its place to
    the first queued writer, which then leads the queue as it finds it. Two groups in
    flight rather than one: while one waits for its commit (the disk), the writers it
    just woke form the next, instead of each waiting a whole commit for the one before.
    No background thread, so nothing to start or stop around gunicorn's fork.

    On PostgreSQL leaders write on the driver's connection directly (one prepared
    statement, ``_GROUP_INSERT``). A leader whose request lends its own connection
    (``lent``: idle and in autocommit, so the statement commits on its own and nothing
    else, as on a connection of the log's own) writes the group there: one PostgreSQL
    backend a view instead of two, no connection taken from a pool, and the connection
    is only ever used by the thread whose request holds it. Otherwise the connections
    stay with the writer while groups follow one another, so a busy log does not check
    one out of the pool (and ping it) per group; when the last leader of a busy spell
    finishes they go back to the pool. A group that fails on a lent connection is
    retried entry by entry on the log's own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leaders = 0
        self._held: list[Any] = []  # the pool's connections, kept while groups follow
        self._pid = os.getpid()

    def write(self, engine: Engine, values: dict[str, Any], lent: Connection | None = None) -> int:
        """Insert one entry; return its ``seq`` once committed, or raise SQLAlchemyError.
        ``lent``: the calling request's idle autocommit connection, written on if this
        call leads a group (``caseops.storage.pipeline.idle_autocommitted``)."""
        mine = _Pending(values)
        with self._lock:
            lead = self._leaders < _LEADERS
            if lead:
                self._leaders += 1
            else:
                self._queue.append(mine)
        if not lead:
            mine.woken.wait()
        if not mine.done:  # leading: write a group (it always holds this entry)
            mine.lent = lent
            with self._lock:
                if mine in self._queue:
                    self._queue.remove(mine)
                group = [mine, *self._queue[: _MAX_GROUP - 1]]
                self._queue = self._queue[_MAX_GROUP - 1 :]
            release: list[Any] = []
            try:
                self._commit(engine, group)
            finally:
                with self._lock:
                    if self._queue:  # the lead passes on to the first waiting
                        self._queue.pop(0).woken.set()
                    else:
                        self._leaders -= 1
                        if not self._leaders:
                            release, self._held = self._held, []
                for pending in group:
                    if pending.seq is None and pending.error is None:  # the leader crashed
                        pending.error = SQLAlchemyError("the access log write did not complete")
                    pending.done = True
                    if pending is not mine:
                        pending.woken.set()
                for fairy in release:
                    _give_back(fairy)
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

    def _insert(self, engine: Engine, group: list[_Pending]) -> None:
        values = [pending.values for pending in group]
        if is_postgresql(engine):
            seqs = self._insert_postgresql(engine, values, group[0])
        else:
            # SQLite writes the rows one by one: a transaction, so they commit together.
            with engine.begin() as connection:
                seqs = connection.execute(_INSERT, values).scalars().all()
        for pending, seq in zip(group, seqs, strict=True):
            pending.seq = seq

    def _insert_postgresql(
        self, engine: Engine, values: list[dict[str, Any]], first: _Pending
    ) -> list[int]:
        """One autocommitted INSERT of the group (one round trip); its seqs in order. On
        the connection ``first`` (the leader's entry) lends, else on one of the log's."""
        if self._pid != os.getpid():  # forked while holding some: never share a socket
            self._held, self._pid = [], os.getpid()
        dialect = engine.dialect
        try:
            document = _group_document(values, dialect)
        except (TypeError, ValueError) as exc:  # what SQLAlchemy reports as StatementError
            raise StatementError(str(exc), _GROUP_INSERT, None, exc) from exc
        lent = first.lent
        if lent is not None:
            return self._insert_lent(lent, first, document, dialect)
        with self._lock:
            fairy = self._held.pop() if self._held else None
        if fairy is None:
            try:
                fairy = engine.raw_connection()  # pre-pinged by the pool
                fairy.driver_connection.autocommit = True
            except dialect.loaded_dbapi.Error as exc:  # as Engine.connect reports it
                raise DBAPIError.instance(
                    None, None, exc, dialect.loaded_dbapi.Error, dialect=dialect
                ) from exc
        try:
            seqs = _send_group(fairy.driver_connection, document, dialect)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                fairy.invalidate(exc.orig)
            else:
                _give_back(fairy)
            raise
        with self._lock:
            self._held.append(fairy)
        return seqs  # a count that differs fails the whole group, never retried (zip)

    @staticmethod
    def _insert_lent(lent: Connection, first: _Pending, document: str, dialect: Any) -> list[int]:
        """``_GROUP_INSERT`` on the leader's request connection. On any failure the
        connection is lent no more (a retry goes on the log's own), and one lost is
        invalidated through its session's ``Connection``, as SQLAlchemy would."""
        try:
            return _send_group(lent.connection.driver_connection, document, dialect)
        except DBAPIError as exc:
            first.lent = None
            if exc.connection_invalidated:
                lent.invalidate(exc.orig)
            raise


def _send_group(raw: Any, document: str, dialect: Any) -> list[int]:
    """``_GROUP_INSERT`` of ``document`` on the driver connection ``raw`` (autocommit):
    the group's seqs in order, or the driver's error as SQLAlchemy reports it, saying
    whether the connection was lost (``connection_invalidated``). The caller decides
    what becomes of the connection."""
    started = time.perf_counter()
    try:
        with raw.cursor() as cursor:
            cursor.execute(_GROUP_INSERT, (document,))
            seqs = sorted(row[0] for row in cursor.fetchall())
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            _GROUP_INSERT,
            None,
            exc,
            dialect.loaded_dbapi.Error,
            connection_invalidated=dialect.is_disconnect(exc, raw, None),
            dialect=dialect,
        ) from exc
    APPEND.observe(time.perf_counter() - started)
    return seqs


def _group_document(values: list[dict[str, Any]], dialect: Any) -> str:
    """The group as ``_GROUP_INSERT``'s JSON parameter."""
    dumps = dialect._json_serializer or json.dumps
    entries = []
    for entry in values:
        row = {name: entry.get(name) for name in _COLUMNS}
        for name, default in _DEFAULTS.items():  # as SQLAlchemy's insert fills them
            if name not in entry:
                row[name] = default(None)
        for name in _JSON_COLUMNS:  # Python None is JSON null, as SQLAlchemy's JSON
            row[name] = orjson.Fragment(dumps(row[name]))
        row["occurred_at"] = _bind_time(row["occurred_at"], dialect)
        salt = row["leaf_salt"]
        row["leaf_salt"] = None if salt is None else bytes(salt).hex()
        entries.append(row)
    return orjson.dumps(entries).decode()


_bind_time = _TABLE.c.occurred_at.type.process_bind_param  # (value, dialect), as an insert binds


def _give_back(fairy: Any) -> None:
    """Return a held connection to the pool as the pool handed it out (not autocommit)."""
    try:
        fairy.driver_connection.autocommit = False
        fairy.close()
    except Exception:  # a broken connection: the pool must not get it back
        log.warning("access log connection discarded", exc_info=True)
        fairy.invalidate()


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
    try:
        if session is not None:
            event = AccessEvent(**values)
            session.add(event)
            session.flush()
        else:
            # Committed (autocommit, grouped with concurrent entries) before this
            # returns; the entry comes back detached, as from a session. Written on
            # the request's own connection when it is idle in autocommit (a reading
            # request's), else on the side pool's: a request holding its session's
            # connection never waits for one the other requests hold
            # (caseops.storage.pools).
            engine = side_engine(db.engine, app_config()["SQLALCHEMY_ENGINE_OPTIONS"])
            lent = idle_autocommitted(db.session)
            event = _detached(values, group_writer(engine).write(engine, values, lent))
    except SQLAlchemyError as exc:
        raise _unavailable(action, 1, exc) from exc
    return event


def _detached(values: dict[str, Any], seq: int) -> AccessEvent:
    """The committed entry as a detached ``AccessEvent``, built as the ORM's loader
    builds a loaded row (every column set, identity key given) rather than through
    ``__init__`` and ``make_transient_to_detached``, which cost ten times as much: the
    same object state (tested), a few microseconds per entry."""
    event = _MANAGER.new_instance()
    event.__dict__.update(values)
    event.__dict__["seq"] = seq
    instance_state(event).key = _MAPPER.identity_key_from_primary_key((seq,))
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
