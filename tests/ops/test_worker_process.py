"""A gunicorn worker freezes its start-up heap out of the garbage collector's full scans
(``caseops/worker_process.py``): a full collection in a worker holding some 200,000
start-up objects stood every request of that worker still for 62 ms."""

from __future__ import annotations

import gc
import runpy
from types import SimpleNamespace

import pytest

from caseops.worker_process import settle_heap
from tests.live import PROJECT_ROOT


@pytest.fixture
def unfrozen():
    """The test process must not keep what a test froze (it would never be freed)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_settle_heap_takes_the_start_up_objects_out_of_full_collections(app, unfrozen):
    gc.collect()
    tracked_before = len(gc.get_objects())
    frozen = settle_heap(app)
    assert frozen >= 0.9 * tracked_before  # what lived at start-up is frozen
    assert len(gc.get_objects()) < 0.1 * frozen  # ... and no longer scanned
    # Mappers were configured before freezing, so a first query builds nothing that a
    # full collection would then have to scan again.
    from caseops.extensions import db

    mappers = db.Model.registry.mappers
    assert mappers and all(mapper.configured for mapper in mappers)


def test_gunicorn_workers_settle_their_heap_after_starting_events(app, unfrozen, monkeypatch):
    """gunicorn.conf.py's post_worker_init runs in each worker after the app is loaded."""
    started = []
    monkeypatch.setattr("caseops.events.server.start", started.append)
    config = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    config["post_worker_init"](SimpleNamespace(wsgi=app))
    assert started == [app]
    assert gc.get_freeze_count() > 10_000
