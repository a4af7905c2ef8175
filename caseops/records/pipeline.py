"""Bulk ingest with the next chunk planned while the previous one is written.

A chunk's write is mostly the database's work (COPY into indexed tables, commit) and
its plan mostly Python's (validation, encryption, linkage), so on PostgreSQL the two
run side by side: a writer thread applies chunk k in its own session while the caller's
thread plans chunk k+1. The outcome is the one of writing the chunks one after the
other, which the tests check:

* The plan of chunk k+1 reads in one REPEATABLE READ snapshot and asks that snapshot
  whether chunk k's transaction (its id is published as the write starts) is visible.
  If it is, chunk k is simply in the data read. If not, chunk k's placements are
  applied to the linkage index first (``store.place(..., earlier=...)``), exactly as
  if they had been read.
* The writer claims all linkage (caseops.matching.claims), locks the chunk's stored
  rows and applies the plan only if nobody else placed records since the plan read
  (the linkage clock says so) and the rows are as the plan read them. Otherwise (a
  concurrent write) it plans again under the claim and the locks.
* If chunk k was not written as planned (a line the database refused, a concurrent
  write), a plan of chunk k+1 made on top of it is thrown away and made again.
* A chunk sharing a record id with the chunk being written, or holding one record id
  twice, waits for that write and is written as in the sequential path.

Elsewhere (SQLite allows one writer at a time anyway) every chunk is written in the
caller's thread, one after the other, through the same functions.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from caseops.authz.actor import Actor
from caseops.errors import DomainError
from caseops.extensions import db
from caseops.matching import claims
from caseops.records import writes
from caseops.records.prepare import Item
from caseops.records.writes import AgencyRef, Plan, WriteResult
from caseops.storage.dialect import is_postgresql
from caseops.storage.gcpause import gc_paused

Line = tuple[dict[str, Any], Item]  # (report entry, prepared record)


_VISIBLE = text("SELECT pg_visible_in_snapshot(CAST(:xid AS xid8), pg_current_snapshot())")


class _NotAsPlanned(Exception):
    """The rows a plan read changed before its write could lock them."""


def runs(lines: list[Line]) -> Iterator[list[Line]]:
    """Consecutive lines with distinct record ids: a record sent twice in one chunk is
    written the second time after the first, as one by one."""
    run: list[Line] = []
    seen: set[str] = set()
    for line in lines:
        srid = line[0]["source_record_id"]
        if srid in seen:
            yield run
            run, seen = [], set()
        run.append(line)
        seen.add(srid)
    if run:
        yield run


def _items(lines: list[Line]) -> list[Item]:
    return [item for _, item in lines]


def _report(lines: list[Line], results: list[WriteResult | Exception]) -> None:
    for (entry, _), result in zip(lines, results, strict=True):
        if isinstance(result, WriteResult):
            entry.update(status=result.status, client_id=result.client_id)
        elif isinstance(result, DomainError):
            entry.update(status="error", errors=result.details or {"_line": [result.message]})
        else:
            entry.update(status="error", errors={"_line": ["Written concurrently; send again."]})


def write_lines(actor: Actor, agency: AgencyRef, lines: list[Line]) -> bool:
    """Write lines together in a savepoint, under locks; if the database refuses, one
    by one, so only what it refuses is reported. True if written together."""
    try:
        with db.session.begin_nested():
            results = writes.write(actor, agency, _items(lines))
    except (IntegrityError, DomainError) as exc:
        if len(lines) > 1:
            for line in lines:
                write_lines(actor, agency, [line])
            return False
        results = [exc]
    _report(lines, results)
    return True


def _apply_planned(actor: Actor, chunk: Plan, lines: list[Line]) -> bool:
    """Apply a plan if nobody placed records since it read and the rows it read are
    unchanged; True if written as planned."""
    try:
        if claims.claim_all() != chunk.clock:
            raise _NotAsPlanned
        with db.session.begin_nested():
            locked = writes.read_stored(chunk.agency, chunk.source_record_ids, lock=True)
            if locked != chunk.stored:
                raise _NotAsPlanned
            results = writes.apply(actor, chunk)
    except (_NotAsPlanned, IntegrityError, DomainError):
        write_lines(actor, chunk.agency, lines)
        return False
    _report(lines, results)
    return True


@dataclass(eq=False)
class _Write:
    """A chunk's write under way in the writer thread."""

    lines: list[Line]
    srids: frozenset[str]
    plan: Plan | None
    future: Future[bool] | None = None
    xid: str | None = None
    started: threading.Event = field(default_factory=threading.Event)


class ChunkPipeline:
    """Writes validated chunks in order, one transaction each (see the module doc)."""

    def __init__(self, app: Flask, actor: Actor, agency: AgencyRef, *, threaded: bool) -> None:
        self._app = app
        self._actor = actor
        self._agency = agency
        self._executor = ThreadPoolExecutor(1, "caseops-bulk-writer") if threaded else None
        self._in_flight: _Write | None = None
        self.threaded = threaded
        if threaded:
            # Plans read in snapshots of their own; what the caller's session did so far
            # is committed, as the first chunk would have committed it.
            db.session.commit()

    def __enter__(self) -> ChunkPipeline:
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.finish()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)

    def add(self, lines: list[Line]) -> None:
        """Write one chunk's valid lines; returns once the previous chunk is written
        (its report entries are complete then)."""
        if self._executor is None:
            self._sequential(lines)
            return
        if not lines:
            self.finish()
            return
        chunk_runs = list(runs(lines))
        srids = frozenset(entry["source_record_id"] for entry, _ in lines)
        pending = self._in_flight
        if len(chunk_runs) != 1 or (pending is not None and pending.srids & srids):
            self.finish()
            self._start(_Write(lines, srids, None))
            return
        if pending is not None and pending.plan is None:
            self.finish()
            pending = None
        planned = self._plan(lines, pending)
        if pending is not None:
            written_as_planned = self._wait(pending)
            if planned.earlier and not written_as_planned:
                planned = self._plan(lines, None)
        self._start(_Write(lines, srids, planned))

    def finish(self) -> None:
        """Wait for the chunk being written."""
        if self._in_flight is not None:
            self._wait(self._in_flight)

    # -- the caller's thread --------------------------------------------------------

    def _sequential(self, lines: list[Line]) -> None:
        for run in runs(lines):
            write_lines(self._actor, self._agency, run)
        db.session.commit()

    def _plan(self, lines: list[Line], pending: _Write | None) -> Plan:
        """Plan in one snapshot; on top of ``pending``'s plan if the snapshot does not
        show its transaction yet."""
        earlier = ()
        hidden = False  # the pending chunk, and the tick of its claim, unseen here
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        try:
            if pending is not None:
                pending.started.wait()
                hidden = not db.session.scalar(_VISIBLE, {"xid": pending.xid})
                if hidden:
                    earlier = pending.plan.placements
            srids = [entry["source_record_id"] for entry, _ in lines]
            stored = writes.read_stored(self._agency, srids, lock=False)
            planned = writes.plan(self._agency, _items(lines), stored, earlier)
            # The write must find the clock as read here, plus the pending chunk's tick
            # if this snapshot does not show it.
            planned.clock = claims.clock() + hidden
            return planned
        finally:
            db.session.rollback()  # ends the snapshot; a plan holds no ORM objects

    def _start(self, write: _Write) -> None:
        run_in_context = contextvars.copy_context().run
        write.future = self._executor.submit(run_in_context, self._write, write)
        self._in_flight = write

    def _wait(self, write: _Write) -> bool:
        if self._in_flight is write:
            self._in_flight = None
        return write.future.result()

    # -- the writer thread ----------------------------------------------------------

    def _write(self, write: _Write) -> bool:
        with self._app.app_context(), gc_paused():
            try:
                write.xid = db.session.scalar(text("SELECT pg_current_xact_id()::text"))
            finally:
                write.started.set()
            if write.plan is None:
                claims.claim_all()
                for run in runs(write.lines):
                    write_lines(self._actor, self._agency, run)
                as_planned = False
            else:
                as_planned = _apply_planned(self._actor, write.plan, write.lines)
            db.session.commit()
            return as_planned


def bulk_writer(app: Flask, actor: Actor, agency: AgencyRef) -> ChunkPipeline:
    """The pipeline for a bulk load: threaded where the database takes concurrent
    writers (PostgreSQL)."""
    threaded = is_postgresql(db.engine)
    return ChunkPipeline(app, actor, agency, threaded=threaded)
