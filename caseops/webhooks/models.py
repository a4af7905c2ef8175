"""Webhooks to agency systems: subscriptions, the outbox of events, and the delivery log.

* ``webhooks``: an agency's subscription (URL, event kinds, the signing secret encrypted
  with the app's keyring). Disabling sets ``disabled_at``; the row and its history stay.
* ``webhook_events``: the outbox. One row per event and receiving agency, written in the
  transaction of the change it announces, so it exists if and only if that change
  committed. Its id is what the receiver deduplicates on. Append-only in the database.
* ``webhook_deliveries``: one per (event, webhook of that agency subscribed to the kind):
  the state of at-least-once delivery (attempts, next attempt, delivered or given up).
* ``webhook_attempts``: every attempt, with its status code or error. Append-only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class Webhook(db.Model):
    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    agency_code: Mapped[str] = mapped_column(String(32), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON())
    # AES-GCM under the keyring (caseops.crypto), bound to "webhook-secret:<id>": the
    # secret must be usable to sign later, so it is encrypted, not hashed.
    secret_encrypted: Mapped[str] = mapped_column(Text())
    created_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled_by: Mapped[str | None] = mapped_column(String(150))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookEvent(db.Model):
    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    agency_code: Mapped[str] = mapped_column(String(32), index=True)
    data: Mapped[dict[str, str]] = mapped_column(JSON())
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookDelivery(db.Model):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "webhook_id", name="uq_webhook_deliveries_event_id"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id"))
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id"), index=True)
    attempts: Mapped[int] = mapped_column(Integer(), default=0)
    # When the next attempt is due (also the lease of a sender that claimed it);
    # NULL once delivered or given up.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer())
    last_error: Mapped[str | None] = mapped_column(String(300))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    given_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookAttempt(db.Model):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer())
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer())
    error: Mapped[str | None] = mapped_column(String(300))
    duration_ms: Mapped[int] = mapped_column(Integer(), default=0)
