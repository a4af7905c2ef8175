"""What a server process runs for events, started by gunicorn's ``post_worker_init``
(``gunicorn.conf.py``): in each worker, after the fork, never in the master.

* the hub (``caseops.events.hub``): one LISTEN connection (PostgreSQL) or one poll
  (SQLite) per process, waking that process's open streams;
* the notifier (``caseops.events.notifier``): turns queued record changes into
  ``client.updated`` for the workers who see the changed section. Every process runs
  one; rows are taken by deleting them, so two never take the same change.

Started from the server hook rather than a ``before_request`` hook (like the audit
sealer) so that an in-process test app never runs them behind a test's back, while a
test gunicorn (``tests/live.py``) does, as production does.
"""

from __future__ import annotations

from flask import Flask

from caseops.events.hub import Hub
from caseops.events.notifier import Notifier

NOTIFIER_INTERVAL = 0.5


def start(app: Flask) -> None:
    notifier = Notifier(app, NOTIFIER_INTERVAL)
    hub = Hub(app, poll=0.5, on_change=notifier.wake)
    app.extensions["caseops_events_notifier"] = notifier
    app.extensions["caseops_events_hub"] = hub
    notifier.start()
    hub.start()
