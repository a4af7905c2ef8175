"""What a gunicorn worker process does once, after the fork and the app's creation
(``post_worker_init`` in ``gunicorn.conf.py``), before it serves a request.

**Freeze the start-up heap.** A worker holds some 200,000 objects that live as long as it
does (modules, SQLAlchemy's mappers and compiled statements, the app, Casbin, the OpenAPI
document). Python's cyclic garbage collector scans all of them on every full (oldest
generation) collection, which the view's many short-lived ORM objects trigger every few
thousand requests: measured 2026-12-06, one such collection took 62 ms, during which
every request of that worker stood still — a tail-latency spike a worker at 150 views/s
meets every few seconds to minutes. ``gc.freeze()`` moves what exists now into a permanent
generation the collector no longer scans (CPython's documented use, after a fork); the
request's own garbage is collected as before. What is frozen is not freed until the worker
exits, so the mappers are configured first (they would otherwise be built on the first
request, after the freeze) and the garbage of start-up is collected before freezing.
"""

from __future__ import annotations

import gc

from flask import Flask
from sqlalchemy.orm import configure_mappers


def settle_heap(app: Flask) -> int:
    """Finish what start-up builds lazily, collect its garbage, freeze the rest; returns
    how many objects were frozen."""
    with app.app_context():
        configure_mappers()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
