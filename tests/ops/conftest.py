"""``ops_server``: gunicorn like ``live_server``, with the extra environment an operations
test needs (a trusted proxy, a metrics token, JSON logs, the metrics directory)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.live import LiveServer, start_server, stop_server


@pytest.fixture
def ops_server(request, app, database_url, tmp_path) -> Iterator[Callable[..., LiveServer]]:
    """Start gunicorn (2 workers) on the test's database with ``**env`` added."""
    started: list[LiveServer] = []

    def start(**env: str) -> LiveServer:
        server = start_server(
            database_url, tmp_path, env=env, log_name=f"gunicorn{len(started)}.log"
        )
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            stop_server(server, request)
