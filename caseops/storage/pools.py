"""A second, small connection pool for the work a request does beside its session.

A request holds one pooled connection (its session) and, before answering, needs another
now and then: the access log commits its entry on its own (``caseops.audit.service``),
and a changed policy is reloaded by Casbin's adapter through its own session
(``caseops.authz.policy``). With both from one pool, a worker with more request threads
than pooled connections deadlocks under load: every connection is held by a request
waiting for a second one, until the pool's timeout answers 503 (``bench/view_load.py``
found it: 20 connections on one worker, every view a 503 after 10 s; a policy change
under load did the same). That work takes its connection from this pool instead, which
no session ever holds: short statements (a group commit, one policy read), so a few
connections serve a whole process, and the requests queueing for the session pool can
never take them. (A reading request whose own connection is idle in autocommit writes its
log entry there instead: ``caseops.audit.service.GroupWriter``; it needs no second
connection at all.)

SQLite keeps one engine: its writers take turns on the database lock anyway, and a
second engine to an in-memory database would be another database.
"""

from __future__ import annotations

import os
import threading
import weakref

from sqlalchemy import Engine, create_engine

from caseops.storage.connect import ping_idle_connections

POOL_SIZE = 2
MAX_OVERFLOW = 6
# The session pool (``caseops.app``): SQLAlchemy's default ceiling of connections per
# process (5 pooled + 10 overflow), all of them kept once opened. With the default
# split, a connection opened beyond the fifth was closed when its request ended and a
# new one opened for the next: under load every few requests started and ended a
# PostgreSQL backend (measured with 8 views at a time per worker: 159-467 new sessions
# in 10 s, each a fork and a catalogue warm-up on the server and a connect in the
# worker), work no request asked for. The same ceiling kept open costs nothing more at
# peak and no connection is opened before a request needs it.
SESSION_POOL_SIZE = 15
_KEPT = ("connect_args", "json_deserializer", "json_serializer", "pool_timeout", "echo")

_engines: weakref.WeakKeyDictionary[Engine, tuple[int, Engine]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
# A pool inherited across a fork is kept, never closed nor collected: closing its
# connections would end the parent's sessions with the server.
_inherited: list[Engine] = []


def side_engine(engine: Engine, options: dict | None = None) -> Engine:
    """The side pool of the application engine ``engine``: a pool of its own on
    PostgreSQL (per process: a forked worker makes its own), ``engine`` itself
    elsewhere. ``options``: the application's engine options (connect arguments, JSON
    deserializer, pool timeout), applied to the side pool too."""
    if engine.dialect.name != "postgresql":
        return engine
    pid = os.getpid()
    with _lock:
        found = _engines.get(engine)
        if found is not None:
            if found[0] == pid:
                return found[1]
            _inherited.append(found[1])
        kept = {k: v for k, v in (options or {}).items() if k in _KEPT}
        side = create_engine(engine.url, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, **kept)
        ping_idle_connections(side)
        _engines[engine] = (pid, side)
        return side
