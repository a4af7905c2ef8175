"""One listener per server process that wakes the open streams of that process.

Each stream used to be a thread asking the database every half second; five hundred of
them would be a thousand queries a second for nothing. Instead one thread per process
learns of new notifications and hands each to the streams it is addressed to:

* PostgreSQL: one connection of its own (not from the pool) runs ``LISTEN
  caseops_events``. The trigger of migration 0024 sends the new row's id, and PostgreSQL
  delivers it only at commit, so the hub reads exactly the committed rows, in whatever
  order the transactions committed (no id can be skipped the way an "after the highest
  id" cursor can skip a row whose transaction committed late). Every host hears every
  commit.
* SQLite: the hub reads ``id > last seen`` every ``poll`` seconds. SQLite has one writer
  at a time and ids are taken inside it, so rows commit in id order.

The hub runs only in server processes (started from gunicorn's ``post_worker_init``, see
``caseops.events.server``); a stream in a process without one (``flask run``, a test
client) polls the database itself.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from caseops.events.models import Notification
from caseops.events.rules import addressed_to

log = logging.getLogger(__name__)
CHANNEL = "caseops_events"
MAX_QUEUED = 1000  # per stream: a stream this far behind is told to reconnect


@dataclass(frozen=True)
class Item:
    """One notification as a stream sends it: ids and kinds only."""

    id: int
    kind: str
    user_id: int | None
    agency_code: str | None
    data: dict[str, str]
    created_at: str
    frame: str = ""  # the SSE text, encoded once however many streams send it


def item_of(row) -> Item:
    created_at = row.created_at.isoformat().replace("+00:00", "Z")
    data = dict(row.data or {})
    body = {"id": row.id, "kind": row.kind, "created_at": created_at, "data": data}
    frame = f"id: {row.id}\ndata: {json.dumps(body, separators=(',', ':'), sort_keys=True)}\n\n"
    return Item(row.id, row.kind, row.user_id, row.agency_code, data, created_at, frame)


@dataclass(eq=False)
class Subscription:
    """A stream's mailbox: the hub appends what is addressed to it and wakes it."""

    user_id: int
    agency: str
    roles: frozenset[str]
    queue: deque[Item] = field(default_factory=deque)
    ready: threading.Event = field(default_factory=threading.Event)
    overflowed: bool = False
    gone: bool = False  # the client went away (``caseops.events.watch``)

    def offer(self, item: Item) -> None:
        if not addressed_to(
            item.kind, item.user_id, item.agency_code, self.user_id, self.agency, self.roles
        ):
            return
        if len(self.queue) >= MAX_QUEUED:
            self.overflowed = True
        else:
            self.queue.append(item)
        self.ready.set()

    def client_gone(self) -> None:
        """The stream's client closed its connection: wake the stream so it ends now and
        frees its slot, rather than at its next write."""
        self.gone = True
        self.ready.set()

    def take(self, timeout: float) -> list[Item]:
        self.ready.wait(timeout)
        self.ready.clear()
        items = []
        while self.queue:
            items.append(self.queue.popleft())
        return items


class Hub:
    """The per-process listener (see the module docstring)."""

    def __init__(
        self, app: Flask, poll: float = 0.5, on_change: Callable[[], None] | None = None
    ) -> None:
        self.app = app
        self.poll = poll
        self.on_change = on_change
        self._subscriptions: set[Subscription] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pid: int | None = None
        self.cursor = 0

    # -- streams ---------------------------------------------------------------------

    def subscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.add(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    def open_streams(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    def dispatch(self, items: list[Item]) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions)
        for item in items:
            for subscription in subscriptions:
                subscription.offer(item)

    # -- the thread ------------------------------------------------------------------

    def start(self) -> None:
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._stop = threading.Event()
        threading.Thread(target=self._run, name="caseops-events-hub", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _engine(self) -> Engine:
        from caseops.extensions import db

        with self.app.app_context():
            return db.engine

    def _read(self, engine: Engine, ids: list[int] | None) -> list[Item]:
        statement = select(Notification).order_by(Notification.id)
        if ids is None:
            statement = statement.where(Notification.id > self.cursor).limit(2000)
        else:
            statement = statement.where(Notification.id.in_(ids))
        with engine.connect() as connection:
            rows = connection.execute(statement).all()
        items = [item_of(row) for row in rows]
        if items:
            self.cursor = max(self.cursor, items[-1].id)
        return items

    def _run(self) -> None:
        engine = self._engine()
        while not self._stop.is_set():
            try:
                with engine.connect() as connection:
                    self.cursor = connection.scalar(select(func.max(Notification.id))) or 0
                if engine.dialect.name == "postgresql":
                    self._listen(engine)
                else:
                    self._poll(engine)
            except Exception:
                log.exception("event hub failed; starting again in 1 s")
                self._stop.wait(1.0)

    def _poll(self, engine: Engine) -> None:
        while not self._stop.is_set():
            items = self._read(engine, None)
            if items:
                self.dispatch(items)
            if self.on_change is not None:
                self.on_change()
            self._stop.wait(self.poll)

    def _listen(self, engine: Engine) -> None:
        import psycopg

        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as listener:
            listener.execute(f"LISTEN {CHANNEL}")
            # What committed between reading the highest id and LISTEN taking effect.
            self.dispatch(self._read(engine, None))
            while not self._stop.is_set():
                ids: list[int] = []
                changed = False
                for notice in listener.notifies(timeout=1.0, stop_after=1):
                    changed |= self._note(notice.payload, ids)
                if ids or changed:  # drain what came with it, then read once
                    for notice in listener.notifies(timeout=0.02):
                        changed |= self._note(notice.payload, ids)
                if ids:
                    self.dispatch(self._read(engine, sorted(set(ids))))
                if changed and self.on_change is not None:
                    self.on_change()

    @staticmethod
    def _note(payload: str, ids: list[int]) -> bool:
        """Collect a notification id; True for a record change (the notifier's work)."""
        if payload.startswith("n") and payload[1:].isdigit():
            ids.append(int(payload[1:]))
        return payload.startswith("c")
