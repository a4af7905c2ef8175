"""Exponential backoff and the 24-hour give-up, with a fake clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from caseops.extensions import db
from caseops.webhooks import delivery, outbox
from caseops.webhooks.delivery import GIVE_UP_AFTER, Outcome, backoff_seconds, next_attempt
from caseops.webhooks.models import WebhookEvent
from tests import factories

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def test_backoff_doubles_from_30_seconds_and_caps_at_an_hour():
    assert [backoff_seconds(n) for n in range(1, 10)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600,
    ]  # fmt: skip
    assert backoff_seconds(10_000) == 3600
    with pytest.raises(ValueError):
        backoff_seconds(0)


def test_no_retry_is_scheduled_past_24_hours_after_the_event():
    assert next_attempt(T0, 1, T0) == T0 + timedelta(seconds=30)
    late = T0 + GIVE_UP_AFTER - timedelta(seconds=100)
    assert next_attempt(T0, 12, late) is None  # an hour later is past the deadline
    assert next_attempt(T0, 12, late - timedelta(hours=1)) == late


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    body = b'{"id":"evt_1"}'
    header = delivery.signature("whsec_test", 1765008000, body)
    expected = hmac.new(b"whsec_test", b"1765008000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1765008000,v1={expected}"


def test_a_receiver_that_never_answers_is_given_up_after_24_hours(hooks):
    hook = hooks.register("hha", "https://hha.example/down")
    (event_id,) = outbox.enqueue("consent.revoked", ["hha"], {"consent_id": "cns_neveranswer01"})
    db.session.commit()
    occurred = db.session.get(WebhookEvent, event_id).occurred_at
    sent: list[tuple[datetime, bytes]] = []
    clock = occurred

    def down(url, body, headers, timeout):
        sent.append((clock, body))
        return Outcome(error="ConnectionRefusedError: [Errno 111] Connection refused")

    schedule = []
    while clock < occurred + GIVE_UP_AFTER + timedelta(hours=2):
        summary = delivery.deliver_due(now=clock, send=down)
        if summary.attempted:
            schedule.append(clock)
        if summary.given_up:
            break
        clock += timedelta(seconds=15)

    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(schedule)]
    # 30 s doubling (rounded up to the fake clock's 15 s tick), capped at an hour
    assert gaps[:7] == [30, 60, 120, 240, 480, 960, 1920]
    assert set(gaps[7:]) == {3600}
    assert schedule[-1] <= occurred + GIVE_UP_AFTER
    assert len({body for _, body in sent}) == 1  # every attempt the same event, same bytes
    (log,) = hooks.deliveries("hha", hook["id"])
    assert log["status"] == "given_up" and log["attempts"] == len(schedule)
    assert log["next_attempt_at"] is None and log["given_up_at"] is not None
    failed = factories.events("webhook.failed")
    assert len(failed) == len(schedule)  # one log entry per attempt
    assert failed[-1].detail["given_up"] is True
    assert not any(e.detail["given_up"] for e in failed[:-1])
    assert delivery.deliver_due(now=clock + timedelta(days=1), send=down).attempted == 0
