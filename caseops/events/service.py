"""The reader's side: the notifications list and the event stream of the caller.

Both read only what is addressed to the caller: their own user id, or their agency for a
kind their roles read (``rules.addressed_to``). Nothing here reads client data, so
nothing here is a disclosure to log; the page that follows an event asks through the
access decision, and that is logged.

A stream lasts at most ``CASEOPS_EVENTS_MAX_LIFETIME`` seconds (default 300) and then
ends, so the client reconnects (``EventSource`` does by itself, with ``Last-Event-ID``)
and the request's authentication runs again. Between, every heartbeat (``CASEOPS_EVENTS_
HEARTBEAT``, default 15 s) checks the credential again without extending it: a revoked
token, an ended or idle session, a deactivated or locked account stops the stream within
one heartbeat. Roles are re-read then too.

Served by gunicorn, a stream whose client closes its connection ends at once and frees its
slot (``caseops.events.watch``), and one whose client stops reading ends when a write has
made no progress for ``SEND_TIMEOUT`` seconds.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app, g
from sqlalchemy import and_, func, or_, select

from caseops.auth import service as auth
from caseops.auth.models import UserSession
from caseops.authz.actor import Actor
from caseops.db_types import utcnow
from caseops.errors import DomainError, ValidationFailed
from caseops.events import watch
from caseops.events.hub import Hub, Item, Subscription, item_of
from caseops.events.models import Notification
from caseops.events.rules import agency_kinds
from caseops.extensions import db

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
DEFAULT_LIFETIME = 300.0
DEFAULT_HEARTBEAT = 15.0
DEFAULT_STREAMS = 200  # per process; the server's thread pool is sized beyond it
POLL = 0.5
RETRY_MS = 3000
FIRST_HEARTBEAT_FROM = 0.1  # of the interval: the request was just authenticated
LIFETIME_SPREAD = 0.1
SEND_TIMEOUT = 60.0  # a client that reads nothing for this long is dropped (nginx's default)


class TooManyStreams(DomainError):
    status, code = 503, "too_many_streams"


@dataclass(frozen=True)
class Credential:
    """What the stream's request authenticated with, to check again later."""

    kind: str  # "token" | "session"
    value: str


def setting(name: str, default: float) -> float:
    value = current_app.config.get(name)
    if value is None:
        value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def hub() -> Hub | None:
    return current_app.extensions.get("caseops_events_hub")


def _addressed(actor: Actor):
    kinds = agency_kinds(actor.roles)
    mine = Notification.user_id == actor.user_id
    if not kinds or actor.agency is None:
        return mine
    return or_(
        mine,
        and_(Notification.agency_code == actor.agency, Notification.kind.in_(kinds)),
    )


def _after(actor: Actor, after: int, limit: int) -> list[Item]:
    rows = db.session.scalars(
        select(Notification)
        .where(_addressed(actor), Notification.id > after)
        .order_by(Notification.id)
        .limit(limit)
    ).all()
    return [item_of(row) for row in rows]


def describe(item: Item) -> dict[str, Any]:
    """The one shape both the list and the stream send: ids and kinds only."""
    return {"id": item.id, "kind": item.kind, "created_at": item.created_at, "data": item.data}


def notifications(actor: Actor, after: int, limit: int) -> list[dict[str, Any]]:
    """The caller's notifications with an id above ``after``, oldest first."""
    if actor.user_id is None:
        return []
    items = _after(actor, after, min(max(limit, 1), MAX_LIMIT))
    db.session.remove()
    return [describe(item) for item in items]


# Notification ids are the table's INTEGER key (32-bit on PostgreSQL): a larger cursor
# would fail in the database instead of naming the field.
MAX_ID = 2**31 - 1


def parse_cursor(value: str | None, field: str) -> int | None:
    """``Last-Event-ID`` / ``after`` as a notification id (422 naming the field)."""
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 10 or int(value) > MAX_ID:
        raise ValidationFailed(
            f"{field} must be a notification id.",
            details={field: [f"A whole number from 0 to {MAX_ID}."]},
        )
    return int(value)


def recheck(credential: Credential) -> Actor | None:
    """The credential's actor now, or None once it no longer stands. Read-only for a
    session: a stream must not keep an idle session alive (only the person's own
    requests do); a token's last use is recorded as for any request."""
    # A stream runs inside its request's context (``stream_with_context``), where
    # ``policy.enforcer`` keeps the policy the request was authenticated under (in ``g``,
    # for one request): forget it, so the roles re-read here are those in force now.
    g.pop("casbin_enforcer", None)
    now = utcnow()
    if credential.kind == "token":
        caller = auth.resolve_token(credential.value, now)
        if isinstance(caller, str):
            return None
        # a bearer caller carries ``active`` and ``locked_until`` as a user does
        user, actor_of = caller, auth.actor_for_token
    else:
        row = db.session.get(UserSession, credential.value)
        if row is None or row.ended_at is not None:
            return None
        idle = timedelta(seconds=current_app.config["CASEOPS_IDLE_TIMEOUT"])
        absolute = timedelta(seconds=current_app.config["CASEOPS_ABSOLUTE_TIMEOUT"])
        if now - row.created_at > absolute or now - row.last_seen_at > idle:
            return None
        user, actor_of = row.user, auth.actor_for
    if not user.active or (user.locked_until is not None and user.locked_until > now):
        return None
    return actor_of(user)


_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def _slot() -> threading.BoundedSemaphore:
    with _slots_lock:
        key = os.getpid()
        if key not in _slots:
            _slots[key] = threading.BoundedSemaphore(
                int(setting("CASEOPS_EVENT_STREAMS", DEFAULT_STREAMS))
            )
        return _slots[key]


class _Claim:
    """One stream's slot, released once: by the stream's end, or, should the response
    never be iterated (the client went away before the first byte), when it is dropped."""

    def __init__(self, semaphore: threading.BoundedSemaphore) -> None:
        self._semaphore: threading.BoundedSemaphore | None = semaphore

    def release(self) -> None:
        semaphore, self._semaphore = self._semaphore, None
        if semaphore is not None:
            semaphore.release()

    def __del__(self) -> None:
        self.release()


def open_stream(
    actor: Actor,
    credential: Credential,
    cursor: int | None,
    client_socket: socket.socket | None = None,
) -> Iterator[str]:
    """Claim a stream slot (503 ``too_many_streams`` when this process has none left, so
    long-lived streams never take the threads ordinary requests need) and return the
    stream. Without a cursor the stream starts after the newest notification now.

    ``client_socket`` (gunicorn's, when served by it) is watched while the stream waits,
    so a client that goes away frees its slot at once (``caseops.events.watch``);
    without it the stream learns of the close at its next write."""
    if actor.user_id is None:
        raise ValidationFailed("Only a person's sign-in has events.", details={})
    semaphore = _slot()
    if not semaphore.acquire(blocking=False):
        raise TooManyStreams(
            "Too many open event streams on this server; retry shortly or poll "
            "/api/v1/me/notifications."
        )
    slot = _Claim(semaphore)
    try:
        if cursor is None:
            cursor = db.session.scalar(select(func.max(Notification.id))) or 0
        db.session.remove()
    except BaseException:
        slot.release()
        raise
    return _stream(actor, credential, cursor, slot, client_socket)


def _stream(
    actor: Actor,
    credential: Credential,
    cursor: int,
    slot: _Claim,
    client_socket: socket.socket | None,
) -> Iterator[str]:
    lifetime = setting("CASEOPS_EVENTS_MAX_LIFETIME", _default_lifetime())
    heartbeat = max(0.05, setting("CASEOPS_EVENTS_HEARTBEAT", DEFAULT_HEARTBEAT))
    listener = hub()
    subscription = Subscription(actor.user_id or 0, actor.agency or "", actor.roles)
    sent: set[int] = set()
    watched = client_socket is not None and watch.watcher().watch(
        client_socket, subscription.client_gone
    )
    if client_socket is not None:
        watch.limit_send_wait(client_socket, SEND_TIMEOUT)
    try:
        if listener is not None:
            listener.subscribe(subscription)  # before the backlog: nothing falls between
        yield f"retry: {RETRY_MS}\n\n"
        started = time.monotonic()
        # Spread in time: streams opened together (a reconnect storm after a deploy, a
        # proxy restart) would otherwise re-check their credentials together every
        # heartbeat and end and reconnect together every lifetime. The first heartbeat
        # comes within one interval (never later), the end within the lifetime.
        # (random: spreading load, not a secret)
        deadline = started + lifetime * random.uniform(1 - LIFETIME_SPREAD, 1)  # noqa: S311
        next_check = started + heartbeat * random.uniform(FIRST_HEARTBEAT_FROM, 1)  # noqa: S311
        backlog = True
        while True:
            if subscription.gone:
                return  # the client went away: free the slot now
            if backlog or listener is None:
                items = _after(actor, cursor, MAX_LIMIT)
                db.session.remove()
                backlog = len(items) == MAX_LIMIT
            else:
                items = subscription.take(max(0.0, min(next_check, deadline) - time.monotonic()))
                if subscription.overflowed or subscription.gone:
                    return  # far behind (the client reconnects and reads its backlog) or gone
            for item in items:
                if item.id not in sent:
                    sent.add(item.id)
                    cursor = max(cursor, item.id)
                    yield item.frame
            now = time.monotonic()
            if now >= deadline:
                return
            if now >= next_check:
                fresh = recheck(credential)
                db.session.remove()
                if fresh is None or fresh.user_id != actor.user_id:
                    return
                if fresh.roles != subscription.roles:
                    actor = fresh
                    subscription.roles = fresh.roles
                next_check = now + heartbeat
                yield ": heartbeat\n\n"
            elif listener is None and not items:
                # Polling the table; the watch may cut the wait short.
                subscription.ready.wait(min(POLL, max(0.0, min(next_check, deadline) - now)))
    finally:
        if watched:
            watch.watcher().unwatch(client_socket)  # type: ignore[arg-type]
        if listener is not None:
            listener.unsubscribe(subscription)
        slot.release()
        db.session.remove()


def _default_lifetime() -> float:
    """300 s; 0 (send the backlog, then end) in a test process serving without a hub, so
    an in-process test client (the API contract, the matrix) is never held by a stream.
    A test gunicorn runs the hub and streams for 300 s like any other server."""
    if current_app.config.get("CASEOPS_ENV") == "test" and hub() is None:
        return 0.0
    return DEFAULT_LIFETIME
