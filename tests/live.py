"""``live_server``: the real app under gunicorn (2 workers) on the test's own database.

Used by the browser journeys and by the tests that need several worker processes (a
policy change or a revocation must take effect on the next request in every worker).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from caseops.config import SECRET_VARIABLES

PROJECT_ROOT = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).with_name("gunicorn")
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 10.0
# The only CASEOPS_* settings the server takes from the test process (tests/conftest.py sets
# them, so every worker shares the keys); every other CASEOPS_*/GUNICORN* variable is
# dropped so the server runs on defaults.
SERVER_ENV_PASSTHROUGH = (*SECRET_VARIABLES, "CASEOPS_LOG_LEVEL")


def failed(item) -> bool:
    return any(
        getattr(getattr(item, f"_report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


def artefact(item, suffix: str) -> Path:
    results = Path(item.config.rootpath) / "test-results"
    results.mkdir(exist_ok=True)
    return results / (re.sub(r"[^\w-]+", "_", item.nodeid) + suffix)


@dataclass
class LiveServer:
    url: str
    database_url: str
    log: Path
    process: subprocess.Popen = field(repr=False)

    def url_for(self, path: str) -> str:
        return self.url + path

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """If pytest is killed outright, take the gunicorn master (and so its workers) along."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _listening_socket() -> socket.socket:
    """A socket already bound to a free loopback port: gunicorn inherits it (``fd://``),
    so no other xdist worker can take the port between choosing and binding it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _server_env(database_url: str, instance: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CASEOPS_", "GUNICORN")) and name != "PORT"
    }
    env.update({name: os.environ[name] for name in SERVER_ENV_PASSTHROUGH if name in os.environ})
    env.update(
        CASEOPS_ENV="test",
        CASEOPS_DATABASE_URL=database_url,
        CASEOPS_INSTANCE_PATH=str(instance),
        PYTHONUNBUFFERED="1",
    )
    return env


def _wait_ready(server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"gunicorn exited with {server.process.returncode} before /readyz answered.\n"
                f"--- server log ---\n{server.log_tail()}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(server.url_for("/readyz"), timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:200]!r}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.05)
    pytest.fail(
        f"gunicorn did not answer GET /readyz with 200 within {STARTUP_TIMEOUT:.0f}s "
        f"(last: {last}).\n--- server log ---\n{server.log_tail()}",
        pytrace=False,
    )


def _stop(process: subprocess.Popen) -> None:
    """Quick shutdown of the whole process group (master and workers), then make sure."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=SHUTDOWN_TIMEOUT)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # stragglers, if any: no orphans
    process.wait(timeout=SHUTDOWN_TIMEOUT)


def start_server(
    database_url: str,
    tmp_path: Path,
    *,
    workers: int = 2,
    env: dict[str, str] | None = None,
    log_name: str = "gunicorn.log",
) -> LiveServer:
    """gunicorn with caseops' own gunicorn.conf.py serving the real app on
    ``database_url``, ``workers`` workers, ``env`` added to the server's environment;
    answered ``/readyz`` when this returns. Stop it with ``stop_server``. (The one way the
    tests start a server: ``live_server``, ``ops_server`` and the stream-slot tests.)"""
    if not GUNICORN.exists():
        pytest.fail(f"gunicorn not found at {GUNICORN}", pytrace=False)
    sock = _listening_socket()
    host, port = sock.getsockname()
    log = tmp_path / log_name
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                str(GUNICORN),
                "--config",
                "gunicorn.conf.py",
                "--bind",
                f"fd://{sock.fileno()}",
                "--workers",
                str(workers),
                "--graceful-timeout",
                "2",
                "wsgi:app",
            ],
            cwd=PROJECT_ROOT,
            env=_server_env(database_url, tmp_path / "instance") | (env or {}),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    sock.close()  # gunicorn holds its own copy
    server = LiveServer(f"http://{host}:{port}", database_url, log, process)
    try:
        _wait_ready(server)
    except BaseException:
        _stop(process)
        raise
    return server


def stop_server(server: LiveServer, request=None) -> None:
    """Stop it; keep its log under test-results/ when ``request``'s test failed."""
    _stop(server.process)
    if request is not None and failed(request.node):
        shutil.copyfile(server.log, artefact(request.node, f".{server.log.stem}.log"))


@pytest.fixture
def live_server(request, app, database_url, tmp_path) -> Iterator[LiveServer]:
    """gunicorn serving the real app on the database the in-process ``app`` fixture uses."""
    assert app.config["SQLALCHEMY_DATABASE_URI"] == database_url
    server = start_server(database_url, tmp_path)
    try:
        yield server
    finally:
        stop_server(server, request)


def pytest_configure(config) -> None:
    """Markers of the tests that serve caseops with gunicorn (this plugin's users)."""
    config.addinivalue_line(
        "markers",
        "outage: stops a PostgreSQL cluster it started itself under load (tests/test_outage.py)",
    )
