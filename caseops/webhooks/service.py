"""An agency administrator's webhooks: register (the secret shown once), list, disable,
and read the delivery log. Only that agency's own administrator (policy: ``webhooks``
``manage``, in their own agency); everyone else is refused, and the refusal logged.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select, update

from caseops.agencies.models import Agency
from caseops.audit.service import record as audit
from caseops.authz import permissions
from caseops.authz.actor import Actor
from caseops.authz.guard import refuse
from caseops.crypto import keyring_from_config
from caseops.db_types import utcnow
from caseops.errors import Conflict, NotFound, ValidationFailed
from caseops.extensions import db
from caseops.webhooks.delivery import SCHEMES, secret_context
from caseops.webhooks.models import Webhook, WebhookDelivery, WebhookEvent
from caseops.webhooks.outbox import EVENT_KINDS

DENIED = "webhook.denied"
MAX_URL = 2000
MAX_ACTIVE_PER_AGENCY = 20


def _agency(code: str) -> Agency:
    agency = db.session.scalar(select(Agency).where(Agency.code == code))
    if agency is None:
        raise NotFound(f"No agency {code!r}.")
    return agency


def _require_manage(actor: Actor, code: str) -> None:
    """The agency's own administrator (or the local operator) manages its webhooks."""
    if actor.is_operator or (actor.agency == code and permissions.may(actor, "webhooks", "manage")):
        return
    refuse(
        actor,
        DENIED,
        "Only this agency's administrator manages its webhooks.",
        detail={"attempted": "webhooks", "agency": code},
    )


def _webhook(code: str, webhook_id: str) -> Webhook:
    row = db.session.get(Webhook, webhook_id)
    if row is None or row.agency_code != code:
        raise NotFound(f"No webhook {webhook_id!r} of agency {code!r}.")
    return row


def describe(row: Webhook) -> dict[str, Any]:
    """A webhook without its secret."""
    return {
        "id": row.id,
        "agency": row.agency_code,
        "url": row.url,
        "events": list(row.events),
        "created_by": row.created_by,
        "created_at": row.created_at,
        "disabled_by": row.disabled_by,
        "disabled_at": row.disabled_at,
        "active": row.disabled_at is None,
    }


def check_url(url: str) -> list[str]:
    """Why ``url`` cannot receive webhooks (empty: it can)."""
    if not url or len(url) > MAX_URL:
        return [f"Give a URL of at most {MAX_URL} characters."]
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return ["A URL has no spaces or control characters."]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return ["Not a valid URL."]
    if parts.scheme.lower() not in SCHEMES:
        return ["Only http:// and https:// URLs receive webhooks."]
    if not parts.hostname:
        return ["The URL names no host."]
    if parts.username or parts.password:
        return ["Put no credentials in the URL: verify the signature instead."]
    return []


def register(actor: Actor, code: str, body: dict[str, Any]) -> dict[str, Any]:
    """Register a webhook; the answer carries the signing secret, the only time it is shown."""
    _agency(code)
    _require_manage(actor, code)
    url = (body.get("url") or "").strip()
    events = list(dict.fromkeys(body.get("events") or []))
    errors: dict[str, list[str]] = {}
    if reasons := check_url(url):
        errors["url"] = reasons
    if not events:
        errors["events"] = [f"Name at least one of: {', '.join(EVENT_KINDS)}."]
    elif unknown := [e for e in events if e not in EVENT_KINDS]:
        errors["events"] = [
            f"Unknown event kind: {', '.join(unknown)}; one of {', '.join(EVENT_KINDS)}."
        ]
    if errors:
        raise ValidationFailed("The webhook cannot be registered.", details=errors)
    active = db.session.scalar(
        select(func.count())
        .select_from(Webhook)
        .where(Webhook.agency_code == code, Webhook.disabled_at.is_(None))
    )
    if active >= MAX_ACTIVE_PER_AGENCY:
        raise Conflict(
            f"An agency has at most {MAX_ACTIVE_PER_AGENCY} active webhooks; disable one first.",
            code="too_many_webhooks",
        )
    webhook_id = "whk_" + secrets.token_hex(10)
    secret = "whsec_" + secrets.token_urlsafe(32)
    keyring = keyring_from_config(current_app.config)
    row = Webhook(
        id=webhook_id,
        agency_code=code,
        url=url,
        events=sorted(events, key=EVENT_KINDS.index),
        secret_encrypted=keyring.encrypt(secret.encode(), secret_context(webhook_id)),
        created_by=actor.username,
        created_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    audit(
        "webhook.registered",
        actor=actor,
        target_type="webhook",
        target_id=webhook_id,
        detail={"agency": code, "url": url, "events": row.events},
        session=db.session,
    )
    db.session.commit()
    return describe(row) | {"secret": secret}


def webhooks(actor: Actor, code: str) -> list[dict[str, Any]]:
    """The agency's webhooks, disabled ones included (newest first); never a secret."""
    _agency(code)
    _require_manage(actor, code)
    rows = db.session.scalars(
        select(Webhook)
        .where(Webhook.agency_code == code)
        .order_by(Webhook.created_at.desc(), Webhook.id)
    ).all()
    return [describe(row) for row in rows]


def disable(actor: Actor, code: str, webhook_id: str) -> dict[str, Any]:
    """Stop sending to a webhook; it and its delivery log stay. Deliveries still pending
    are given up."""
    _agency(code)
    _require_manage(actor, code)
    row = _webhook(code, webhook_id)
    if row.disabled_at is not None:
        raise Conflict("The webhook is already disabled.", code="already_disabled")
    now = utcnow()
    row.disabled_at = now
    row.disabled_by = actor.username
    db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.webhook_id == webhook_id,
            WebhookDelivery.delivered_at.is_(None),
            WebhookDelivery.given_up_at.is_(None),
        )
        .values(given_up_at=now, next_attempt_at=None, last_error="webhook disabled")
    )
    audit(
        "webhook.disabled",
        actor=actor,
        target_type="webhook",
        target_id=webhook_id,
        detail={"agency": code, "url": row.url},
        session=db.session,
    )
    db.session.commit()
    return describe(row)


def delivery_status(row: WebhookDelivery) -> str:
    if row.delivered_at is not None:
        return "delivered"
    if row.given_up_at is not None:
        return "given_up"
    return "pending"


def deliveries(
    actor: Actor, code: str, webhook_id: str, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The delivery log of one webhook, newest event first."""
    _agency(code)
    _require_manage(actor, code)
    _webhook(code, webhook_id)
    query = (
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.webhook_id == webhook_id)
    )
    if status == "delivered":
        query = query.where(WebhookDelivery.delivered_at.is_not(None))
    elif status == "given_up":
        query = query.where(WebhookDelivery.given_up_at.is_not(None))
    elif status == "pending":
        query = query.where(
            WebhookDelivery.delivered_at.is_(None), WebhookDelivery.given_up_at.is_(None)
        )
    rows = db.session.execute(
        query.order_by(WebhookEvent.occurred_at.desc(), WebhookDelivery.id.desc()).limit(limit)
    ).all()
    return [
        {
            "id": delivery.id,
            "event_id": event.id,
            "kind": event.kind,
            "occurred_at": event.occurred_at,
            "data": event.data,
            "status": delivery_status(delivery),
            "attempts": delivery.attempts,
            "last_attempt_at": delivery.last_attempt_at,
            "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error,
            "next_attempt_at": delivery.next_attempt_at,
            "delivered_at": delivery.delivered_at,
            "given_up_at": delivery.given_up_at,
        }
        for delivery, event in rows
    ]
