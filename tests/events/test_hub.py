"""The hub's fan-out in memory: each stream's mailbox gets what is addressed to it only."""

from __future__ import annotations

import json

from caseops.events.hub import MAX_QUEUED, Hub, Item, Subscription


def _item(n: int, kind: str, user_id: int | None = None, agency: str | None = None) -> Item:
    body = {"id": n, "kind": kind, "created_at": "2026-12-06T09:00:00Z", "data": {}}
    return Item(
        n, kind, user_id, agency, {}, body["created_at"], f"id: {n}\ndata: {json.dumps(body)}\n\n"
    )


def test_dispatch_fills_only_the_mailboxes_an_event_is_addressed_to(app):
    hub = Hub(app)
    worker = Subscription(1, "hha", frozenset({"case_worker"}))
    supervisor = Subscription(2, "hha", frozenset({"supervisor"}))
    elsewhere = Subscription(3, "cchc", frozenset({"supervisor"}))
    for subscription in (worker, supervisor, elsewhere):
        hub.subscribe(subscription)
    hub.dispatch(
        [
            _item(1, "task.assigned", user_id=1),
            _item(2, "referral.requested", agency="hha"),
            _item(3, "consent.revoked", agency="cchc"),
        ]
    )
    assert [i.id for i in worker.take(0)] == [1]  # not the referral: not a supervisor
    assert [i.id for i in supervisor.take(0)] == [2]
    assert [i.id for i in elsewhere.take(0)] == [3]
    hub.unsubscribe(worker)
    hub.dispatch([_item(4, "task.assigned", user_id=1)])
    assert hub.open_streams() == 2
    assert worker.take(0) == []


def test_a_mailbox_that_falls_too_far_behind_is_marked_to_reconnect(app):
    subscription = Subscription(1, "hha", frozenset())
    for n in range(MAX_QUEUED + 1):
        subscription.offer(_item(n + 1, "client.updated", user_id=1))
    assert subscription.overflowed
    assert len(subscription.take(0)) == MAX_QUEUED
