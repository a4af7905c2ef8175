"""``ops_server``: gunicorn like ``live_server``, with the extra environment an operations
test needs (a trusted proxy, a metrics token, JSON logs, the metrics directory)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.live import (
    GUNICORN,
    PROJECT_ROOT,
    LiveServer,
    _die_with_parent,
    _listening_socket,
    _server_env,
    _stop,
    _wait_ready,
    artefact,
    failed,
)


@pytest.fixture
def ops_server(request, app, database_url, tmp_path) -> Iterator[Callable[..., LiveServer]]:
    """Start gunicorn (2 workers) on the test's database with ``**env`` added."""
    started: list[LiveServer] = []

    def start(**env: str) -> LiveServer:
        sock = _listening_socket()
        host, port = sock.getsockname()
        log = tmp_path / f"gunicorn{len(started)}.log"
        environment = _server_env(database_url, tmp_path / "instance") | env
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    str(GUNICORN),
                    "--config",
                    "gunicorn.conf.py",
                    "--bind",
                    f"fd://{sock.fileno()}",
                    "--workers",
                    "2",
                    "--graceful-timeout",
                    "2",
                    "wsgi:app",
                ],
                cwd=PROJECT_ROOT,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                pass_fds=(sock.fileno(),),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        sock.close()
        server = LiveServer(f"http://{host}:{port}", database_url, log, process)
        started.append(server)
        _wait_ready(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            _stop(server.process)
            if failed(request.node):
                shutil.copyfile(server.log, artefact(request.node, f".{Path(server.log).stem}.log"))
