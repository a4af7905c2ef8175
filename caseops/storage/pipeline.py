"""Several reads in one round trip: psycopg 3's pipeline mode under unchanged ORM code.

A hot path (the record view, search, the fingerprint poll, the caseload) reads half a
dozen independent things — the client with the worker's relationship, the records, the
notes, the consents — and on PostgreSQL each statement used to cost a round trip of its
own. Waiting on those, not Python, was the view's cost (issue 20).

``prefetch(session, reads)`` sends every read of ``reads`` in one pipeline (one network
round trip, one sync) *before* the code that uses them runs; that code then executes its
statements through the session exactly as before, and each execution whose SQL and
parameters match a prefetched read is answered from the cursor that already holds the
result instead of going to the server. Once every read of a block has been answered that
way before (its plan and its shape are known), the block goes as ONE statement instead of
a pipeline (``_send_combined``, below): one wait on the socket rather than one per read,
which under a worker's concurrent requests is what the reads cost most. So:

* the ORM code, the row handling and the decision are the same code on both databases,
  with or without prefetching — nothing is computed twice in two ways;
* a read the list forgot, or one whose parameters differ, simply goes to the server as
  before: correctness never depends on the list, only the round-trip count does (and
  ``tests/perf`` counts them from the wire protocol so the number cannot creep back);
* nothing is cached: the prefetched results live for one ``with`` block of one request,
  read in the request's own transaction, so a revocation committed before the request
  counts exactly as it did.

SQLite has no network round trip: ``prefetch`` does nothing there.

How: phase one executes each read through SQLAlchemy with a ``do_execute`` hook that
sends it on a cursor of our own inside ``Connection.pipeline()`` (SQLAlchemy's result is
discarded: it has no rows yet); leaving the pipeline syncs once and every cursor holds
its rows. Phase two's hook swaps the waiting cursor into SQLAlchemy's execution context,
so SQLAlchemy builds its ordinary (ORM) result from it.

Phase one's execution through the ORM only serves to learn the SQL and the parameters the
driver is given, yet it cost a third of the view's CPU (issue 20: the view is CPU-bound on
two cores). So the first send of a statement (one module-level statement object, with one
set of parameter names) keeps a *plan*: the SQL, the driver parameters it was sent with
and, for each caller's parameter, the bind processor SQLAlchemy applied. Later sends fill
the plan with the new values and hand it to the driver directly. A plan can only be
wrong by not matching what SQLAlchemy then executes in phase two (matched by SQL and
parameters), which is a miss — one more round trip, which ``tests/access/
test_round_trips.py`` counts — never a wrong answer. Statements whose SQL depends on the
caller's values (an expanding ``bindparam`` given a list, a literal-execute one, schema
translation) get no plan; a list the statement holds itself renders the same every time.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from typing import Any, NamedTuple

import orjson
import psycopg
from psycopg import pq
from psycopg.adapt import Transformer
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.sql import Executable

Read = tuple[Executable, dict[str, Any]]

_log = logging.getLogger(__name__)

_state = threading.local()


_DESCRIPTIONS_MAX = 512
_descriptions: dict[tuple[str, int], list] = {}


class _PrefetchCursor(psycopg.Cursor):
    """The cursor a prefetched read is sent on. Its ``description`` for a statement
    already answered is the one built then: psycopg builds a ``Column`` per column on
    every access, and SQLAlchemy asks once per execution (about a hundred columns a view,
    a twentieth of its CPU). The SQL fixes the columns' names and types for the life of
    the schema, as SQLAlchemy's own cached result metadata assumes."""

    __slots__ = ("sent_sql",)

    def __init__(self, connection, sql: str) -> None:
        super().__init__(connection)
        self.sent_sql = sql

    @property
    def description(self):
        result = self.pgresult
        if result is None:
            return super().description
        key = (self.sent_sql, result.nfields)
        described = _descriptions.get(key)
        if described is None:
            described = super().description
            if described is not None and len(_descriptions) < _DESCRIPTIONS_MAX:
                _descriptions[key] = described
        return described


def _key(statement: str, parameters: Any) -> tuple[str, str]:
    return statement, repr(parameters)


class _Plan(NamedTuple):
    """How a statement reaches the driver: its SQL, the parameters of the send that made
    the plan (the statement's own literals stay as they were), and per caller parameter
    its driver name and SQLAlchemy's bind processor (None: the value goes as is). The
    statement is held so that its ``id`` (the plan's key) cannot be reused by another."""

    statement: Executable
    sql: str
    parameters: dict[str, Any]
    binds: tuple[tuple[str, str, Callable[[Any], Any] | None], ...]

    def fill(self, values: dict[str, Any]) -> dict[str, Any]:
        parameters = dict(self.parameters)
        for key, name, process in self.binds:
            value = values[key]
            parameters[name] = process(value) if process is not None else value
        return parameters


_PLANS_MAX = 256  # module-level statements: a few dozen; the bound keeps a mistake small
_plans: dict[tuple[int, frozenset[str]], _Plan] = {}
_plans_lock = threading.Lock()


def _learn(statement: Executable, values: dict[str, Any], sql: str, parameters, context) -> None:
    """Keep a plan from the send SQLAlchemy just made of ``statement`` with ``values``,
    when its SQL does not depend on the values."""
    compiled = getattr(context, "compiled", None)
    if (
        compiled is None
        or not isinstance(parameters, dict)
        or compiled.positional
        or compiled.schema_translate_map
        or getattr(context, "executemany", False)
    ):
        return
    # A list the statement itself holds (``status.in_(OPENING)``) renders the same SQL
    # every time; one the caller gives (an expanding ``bindparam``) does not.
    rendered_late = compiled.literal_execute_params | compiled.post_compile_params
    if any(bind.key in values for bind in rendered_late):
        return
    escaped = compiled.escaped_bind_names or {}
    processors = compiled._bind_processors
    binds = []
    for key in values:
        name = escaped.get(key, key)
        if name not in parameters:
            return  # a parameter the SQL does not name as given: no plan, stay general
        binds.append((key, name, processors.get(key)))
    with _plans_lock:
        if len(_plans) < _PLANS_MAX:
            _plans[(id(statement), frozenset(values))] = _Plan(
                statement, sql, dict(parameters), tuple(binds)
            )


def plan_for(statement: Executable, parameters: dict[str, Any]) -> _Plan | None:
    """The plan a send of ``statement`` with these parameter names goes by, if learnt."""
    plan = _plans.get((id(statement), frozenset(parameters)))
    return plan if plan is not None and plan.statement is statement else None


def _real(session: Session) -> Session:
    """The session behind a ``scoped_session`` (``db.session``), or the session itself."""
    return session() if isinstance(session, scoped_session) else session


@event.listens_for(Engine, "do_execute")
def _do_execute(cursor, statement, parameters, context) -> bool:
    """Phase one: send on our own cursor and leave SQLAlchemy's unexecuted. Phase two:
    answer from the prefetched cursor when the SQL and parameters are the same."""
    sending = getattr(_state, "sending", None)
    if sending is not None:
        own = _PrefetchCursor(cursor.connection, statement)
        own.execute(statement, parameters)
        sending.append((_key(statement, parameters), own))
        learning = getattr(_state, "learning", None)
        if learning is not None:
            _state.learning = None
            _learn(*learning, statement, parameters, context)
        return True
    waiting: dict | None = getattr(_state, "waiting", None)
    if waiting is not None:
        queue = waiting.get(_key(statement, parameters))
        if queue:
            prefetched = queue.pop(0)
            cursor.close()
            context.cursor = prefetched
            return True
        _state.missed = getattr(_state, "missed", 0) + 1
    return False


def _pipelines(session: Session) -> bool:
    bind = session.get_bind()
    return bind.dialect.name == "postgresql" and bind.dialect.driver == "psycopg"


@contextmanager
def prefetch(
    session: Session,
    reads: Sequence[Read],
    *,
    then: Sequence[Read] = (),
    gate: Read | None = None,
) -> Iterator[bool]:
    """Send ``reads`` (statements with their parameters) in one round trip, then run the
    block, whose executions of the same statements are answered from those results.

    ``then`` (with ``gate``): the reads the *next* block will make, sent in the same one
    statement but evaluated by PostgreSQL only when ``gate`` (a read) finds a row, and
    kept for that next ``prefetch`` of this request (``carried``). The block yields
    whether they were answered. Nothing changes when they cannot go so (no one statement
    for them yet, SQLite, a failure): only ``reads`` are sent, and the next block sends
    its own. See ``caseops.auth.current`` for the one use: a view's reads in the bearer
    token's statement, behind a gate equal to the token's acceptance (issue 20)."""
    if not reads or not _pipelines(session) or getattr(_state, "waiting", None) is not None:
        yield False  # SQLite, nothing to read, or already inside a prefetch: run as is
        return
    real = _real(session)
    carried = _take_carried(real)
    if carried is not None and _covers(carried, reads):
        answered, ahead = carried, None
    else:
        answered, ahead = _send_combined(session, reads, then, gate)
    waiting = {} if answered is not None else _send(session, _learning_gate(reads, gate))
    _state.waiting, _state.answered = waiting, answered
    try:
        yield ahead is not None
    finally:
        _state.waiting = _state.answered = None
        _state.carried = (real, ahead) if ahead is not None else None
        for queue in waiting.values():
            for unused in queue:
                unused.close()


def _take_carried(real: Session) -> dict | None:
    """What the block before sent for this one, once: taken whether or not it is used,
    and only by the session it was read in."""
    carried = getattr(_state, "carried", None)
    _state.carried = None
    if carried is None or carried[0] is not real:
        return None
    return carried[1]


def drop_carried() -> None:
    """Forget reads sent ahead that no block used (the request ended first: a 422 before
    the view ran, say). Called when every request ends (``caseops.auth.current``)."""
    _state.carried = None


def _covers(carried: dict, reads: Sequence[Read]) -> bool:
    """Whether every read of ``reads`` was answered ahead, exactly (plan and values)."""
    for statement, values in reads:
        plan = plan_for(statement, values)
        if plan is None or not carried.get(_answer_key(plan, values)):
            return False
    return True


def _learning_gate(reads: Sequence[Read], gate: Read | None) -> Sequence[Read]:
    """The reads a pipeline sends: ``reads``, and the gate once, until its plan is known
    (the gate reads only what the block reads too; its answer is not used)."""
    if gate is None or plan_for(*gate) is not None:
        return reads
    return [*reads, gate]


def _send_one(session: Session, raw, statement: Executable, parameters: dict[str, Any]) -> None:
    """Send by the statement's plan when it has one; else execute through the session, as
    the block will (the ORM compiles its statements with their eager loads; a Core
    compilation of the same select differs), and learn the plan. The result SQLAlchemy
    builds around a cursor that has no rows yet is dropped, whatever it makes of it (the
    ORM refuses it); what counts is that the hook sent the statement."""
    sent = _state.sending
    plan = plan_for(statement, parameters)
    if plan is not None:
        filled = plan.fill(parameters)
        own = _PrefetchCursor(raw, plan.sql)
        sent.append((_key(plan.sql, filled), own))
        own.execute(plan.sql, filled)
        return
    before = len(sent)
    _state.learning = (statement, parameters)
    try:
        session.execute(statement, parameters)
    except Exception:
        if len(sent) == before:  # failed before reaching the wire: a real error
            raise
    finally:
        _state.learning = None


def _pooled_connection(session: Session):
    """The pool's connection under the session's, for a send that bypasses the session
    (``driver_connection`` is psycopg's; ``info`` lives as long as that connection); what
    the session holds is flushed first, as its own execute would (autoflush): the reads
    must see the request's pending writes."""
    pooled = session.connection().connection
    _real(session)._autoflush()
    return pooled


def _send(session: Session, reads: Sequence[Read]) -> dict[tuple[str, str], list]:
    """Phase one. On any failure the prefetch is dropped (after rolling back the aborted
    pipeline's transaction) and the block's own executions go to the server one by one,
    so a lost connection surfaces through SQLAlchemy's normal error handling (503)."""
    raw = _pooled_connection(session).driver_connection
    sent: list = []
    try:
        # One read needs no pipeline: a plain execution is the same one round trip for
        # less client CPU (psycopg: ~63 against ~85 µs measured), answered alike.
        with raw.pipeline() if len(reads) > 1 else nullcontext():
            _state.sending = sent
            try:
                for statement, parameters in reads:
                    _send_one(session, raw, statement, parameters)
            finally:
                _state.sending = None
    except Exception:
        for _, cursor in sent:
            cursor.close()
        with suppress(SQLAlchemyError):
            session.rollback()
        return {}
    waiting: dict[tuple[str, str], list] = {}
    for key, cursor in sent:
        waiting.setdefault(key, []).append(cursor)
    return waiting


# One statement for every read (issue 20). In a pipeline psycopg waits on the socket once
# per statement, releasing the GIL each time; under a worker's concurrent requests every
# release hands the interpreter to another request, and the view's six reads cost about
# 0.6 ms more CPU per view with 8 threads than alone (measured, docs/fast-path.md). Once
# every read of a block has its plan and its shape, the block is sent as ONE statement
# whose one row holds each read's rows as JSON arrays: one wait, one result.
#
# Values cross as JSON only where the JSON value is the value: booleans, integers and
# text. Other columns cross as their text form (``::text``), loaded by the loader psycopg
# itself uses for the column's type on a text result, then through SQLAlchemy's result
# processor, as every answer here: the rows are the rows a plain execution makes (held equal
# by tests/storage/test_pipeline.py). A type whose ``::text`` is not its output form
# (``boolean::text`` is 'true' where a result says 't'; ``inet::text`` adds the mask) or not
# listed here keeps the block on the pipeline.
_JSON_NATIVE = frozenset({16, 20, 21, 23, 25, 1043})  # bool, int8, int2, int4, text, varchar
# bytea, json, jsonb, date, timestamp, timestamptz, numeric, float8, uuid: ``::text`` is
# their output function's text
_AS_TEXT = frozenset({17, 114, 3802, 1082, 1114, 1184, 1700, 701, 2950})
_COMBINED_MAX_READS = 16  # a caseload's reads over many clients stay a pipeline
_COMBINED_MAX_COLUMNS = 100  # json_build_array's arguments (FUNC_MAX_ARGS)
_PLACEHOLDER = re.compile(r"%%|%\(([^)]+)\)s")


class _Combined(NamedTuple):
    """The one statement a block of reads is sent as: its SQL with ``$n`` placeholders
    (sent as is: psycopg converts ``%(name)s`` anew on every execution of a statement
    this long, a twentieth of the view's CPU), or None for a set of reads that cannot be
    one statement (not tried again); which read's parameter each ``$n`` takes; per read
    the plan and shape it was built from; and the plan of the gate that reads past the
    first ``first`` wait on, if any (all held so that their ids cannot be reused by
    others)."""

    sql: str | None
    order: tuple[tuple[int, str], ...]
    parts: tuple[tuple[_Plan, _Shape], ...]
    first: int
    gate: _Plan | None


_COMBINED_MAX = 64
_combined: dict[tuple[int, ...], _Combined] = {}  # per set of plans, by their ids


def _numbered(index: int, plan: _Plan, order: dict[tuple[int, str], int]) -> str | None:
    """The plan's SQL with its parameters numbered into ``order`` (``$n``), or None when
    the SQL does not name exactly the plan's parameters."""
    named = set()

    def number(match: re.Match) -> str:
        if match[1] is None:
            return "%"  # a literal %, as the driver would have sent it
        named.add(match[1])
        return f"${order.setdefault((index, match[1]), len(order) + 1)}"

    sql = _PLACEHOLDER.sub(number, plan.sql)
    if named != set(plan.parameters) or "$" in plan.sql:
        return None  # not the SQL this numbering understands: stay general
    return sql


def _part(index: int, plan: _Plan, shape: _Shape, order: dict[tuple[int, str], int]) -> str | None:
    """One read as a scalar subquery answering its rows as one JSON array of arrays, in
    the read's own order (the aggregate reads its sorted subquery as it comes, with no
    join above it); its parameters numbered into ``order``. None when a column's type
    cannot cross (see above) or the SQL does not name the plan's parameters."""
    if not 0 < len(shape.oids) <= _COMBINED_MAX_COLUMNS:
        return None
    columns = [f"c{n}" for n in range(len(shape.oids))]
    values = []
    for column, oid in zip(columns, shape.oids, strict=True):
        if oid in _JSON_NATIVE:
            values.append(column)
        elif oid in _AS_TEXT:
            values.append(f"{column}::text")
        else:
            return None
    sql = _numbered(index, plan, order)
    if sql is None:
        return None
    # Only the plan's own SQL (SQLAlchemy's compilation of a module-level statement) and
    # names made here go into the text; every value stays a parameter.
    return (
        f"(SELECT coalesce(json_agg(json_build_array({', '.join(values)})), '[]'::json) "  # noqa: S608
        f"FROM ({sql}) AS r{index}({', '.join(columns)}))"
    )


def _combined_for(
    reads: Sequence[Read], then: Sequence[Read] = (), gate: Read | None = None
) -> _Combined | None:
    """The one statement for ``reads`` (and ``then`` behind ``gate``) when every read has
    a plan and a shape and the gate a plan, built once per set of plans; else None.

    With a gate the statement is ``CASE WHEN EXISTS (gate) THEN json_build_array(every
    read) ELSE json_build_array(reads) END``: each read is an uncorrelated subquery, which
    PostgreSQL evaluates only where the branch taken refers to it, so when the gate finds
    no row the reads of ``then`` are never executed (tests/auth/test_token_gate.py reads
    the plan's own account: EXPLAIN ANALYZE, each of their scans run 0 times)."""
    if then and gate is None:
        return None
    everything = [*reads, *then]
    if not 1 < len(everything) <= _COMBINED_MAX_READS:
        return None
    parts = []
    for statement, parameters in everything:
        plan = plan_for(statement, parameters)
        shape = _shapes.get(id(statement))
        if plan is None or shape is None or shape.statement is not statement:
            return None
        parts.append((plan, shape))
    gate_plan = plan_for(*gate) if then and gate is not None else None
    if then and gate_plan is None:
        return None
    key = (*(id(plan) for plan, _ in parts), len(reads), id(gate_plan))
    combined = _combined.get(key)
    if (
        combined is None
        or combined.gate is not gate_plan
        or not all(a is b and c is d for (a, c), (b, d) in zip(combined.parts, parts, strict=True))
    ):
        order: dict[tuple[int, str], int] = {}
        subqueries = [_part(index, plan, shape, order) for index, (plan, shape) in enumerate(parts)]
        condition = _numbered(len(parts), gate_plan, order) if gate_plan is not None else None
        if None in subqueries or (gate_plan is not None and condition is None):
            sql = None
        elif gate_plan is None:
            sql = f"SELECT json_build_array({', '.join(subqueries)})::text"
        else:
            sql = (
                f"SELECT (CASE WHEN EXISTS ({condition}) "
                f"THEN json_build_array({', '.join(subqueries)}) "
                f"ELSE json_build_array({', '.join(subqueries[: len(reads)])}) END)::text"
            )
        # the parameters in the order of their numbers (insertion order)
        combined = _Combined(sql, tuple(order), tuple(parts), len(reads), gate_plan)
        with _plans_lock:
            if len(_combined) < _COMBINED_MAX:
                _combined[key] = combined
    return combined if combined.sql is not None else None


def _send_combined(
    session: Session, reads: Sequence[Read], then: Sequence[Read] = (), gate: Read | None = None
) -> tuple[dict | None, dict | None]:
    """Send ``reads`` (on PostgreSQL; ``prefetch`` has checked) as their one statement and
    make every read's rows: (the answers of ``reads``, those of ``then`` or None when the
    gate found no row or they could not go). The answers are (None, None) when ``reads``
    have no one statement yet (the pipeline sends them) or on any failure, after rolling
    back as ``_send`` does, so that the block's own executions go to the server one by one
    and a lost connection surfaces through SQLAlchemy's normal handling (503)."""
    combined = _combined_for(reads, then, gate) if then else None
    if combined is None:
        then = ()
        combined = _combined_for(reads)
        if combined is None:
            return None, None
    everything = [*reads, *then]
    pooled = _pooled_connection(session)
    raw = pooled.driver_connection
    filled = [
        plan.fill(values) for (plan, _), (_, values) in zip(combined.parts, everything, strict=True)
    ]
    if combined.gate is not None and gate is not None:
        filled.append(combined.gate.fill(gate[1]))
    try:
        with psycopg.RawCursor(raw) as cursor:
            cursor.execute(combined.sql, [filled[index][name] for index, name in combined.order])
            (document,) = cursor.fetchone()
        answers = orjson.loads(document)
        if len(answers) not in (combined.first, len(everything)):
            raise ValueError(f"{len(answers)} answers to {len(everything)} reads")
    except Exception as exc:
        if not isinstance(exc, psycopg.Error):  # not the server's answer: a bug here
            _log.warning("reads not sent as one statement; sent as a pipeline", exc_info=True)
        with suppress(SQLAlchemyError):
            session.rollback()
        return None, None
    converters = _converters(pooled, combined)
    answered: dict[tuple[int, str], list] = {}
    ahead: dict[tuple[int, str], list] = {}
    # answers past ``first`` only when the gate let them be read
    count = len(answers)
    for index, ((plan, shape), (_, values), fetched, convert) in enumerate(
        zip(combined.parts[:count], everything[:count], answers, converters[:count], strict=True)
    ):
        into = answered if index < combined.first else ahead
        into.setdefault(_answer_key(plan, values), []).append(_made(shape, fetched, convert))
    return answered, (ahead if count > combined.first else None)


def _answer_key(plan: _Plan, values: dict[str, Any]) -> tuple[int, str]:
    """Which execution an answer of the one statement is for: the plan (one statement
    object, one set of parameter names) and the caller's values, as exactly as ``_key``
    tells sends apart (``repr``), without filling the plan again to ask."""
    return id(plan), repr(tuple(values[key] for key, _, _ in plan.binds))


_Converter = Callable[[Any], Any] | None


def _converters(pooled, combined: _Combined) -> tuple[tuple[_Converter, ...], ...]:
    """Per read of ``combined``, per column, what makes its JSON value the row's value:
    None (the value as is), SQLAlchemy's processor alone, or psycopg's text loader for
    the column's type then that processor. Built once per connection and per the
    session settings psycopg's loaders read when made (``TimeZone`` for timestamptz,
    ``DateStyle`` for dates), as psycopg makes them per cursor; kept in the pool's
    ``info`` for that connection, so they go with it."""
    raw = pooled.driver_connection
    settings = (
        raw.pgconn.parameter_status(b"TimeZone"),
        raw.pgconn.parameter_status(b"DateStyle"),
    )
    cache = pooled.info.setdefault("caseops_converters", {})
    known = cache.get(id(combined))
    if known is not None and known[0] is combined and known[1] is raw and known[2] == settings:
        return known[3]
    transformer = Transformer(raw)
    made = tuple(
        tuple(
            _converter(
                None if oid in _JSON_NATIVE else transformer.get_loader(oid, pq.Format.TEXT).load,
                process,
            )
            for oid, process in zip(
                shape.oids, shape.processors or (None,) * len(shape.oids), strict=True
            )
        )
        for _, shape in combined.parts
    )
    if len(cache) < _COMBINED_MAX:
        cache[id(combined)] = (combined, raw, settings, made)
    return made


def _converter(load: Callable[[bytes], Any] | None, process: _Converter) -> _Converter:
    if load is None:
        return process  # JSON's value is the value; SQLAlchemy's processor sees None too
    if process is None:
        return lambda value: None if value is None else load(value.encode())
    return lambda value: process(None if value is None else load(value.encode()))


def _made(shape: _Shape, fetched: list[list[Any]], converters: tuple[_Converter, ...]) -> list:
    """A read's rows from its JSON arrays, each value through its column's converter
    (``_converters``), into the statement's named tuple."""
    make = shape.row._make
    if not any(converters):
        return [make(values) for values in fetched]
    return [
        make([v if c is None else c(v) for c, v in zip(converters, values, strict=True)])
        for values in fetched
    ]


class _Shape(NamedTuple):
    """How a select of columns' rows are made: a named tuple of the keys SQLAlchemy's
    own result gave the statement, and per column the result processor SQLAlchemy applies
    for its type and the driver's type code (None: the value as the driver gives it).
    The statement is held so that its ``id`` (the key) cannot be reused by another."""

    statement: Executable
    row: type
    processors: tuple[Callable[[Any], Any] | None, ...] | None
    oids: tuple[int, ...]


_SHAPES_MAX = 256
_shapes: dict[int, _Shape] = {}
_keys: dict[int, tuple[Executable, tuple[str, ...]]] = {}


def _row_type(keys: tuple[str, ...]) -> type | None:
    """A named tuple with SQLAlchemy's keys, or None for keys it cannot hold."""
    if len(set(keys)) != len(keys) or not all(k.isidentifier() and k[0] != "_" for k in keys):
        return None
    return namedtuple("ColumnRow", keys)


def _shape(real: Session, statement: Executable, cursor) -> _Shape | None:
    """The statement's shape, built once from the keys its first (SQLAlchemy) answer had
    and the processors SQLAlchemy picks for its columns' types; None if not known yet or
    not one a named tuple can carry (then SQLAlchemy answers, as always)."""
    shape = _shapes.get(id(statement))
    if shape is not None and shape.statement is statement:
        return shape
    learnt = _keys.get(id(statement))
    description = cursor.description
    if learnt is None or learnt[0] is not statement or description is None:
        return None
    keys = learnt[1]
    columns = list(statement.selected_columns)
    row = _row_type(keys)
    if row is None or not (len(columns) == len(keys) == len(description)):
        return None
    dialect = real.get_bind().dialect
    processors = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, described.type_code)
        for column, described in zip(columns, description, strict=True)
    )
    oids = tuple(described.type_code for described in description)
    shape = _Shape(statement, row, processors if any(processors) else None, oids)
    if len(_shapes) < _SHAPES_MAX:
        _shapes[id(statement)] = shape
    return shape


def _prefetched_rows(real: Session, statement: Executable, parameters: dict[str, Any]):
    """The rows of a read this block sent by plan, made here as SQLAlchemy would make
    them (its keys, its result processors) without its execution path, which cost about
    50 µs a statement, a sixth of the view's CPU (issue 20); None when SQLAlchemy must
    answer (no prefetch, no plan, not sent, or the statement's shape not learnt yet)."""
    waiting = getattr(_state, "waiting", None)
    answered = getattr(_state, "answered", None)
    if not waiting and not answered:
        return None
    plan = plan_for(statement, parameters)
    if plan is None:
        return None
    if answered:
        made = answered.get(_answer_key(plan, parameters))
        if made:
            return made.pop(0)
    if not waiting:
        return None
    queue = waiting.get(_key(plan.sql, plan.fill(parameters)))
    if not queue:
        return None
    shape = _shape(real, statement, queue[0])
    if shape is None:
        return None
    cursor = queue.pop(0)
    try:
        fetched = cursor.fetchall()
    finally:
        cursor.close()
    make = shape.row._make
    if shape.processors is None:
        return [make(values) for values in fetched]
    processors = shape.processors
    # as SQLAlchemy's rows do: every value through its column's processor, None included
    return [
        make([v if p is None else p(v) for p, v in zip(processors, values, strict=True)])
        for values in fetched
    ]


def column_rows(session: Session, statement: Executable, parameters: dict[str, Any]) -> list:
    """The rows of a select of columns (no entities) in the session's transaction, through
    its connection: what ``session.execute`` answers, less the ORM's execution path
    (about half of a hot read's CPU, issue 20). Flushes first, as the session's own
    autoflush would.

    Answered from a prefetch like any other execution; one sent by plan is answered
    past SQLAlchemy's execution path too, as named tuples with the keys and the values
    SQLAlchemy's own rows had (its result processors applied), read by attribute, index
    or unpacking alike (``tests/storage/test_pipeline.py`` holds them equal)."""
    real = _real(session)
    real._autoflush()
    rows = _prefetched_rows(real, statement, parameters)
    if rows is not None:
        return rows
    result = real.connection().execute(statement, parameters)
    if id(statement) not in _keys and len(_keys) < _SHAPES_MAX:
        _keys[id(statement)] = (statement, tuple(result.keys()))
    return result.all()


_AUTOCOMMITTED = "caseops.autocommitted"  # session.info key: its autocommit connection


def autocommit_reads(session: Session) -> None:
    """Bind ``session`` to a connection in autocommit for the rest of its transaction
    (until the request ends): no BEGIN before its first read, no ROLLBACK after its
    last. Call before the session's first statement; on SQLite it does nothing."""
    real = _real(session)
    if _pipelines(real) and not real.in_transaction():
        real.info[_AUTOCOMMITTED] = real.connection(
            execution_options={"isolation_level": "AUTOCOMMIT"}
        )


def idle_autocommitted(session: Session) -> Connection | None:
    """The connection ``autocommit_reads`` bound ``session`` to, if a statement sent on it
    now commits on its own and nothing else: still the session's (not closed by a commit
    or a rollback, not invalidated), in autocommit at the driver, no transaction open,
    no pipeline. The access log writes a request's entry there rather than on a
    connection of its own (``caseops.audit.service.GroupWriter``); ``None`` otherwise."""
    connection = _real(session).info.get(_AUTOCOMMITTED)
    if connection is None or connection.closed or connection.invalidated:
        return None
    raw = connection.connection.driver_connection
    if (
        raw.autocommit
        and raw.info.transaction_status == pq.TransactionStatus.IDLE
        and raw.pgconn.pipeline_status == pq.PipelineStatus.OFF
    ):
        return connection
    return None
