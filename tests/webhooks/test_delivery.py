"""Delivery to a real receiver on 127.0.0.1 that checks the signature: at least once,
with the same event id under retries; ids and kinds only; consent.revoked only to the
agencies the consent names; the delivery log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from caseops import create_app
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.webhooks import delivery, outbox
from caseops.webhooks.delivery import deliver_due
from caseops.webhooks.models import Webhook, WebhookDelivery, WebhookEvent
from tests import factories
from tests.fixtures.consents import source_consent
from tests.fixtures.records import MARIA, put

BODY_KEYS = {"id", "kind", "occurred_at", "agency", "data"}


def _maria(client) -> str:
    response = put(client, factories.token_for("hha.integration"), MARIA)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["client_id"]


def _revoke(hooks, consent_id: str) -> None:
    response = hooks.call(
        "POST",
        f"/api/v1/consents/{consent_id}/revoke",
        "hha.consent_officer",
        json={"reason": "Client withdrew consent by letter"},
    )
    assert response.status_code == 200, response.get_json()


def test_consent_revoked_reaches_only_the_agencies_the_consent_names(client, hooks, receiver):
    hha = hooks.register("hha", receiver.url("/hha"), receiver=receiver)
    cchc = hooks.register("cchc", receiver.url("/cchc"), receiver=receiver)
    hooks.register("sch", receiver.url("/sch"), receiver=receiver)  # not named
    hooks.register("cchc", receiver.url("/cchc-referrals"), ["referral.requested"])
    consent_id = source_consent(client, _maria(client))  # hha's housing, to cchc

    _revoke(hooks, consent_id)
    summary = deliver_due()

    assert summary.delivered == 2 and summary.failed == 0
    assert receiver.at("/sch") == [] and receiver.at("/cchc-referrals") == []
    for path, agency in (("/hha", "hha"), ("/cchc", "cchc")):
        (got,) = receiver.at(path)
        assert got.verified, "the signature checks out with the secret shown at registration"
        assert set(got.json) == BODY_KEYS  # ids and kinds only
        assert got.json["kind"] == "consent.revoked"
        assert got.json["agency"] == agency
        assert got.json["data"] == {"consent_id": consent_id}
        assert got.headers["X-Caseops-Event-Id"] == got.json["id"]
        assert got.headers["X-Caseops-Event-Kind"] == "consent.revoked"
        assert "Maria" not in got.body.decode() and "Lopez" not in got.body.decode()
    assert receiver.at("/hha")[0].json["id"] != receiver.at("/cchc")[0].json["id"]
    assert hooks.deliveries("hha", hha["id"])[0]["status"] == "delivered"
    assert hooks.deliveries("cchc", cchc["id"])[0]["last_status_code"] == 200


def test_at_least_once_with_the_same_event_id_when_the_receiver_is_down_then_up(
    client, hooks, receiver
):
    hook = hooks.register("hha", receiver.url("/hha"), receiver=receiver)
    consent_id = source_consent(client, _maria(client))
    receiver.stop()  # down: connection refused
    _revoke(hooks, consent_id)
    start = utcnow()

    first = deliver_due(now=start)
    assert (first.attempted, first.failed, first.delivered) == (1, 1, 0)
    (log,) = hooks.deliveries("hha", hook["id"])
    assert log["status"] == "pending" and log["attempts"] == 1
    assert log["last_status_code"] is None and "Connection" in log["last_error"]
    assert deliver_due(now=start + timedelta(seconds=10)).attempted == 0  # not due yet

    receiver.start()
    receiver.answers = [503]  # up, but failing once more
    second = deliver_due(now=start + timedelta(seconds=31))
    assert (second.attempted, second.failed) == (1, 1)
    third = deliver_due(now=start + timedelta(seconds=31 + 61))
    assert (third.attempted, third.delivered) == (1, 1)
    assert deliver_due(now=start + timedelta(hours=2)).attempted == 0  # delivered: done

    bodies = receiver.at("/hha")
    assert len(bodies) == 2 and all(b.verified for b in bodies)
    assert bodies[0].body == bodies[1].body  # the same event, the same id: dedupe on it
    (log,) = hooks.deliveries("hha", hook["id"])
    assert log["event_id"] == bodies[0].json["id"]
    assert log["status"] == "delivered" and log["attempts"] == 3
    assert log["last_status_code"] == 200 and log["last_error"] is None
    assert log["delivered_at"] is not None and log["next_attempt_at"] is None
    assert log["kind"] == "consent.revoked" and log["data"] == {"consent_id": consent_id}
    outcomes = [
        (e.action, e.detail["attempt"])
        for e in factories.events()
        if e.action.startswith("webhook.") and e.action != "webhook.registered"
    ]
    assert outcomes == [("webhook.failed", 1), ("webhook.failed", 2), ("webhook.delivered", 3)]
    assert {e.actor_agency for e in factories.events("webhook.failed")} == {"hha"}


def test_nothing_is_sent_for_a_rolled_back_change(hooks, receiver):
    hooks.register("hha", receiver.url("/hha"), receiver=receiver)
    ids = outbox.enqueue("consent.revoked", ["hha"], {"consent_id": "cns_rolledback0001"})
    assert len(ids) == 1  # written in the caller's transaction ...
    db.session.rollback()  # ... which does not commit
    assert deliver_due().attempted == 0
    assert receiver.received == []
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 0

    (kept,) = outbox.enqueue("consent.revoked", ["hha"], {"consent_id": "cns_committed00001"})
    db.session.commit()
    assert deliver_due().delivered == 1
    assert [r.json["id"] for r in receiver.received] == [kept]


def test_a_revocation_that_fails_sends_nothing(client, hooks, receiver):
    hooks.register("hha", receiver.url("/hha"), receiver=receiver)
    consent_id = source_consent(client, _maria(client))
    _revoke(hooks, consent_id)
    again = hooks.call(
        "POST",
        f"/api/v1/consents/{consent_id}/revoke",
        "hha.consent_officer",
        json={"reason": "Revoked twice by mistake"},
    )
    assert again.status_code == 409
    assert deliver_due().delivered == 1  # the one committed revocation
    assert len(receiver.received) == 1


def test_a_redirect_is_not_followed(client, hooks, receiver):
    hook = hooks.register("hha", receiver.url("/hha"), receiver=receiver)
    receiver.answers = [302]
    outbox.enqueue("consent.revoked", ["hha"], {"consent_id": "cns_redirected00001"})
    db.session.commit()
    summary = deliver_due()
    assert (summary.attempted, summary.failed) == (1, 1)
    assert receiver.at("/redirected") == []
    (log,) = hooks.deliveries("hha", hook["id"])
    assert log["last_status_code"] == 302 and log["last_error"] == "redirect not followed"


def test_a_disabled_webhook_gets_nothing_more(hooks, receiver):
    hook = hooks.register("hha", receiver.url("/hha"), receiver=receiver)
    outbox.enqueue("consent.revoked", ["hha"], {"consent_id": "cns_beforedisable1"})
    db.session.commit()
    response = hooks.call(
        "DELETE", f"/api/v1/agencies/hha/webhooks/{hook['id']}", "hha.agency_admin"
    )
    assert response.status_code == 200
    assert outbox.enqueue("consent.revoked", ["hha"], {"consent_id": "cns_afterdisable01"}) == []
    db.session.commit()
    assert deliver_due().attempted == 0 and receiver.received == []
    (log,) = hooks.deliveries("hha", hook["id"])  # the history stays
    assert log["status"] == "given_up" and log["last_error"] == "webhook disabled"


def test_deliveries_can_be_filtered_by_status(hooks, receiver):
    hook = hooks.register("hha", receiver.url("/hha"), receiver=receiver)
    outbox.enqueue("consent.revoked", ["hha"], {"consent_id": "cns_first000000001"})
    db.session.commit()
    deliver_due()
    outbox.enqueue("consent.revoked", ["hha"], {"consent_id": "cns_second00000001"})
    db.session.commit()
    pending = hooks.deliveries("hha", hook["id"], status="pending")
    delivered = hooks.deliveries("hha", hook["id"], status="delivered")
    assert [d["data"]["consent_id"] for d in pending] == ["cns_second00000001"]
    assert [d["data"]["consent_id"] for d in delivered] == ["cns_first000000001"]
    bad = hooks.call(
        "GET",
        f"/api/v1/agencies/hha/webhooks/{hook['id']}/deliveries",
        "hha.agency_admin",
        query_string={"status": "lost"},
    )
    assert bad.status_code == 422 and "status" in bad.get_json()["error"]["details"]


def test_the_cron_command_delivers(app, hooks, receiver):
    hooks.register("hha", receiver.url("/hha"), receiver=receiver)
    outbox.enqueue("consent.revoked", ["hha"], {"consent_id": "cns_bycron00000001"})
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["webhooks", "deliver"])
    assert result.exit_code == 0, result.output
    assert "attempted 1: delivered 1" in result.output
    assert receiver.received[0].verified


def test_the_background_loop_beside_the_sealer_delivers(app, database_url, hooks, receiver):
    assert "caseops_webhook_delivery" not in app.extensions  # off where the sealer is off
    hooks.register("hha", receiver.url("/hha"), receiver=receiver)
    outbox.enqueue("consent.revoked", ["hha"], {"consent_id": "cns_background0001"})
    db.session.commit()
    served = create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "CASEOPS_WEBHOOK_INTERVAL": 30}
    )
    runner = served.extensions["caseops_webhook_delivery"]
    assert runner.interval == 30
    try:
        summary = runner.tick()  # what each server process's thread does every interval
    finally:
        with served.app_context():
            db.engine.dispose()
    assert summary.delivered == 1 and receiver.received[0].verified


def test_one_sender_at_a_time_on_postgresql(database_url, hooks, receiver):
    if not database_url.startswith("postgresql"):
        pytest.skip("the advisory lock is PostgreSQL's; SQLite relies on claims")
    hooks.register("hha", receiver.url("/hha"), receiver=receiver)
    outbox.enqueue("consent.revoked", ["hha"], {"consent_id": "cns_leader00000001"})
    db.session.commit()
    with db.engine.connect() as other:
        assert other.scalar(select(func.pg_try_advisory_lock(delivery.ADVISORY_LOCK_KEY)))
        assert deliver_due().locked_out
        other.scalar(select(func.pg_advisory_unlock(delivery.ADVISORY_LOCK_KEY)))
    assert deliver_due().delivered == 1


def test_a_claimed_delivery_is_not_sent_twice(hooks, receiver):
    """Two senders that read the same due delivery: only the one that claims it sends."""
    hooks.register("hha", receiver.url("/hha"), receiver=receiver)
    outbox.enqueue("consent.revoked", ["hha"], {"consent_id": "cns_claimed0000001"})
    db.session.commit()
    now = utcnow()
    (due,) = delivery._due(now, 10)
    assert delivery._claim(due, now) is True
    assert delivery._claim(due, now) is False  # the second sender finds it moved
    db.session.expire_all()
    row = db.session.scalar(select(WebhookDelivery))
    assert row.next_attempt_at == now + delivery.LEASE and row.attempts == 0


def test_nothing_unsigned_is_ever_sent(hooks, receiver):
    """A secret that no longer decrypts (its key gone from the ring) fails the attempt."""
    hook = hooks.register("hha", receiver.url("/hha"), receiver=receiver)
    other = hooks.register("hha", receiver.url("/other"), receiver=receiver)
    outbox.enqueue("consent.revoked", ["hha"], {"consent_id": "cns_unsigned000001"})
    row = db.session.get(Webhook, hook["id"])
    row.secret_encrypted = db.session.get(Webhook, other["id"]).secret_encrypted  # moved
    db.session.commit()
    summary = deliver_due()
    assert (summary.delivered, summary.failed) == (1, 1)
    assert receiver.at("/hha") == [] and receiver.at("/other")[0].verified
    (log,) = hooks.deliveries("hha", hook["id"])
    assert log["last_error"].startswith("not sent: the signing secret cannot be decrypted")
