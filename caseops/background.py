"""A task that runs every few seconds from a daemon thread of each server process.

Started by the first request a process serves (``ensure_started`` as a ``before_request``
hook), so after gunicorn has forked its workers, never in the master; started again in a
process that forked after it ran. Every worker of every host runs one: a task that must
run once at a time (sealing the log, sending webhooks) takes a PostgreSQL advisory lock in
``tick``. Errors are the task's to log; the next tick tries again. Nothing here is ever on
a request's path.
"""

from __future__ import annotations

import os
import threading
import time

from flask import Flask


class PerProcessTask:
    """Subclasses name the thread (``thread_name``) and do one pass in ``tick``."""

    thread_name = "caseops-task"

    def __init__(self, app: Flask, interval: float) -> None:
        self.app = app
        self.interval = interval
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._stop = threading.Event()

    def ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stop = threading.Event()
            thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def tick(self) -> object:
        raise NotImplementedError

    def _run(self) -> None:
        # A first delay that differs per process spreads the workers' ticks.
        self._stop.wait(self.interval * (0.5 + (os.getpid() % 97) / 194))
        while not self._stop.is_set():
            started = time.monotonic()
            self.tick()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
