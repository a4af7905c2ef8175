"""The outbox contract referrals and consents rely on: known kinds, ids only, one event
per subscribed agency, written in the caller's transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from caseops.extensions import db
from caseops.webhooks import outbox
from caseops.webhooks.models import WebhookDelivery, WebhookEvent


@pytest.mark.parametrize(
    "data",
    [
        {"name": "Maria Lopez"},  # not an id key
        {"client_id": "Maria Lopez"},  # not an id value
        {"referral_id": "ref_ok", "note": "prefers mornings"},
        {"referral_id": "x" * 80},  # too long for an id
        {"referral_id": 42},
        {"status": "sheltered"},  # not a referral state
        {"consent_id": "cns_1@example.org"},
    ],
)
def test_anything_but_ids_is_refused(data):
    with pytest.raises(ValueError):
        outbox.check_data(data)


def test_ids_and_referral_states_pass():
    data = {"referral_id": "ref_0a1b2c3d", "status": "in-progress", "previous_status": "accepted"}
    assert outbox.check_data(data) == data


def test_an_unknown_kind_is_refused(app):
    with pytest.raises(ValueError, match="unknown webhook event kind"):
        outbox.enqueue("client.updated", ["hha"], {"client_id": "c0ffee00c0ffee00"})


def test_one_event_per_subscribed_agency_and_one_delivery_per_webhook(hooks):
    first = hooks.register("hha", "https://hha.example/a", ["referral.requested"])
    second = hooks.register(
        "hha", "https://hha.example/b", ["referral.requested", "consent.revoked"]
    )
    hooks.register("cchc", "https://cchc.example/a", ["consent.revoked"])  # another kind
    ids = outbox.enqueue(
        "referral.requested", ["hha", "cchc", "sch", "*", "hha"], {"referral_id": "ref_12345678"}
    )
    db.session.commit()
    assert len(ids) == 1  # cchc and sch subscribe to nothing of the kind; '*' is nobody
    event = db.session.get(WebhookEvent, ids[0])
    assert (event.kind, event.agency_code, event.data) == (
        "referral.requested",
        "hha",
        {"referral_id": "ref_12345678"},
    )
    targets = db.session.scalars(
        select(WebhookDelivery.webhook_id).where(WebhookDelivery.event_id == ids[0])
    ).all()
    assert sorted(targets) == sorted([first["id"], second["id"]])


def test_the_outbox_is_append_only(hooks):
    hooks.register("hha", "https://hha.example/a")
    (event_id,) = outbox.enqueue("consent.revoked", ["hha"], {"consent_id": "cns_appendonly01"})
    db.session.commit()
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(
            WebhookEvent.__table__.update()
            .where(WebhookEvent.id == event_id)
            .values(data={"consent_id": "cns_tampered0001"})
        )
        db.session.flush()
    db.session.rollback()
