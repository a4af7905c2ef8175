"""The transactional outbox: ``enqueue`` writes webhook events inside the caller's
transaction, so an event exists if and only if the change it announces committed.

Callers (referrals, consent revocation) do::

    from caseops.webhooks import outbox

    outbox.enqueue("referral.requested", [referral.to_agency], {"referral_id": referral.id})
    db.session.commit()  # the caller's own commit: the change and its events together

and never commit on the outbox's behalf. Delivery (``caseops.webhooks.delivery``) reads
only committed rows, so a rolled-back change sends nothing.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.webhooks.models import Webhook, WebhookDelivery, WebhookEvent

EVENT_KINDS: tuple[str, ...] = (
    "referral.requested",
    "referral.status_changed",
    "consent.revoked",
)
# Bodies carry ids and kinds, never client data: a key is ``<thing>_id`` and its value a
# short opaque id (``ref_…``, ``cns_…``, a hex id), or ``status`` / ``previous_status`` with
# a referral state code.
ID_KEY = re.compile(r"^[a-z][a-z0-9_]{0,40}_id$")
ID_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$")
STATUS_KEYS = frozenset({"status", "previous_status"})
STATUS_VALUES = frozenset(
    {
        "draft",
        "requested",
        "accepted",
        "rejected",
        "cancelled",
        "in-progress",
        "on-hold",
        "completed",
        "failed",
        "entered-in-error",
    }
)
MAX_DATA_KEYS = 8


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def check_data(data: Mapping[str, str]) -> dict[str, str]:
    """``data`` as a plain dict, or ValueError when anything in it is not an id."""
    if not isinstance(data, Mapping) or len(data) > MAX_DATA_KEYS:
        raise ValueError(f"webhook data must be a mapping of at most {MAX_DATA_KEYS} ids")
    checked: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError("webhook data keys and values must be strings")
        if key in STATUS_KEYS:
            if value not in STATUS_VALUES:
                raise ValueError(f"webhook data {key!r} must be a referral state code")
        elif not ID_KEY.match(key):
            raise ValueError(f"webhook data key {key!r} is not '<thing>_id' (ids only)")
        elif not ID_VALUE.match(value):
            raise ValueError(f"webhook data {key!r} is not a short id (ids only, no client data)")
        checked[key] = value
    return checked


def subscribed(kind: str, agency: str, session: Session) -> list[str]:
    """Ids of the agency's active webhooks subscribed to ``kind``."""
    rows = session.execute(
        select(Webhook.id, Webhook.events).where(
            Webhook.agency_code == agency, Webhook.disabled_at.is_(None)
        )
    ).all()
    return sorted(webhook_id for webhook_id, events in rows if kind in (events or ()))


def enqueue(
    kind: str,
    agencies: Iterable[str],
    data: Mapping[str, str],
    *,
    session: Session | None = None,
) -> list[str]:
    """Announce ``kind`` to ``agencies``, in the caller's transaction, without committing.

    For each distinct agency with at least one active webhook subscribed to ``kind``: one
    ``webhook_events`` row (its id is the ``id`` of the body, stable across retries and
    the same for every webhook of that agency) and one ``webhook_deliveries`` row per such
    webhook, due at once. Agencies without a subscriber get nothing. The rows are added to
    ``session`` (default ``db.session``) and flushed, never committed: the event exists
    if and only if the caller's transaction commits; a rollback takes it away unsent.

    ``kind`` is one of ``EVENT_KINDS`` (ValueError otherwise). ``data`` holds ids only,
    e.g. ``{"referral_id": "ref_…"}`` or ``{"consent_id": "cns_…"}`` (keys ``*_id`` with
    short id-like values; ``status`` / ``previous_status`` with a referral state code);
    anything else is a ValueError, so no body ever carries client data.

    Returns the ids of the events written (one per agency that had a subscriber), in
    agency order.

    The body each webhook then receives (``caseops.webhooks.delivery``)::

        {"id": <event id>, "kind": kind, "occurred_at": ISO 8601,
         "agency": <receiving agency code>, "data": {...ids}}

    signed ``X-Caseops-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>``,
    with ``X-Caseops-Event-Id`` and ``X-Caseops-Event-Kind``.
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown webhook event kind {kind!r}; one of {', '.join(EVENT_KINDS)}")
    if isinstance(agencies, str):
        raise ValueError("agencies must be an iterable of agency codes, not one string")
    checked = check_data(data)
    session = session if session is not None else db.session
    now = utcnow()
    ids: list[str] = []
    for agency in sorted(set(agencies)):
        if not agency or agency == "*":  # never a wildcard expansion to everyone
            continue
        webhooks = subscribed(kind, agency, session)
        if not webhooks:
            continue
        event = WebhookEvent(
            id=new_event_id(), kind=kind, agency_code=agency, data=checked, occurred_at=now
        )
        session.add(event)
        session.flush()  # the event before its deliveries (foreign key)
        for webhook_id in webhooks:
            session.add(
                WebhookDelivery(
                    event_id=event.id, webhook_id=webhook_id, attempts=0, next_attempt_at=now
                )
            )
        ids.append(event.id)
    if ids:
        session.flush()
    return ids
