"""Delivery beside the sealer: the gunicorn workers' background loop sends, one sender
at a time, with no command run."""

from __future__ import annotations

import time
import urllib.request

from caseops.extensions import db
from caseops.webhooks import outbox


def test_gunicorn_workers_deliver_in_the_background(delivering_server, hooks, receiver):
    assert "caseops_webhook_delivery" not in hooks.client.application.extensions
    hooks.register("hha", receiver.url("/hha"), receiver=receiver)
    for n in range(3):
        outbox.enqueue("consent.revoked", ["hha"], {"consent_id": f"cns_gunicorn00000{n}"})
    db.session.commit()
    for _ in range(4):  # requests start each worker's loop (as for the sealer)
        urllib.request.urlopen(delivering_server.url_for("/healthz"), timeout=5).close()
    deadline = time.monotonic() + 20
    while len(receiver.received) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # a few more ticks: nothing is sent twice
    assert len(receiver.received) == 3, delivering_server.log_tail()
    assert all(r.verified for r in receiver.received)
    assert len({r.json["id"] for r in receiver.received}) == 3
