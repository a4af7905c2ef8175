"""Delivering the outbox: signed POSTs, at least once, with exponential backoff for 24 h.

``deliver_due`` is one pass: it claims the deliveries that are due, POSTs each (short
timeout, no redirects followed, http(s) only), and records the attempt, its status code
or error, and one access-log entry (``webhook.delivered`` / ``webhook.failed``). A 2xx
answer delivers; anything else (another status, a redirect, a timeout, a refused
connection) schedules the next attempt ``BASE_SECONDS * 2**(attempt-1)`` later (capped at
``MAX_BACKOFF_SECONDS``) while that stays within ``GIVE_UP_AFTER`` of the event; then the
delivery is given up. The event id never changes, so a receiver deduplicates on it.

Who runs it:

* ``caseops webhooks deliver`` (one pass, for cron; ``--loop`` to keep going), and
* a background thread in every server process beside the audit sealer
  (``register_periodic_delivery``), started by the first request a process serves.

One sender at a time: on PostgreSQL a session advisory lock elects the leader (a second
pass returns at once, ``locked_out``). Each delivery is also *claimed* before it is sent
(a conditional update that pushes ``next_attempt_at`` a lease ahead), so even two
senders without the lock (SQLite: several processes) rarely send the same attempt twice,
and a sender that dies mid-send leaves the delivery to be retried when the lease ends.
At least once, not exactly once: receivers deduplicate on the event id.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from sqlalchemy import func, select, update

from caseops.audit.service import record as audit
from caseops.authz.actor import Actor
from caseops.background import PerProcessTask
from caseops.context import Origin, new_request_id, origin_scope
from caseops.crypto import DecryptionFailed, KeyringError, keyring_from_config
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.storage.dialect import is_postgresql
from caseops.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent

log = logging.getLogger(__name__)

BASE_SECONDS = 30
MAX_BACKOFF_SECONDS = 3600
GIVE_UP_AFTER = timedelta(hours=24)
DEFAULT_TIMEOUT = 5.0
DEFAULT_LIMIT = 100
LEASE = timedelta(seconds=120)
MAX_ERROR = 300
USER_AGENT = "caseops-webhooks/1"
# "caseops\x02" as a signed 64-bit integer: the advisory lock of the delivery leader.
ADVISORY_LOCK_KEY = int.from_bytes(b"caseops\x02", "big")
SCHEMES = ("http", "https")


def secret_context(webhook_id: str) -> str:
    """The associated data the secret is encrypted under: it decrypts only for its webhook."""
    return f"webhook-secret:{webhook_id}"


# --- the schedule (pure) ---------------------------------------------------------------


def backoff_seconds(attempt: int) -> int:
    """Wait after the ``attempt``-th failed attempt (1-based): 30 s, 60 s, 120 s, …, 1 h."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    return min(BASE_SECONDS * 2 ** min(attempt - 1, 32), MAX_BACKOFF_SECONDS)


def next_attempt(occurred_at: datetime, attempt: int, now: datetime) -> datetime | None:
    """When to try again after the ``attempt``-th failure at ``now``; None: give up (the
    next try would fall more than ``GIVE_UP_AFTER`` after the event)."""
    due = now + timedelta(seconds=backoff_seconds(attempt))
    return None if due > occurred_at + GIVE_UP_AFTER else due


# --- the body and its signature (pure) ----------------------------------------------------


def body_of(event_id: str, kind: str, occurred_at: datetime, agency: str, data: dict) -> bytes:
    """The JSON body: ids and kinds only, the same bytes on every attempt."""
    payload = {
        "id": event_id,
        "kind": kind,
        "occurred_at": occurred_at.isoformat().replace("+00:00", "Z"),
        "agency": agency,
        "data": dict(sorted(data.items())),
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def headers_for(secret: str, event_id: str, kind: str, body: bytes, now: datetime) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Caseops-Event-Id": event_id,
        "X-Caseops-Event-Kind": kind,
        "X-Caseops-Signature": signature(secret, int(now.timestamp()), body),
    }


# --- sending ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: a status code, or an error (no answer at all)."""

    status_code: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


Sender = Callable[[str, bytes, dict, float], Outcome]


def post(url: str, body: bytes, headers: dict, timeout: float) -> Outcome:
    """POST ``body`` to ``url`` (http or https only); a redirect is not followed."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        return Outcome(error="refused: only http(s) URLs are delivered to")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        if parts.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read(4096)  # the receiver's answer is not kept
            status = response.status
        finally:
            connection.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Outcome(error=_error_text(exc))
    if 300 <= status < 400:
        return Outcome(status_code=status, error="redirect not followed")
    return Outcome(status_code=status)


def _error_text(exc: BaseException) -> str:
    text = f"{exc.__class__.__name__}: {exc}".replace("\n", " ")
    return text[:MAX_ERROR]


# --- one pass ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliverySummary:
    """What one pass did. ``locked_out``: another sender was running, nothing done."""

    attempted: int = 0
    delivered: int = 0
    failed: int = 0
    given_up: int = 0
    locked_out: bool = False


@dataclass(frozen=True)
class _Due:
    delivery_id: int
    seen_next: datetime
    attempts: int
    webhook_id: str
    url: str
    secret_encrypted: str
    event_id: str
    kind: str
    agency: str
    data: dict
    occurred_at: datetime


def _due(now: datetime, limit: int) -> list[_Due]:
    rows = db.session.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.next_attempt_at,
            WebhookDelivery.attempts,
            Webhook.id,
            Webhook.url,
            Webhook.secret_encrypted,
            WebhookEvent.id,
            WebhookEvent.kind,
            WebhookEvent.agency_code,
            WebhookEvent.data,
            WebhookEvent.occurred_at,
        )
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.next_attempt_at <= now,
            WebhookDelivery.delivered_at.is_(None),
            WebhookDelivery.given_up_at.is_(None),
            Webhook.disabled_at.is_(None),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    ).all()
    return [_Due(*row) for row in rows]


def _claim(due: _Due, now: datetime) -> bool:
    """Take the delivery for one attempt: only if nobody moved it since it was read."""
    result = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == due.delivery_id,
            WebhookDelivery.next_attempt_at == due.seen_next,
            WebhookDelivery.delivered_at.is_(None),
            WebhookDelivery.given_up_at.is_(None),
        )
        .values(next_attempt_at=now + LEASE)
    )
    db.session.commit()
    return result.rowcount == 1


def _attempt(due: _Due, now: datetime, send: Sender, timeout: float) -> tuple[Outcome, bool]:
    """Send one attempt and record it; returns the outcome and whether it was given up."""
    body = body_of(due.event_id, due.kind, due.occurred_at, due.agency, due.data)
    started = time.monotonic()
    try:
        keyring = keyring_from_config(current_app.config)
        secret = keyring.decrypt(due.secret_encrypted, secret_context(due.webhook_id)).decode()
    except (DecryptionFailed, KeyringError) as exc:  # e.g. its key was retired: never unsigned
        outcome = Outcome(error=f"not sent: the signing secret cannot be decrypted ({exc})")
    else:
        try:
            headers = headers_for(secret, due.event_id, due.kind, body, now)
            outcome = send(due.url, body, headers, timeout)
        except Exception as exc:  # a sender must never stop the pass
            outcome = Outcome(error=_error_text(exc))
    duration_ms = int((time.monotonic() - started) * 1000)
    if outcome.error and len(outcome.error) > MAX_ERROR:
        outcome = Outcome(outcome.status_code, outcome.error[:MAX_ERROR])
    attempt = due.attempts + 1
    retry_at = None if outcome.ok else next_attempt(due.occurred_at, attempt, now)
    given_up = not outcome.ok and retry_at is None
    db.session.execute(
        update(WebhookDelivery)
        # a webhook disabled meanwhile stays given up
        .where(WebhookDelivery.id == due.delivery_id, WebhookDelivery.given_up_at.is_(None))
        .values(
            attempts=attempt,
            last_attempt_at=now,
            last_status_code=outcome.status_code,
            last_error=outcome.error,
            next_attempt_at=retry_at,
            delivered_at=now if outcome.ok else None,
            given_up_at=now if given_up else None,
        )
    )
    db.session.add(
        WebhookAttempt(
            delivery_id=due.delivery_id,
            attempt=attempt,
            attempted_at=now,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=duration_ms,
        )
    )
    detail: dict[str, Any] = {
        "webhook_id": due.webhook_id,
        "event_id": due.event_id,
        "kind": due.kind,
        "attempt": attempt,
        "status_code": outcome.status_code,
    }
    if not outcome.ok:
        detail |= {
            "error": outcome.error,
            "next_attempt_at": retry_at.isoformat() if retry_at else None,
            "given_up": given_up,
        }
    audit(
        "webhook.delivered" if outcome.ok else "webhook.failed",
        actor=delivery_actor(due.agency),
        outcome="success" if outcome.ok else "failure",
        target_type="webhook_delivery",
        target_id=str(due.delivery_id),
        detail=detail,
        session=db.session,
    )
    db.session.commit()
    return outcome, given_up


def delivery_actor(agency: str) -> Actor:
    """Who the log names for a delivery: the service itself, on behalf of the receiving
    agency (so the entry is in that agency's privacy officer's oversight)."""
    return Actor(username="<webhooks>", agency=agency)


class _Leadership:
    """PostgreSQL: a session advisory lock on a connection of its own, held for the pass.
    SQLite: always the leader (one process; claims guard the rest)."""

    def __init__(self) -> None:
        self.connection = None

    def __enter__(self) -> bool:
        engine = db.engine
        if not is_postgresql(engine):
            return True
        self.connection = engine.connect()
        taken = bool(self.connection.scalar(select(func.pg_try_advisory_lock(ADVISORY_LOCK_KEY))))
        self.connection.commit()
        if not taken:
            self.connection.close()
            self.connection = None
        return taken

    def __exit__(self, *exc_info) -> None:
        if self.connection is not None:
            try:
                self.connection.scalar(select(func.pg_advisory_unlock(ADVISORY_LOCK_KEY)))
                self.connection.commit()
            finally:
                self.connection.close()


def deliver_due(
    now: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    send: Sender | None = None,
) -> DeliverySummary:
    """One pass over up to ``limit`` due deliveries (needs an app context).

    ``now`` fixes the clock (tests); ``send`` replaces the HTTP POST (tests). Returns
    counts of attempts, deliveries, failures and give-ups, or ``locked_out`` when another
    sender holds the lock.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    sender = send or post
    with _Leadership() as leader:
        if not leader:
            return DeliverySummary(locked_out=True)
        at = now or utcnow()
        due = _due(at, limit)
        db.session.commit()  # no transaction stays open across the HTTP calls
        attempted = delivered = failed = given_up = 0
        for item in due:
            at = now or utcnow()
            if not _claim(item, at):
                continue
            outcome, gave_up = _attempt(item, at, sender, timeout)
            attempted += 1
            delivered += outcome.ok
            failed += not outcome.ok
            given_up += gave_up
    return DeliverySummary(attempted, delivered, failed, given_up)


def deliver_all(
    now: datetime | None = None, *, max_passes: int = 100, **options
) -> DeliverySummary:
    """Passes until nothing due is left (or ``max_passes``): the sums of their summaries."""
    total = DeliverySummary()
    for _ in range(max_passes):
        summary = deliver_due(now, **options)
        total = DeliverySummary(
            total.attempted + summary.attempted,
            total.delivered + summary.delivered,
            total.failed + summary.failed,
            total.given_up + summary.given_up,
            summary.locked_out,
        )
        if summary.locked_out or summary.attempted < options.get("limit", DEFAULT_LIMIT):
            break
    return total


# --- beside the sealer --------------------------------------------------------------------


class PeriodicDelivery(PerProcessTask):
    """Delivers every ``interval`` seconds from a daemon thread of each server process.

    Started by the first request a process serves (after gunicorn forked, never in the
    master), like the audit sealer (``caseops.audit.seal.PeriodicSealer``); the advisory
    lock lets one process of all hosts send at a time. Errors are logged and the next tick
    tries again; delivery is never on a request's path.
    """

    thread_name = "caseops-webhooks"

    def tick(self) -> DeliverySummary | None:
        # Each pass is one operation of its own in the log (its own request id).
        origin = Origin(request_id=new_request_id(), channel="internal")
        with self.app.app_context(), origin_scope(origin):
            try:
                return deliver_all()
            except Exception:
                log.exception("webhook delivery pass failed; retrying in %s s", self.interval)
                db.session.rollback()
                return None
            finally:
                db.session.remove()


def delivery_interval(app: Flask) -> float:
    """``CASEOPS_WEBHOOK_INTERVAL`` (app config, then the environment), else the audit
    sealer's interval: delivery runs beside the sealer, off where the sealer is off."""
    value = app.config.get("CASEOPS_WEBHOOK_INTERVAL")
    if value is None:
        value = os.environ.get("CASEOPS_WEBHOOK_INTERVAL")
    if value is None or value == "":
        value = app.config.get("CASEOPS_AUDIT_SEAL_INTERVAL") or 0
    return float(value)


def register_periodic_delivery(app: Flask) -> PeriodicDelivery | None:
    interval = delivery_interval(app)
    if interval <= 0:
        return None
    runner = PeriodicDelivery(app, interval)
    app.extensions["caseops_webhook_delivery"] = runner
    app.before_request(runner.ensure_started)
    return runner
