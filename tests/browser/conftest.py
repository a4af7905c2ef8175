"""Browser journeys: the real app under gunicorn, driven by Debian Chromium via Playwright.

Fixtures
--------
``live_server``   gunicorn (``wsgi:app``, 2 workers, ``gunicorn.conf.py``) on a free
                  127.0.0.1 port, on its own freshly migrated database. A new server per
                  test. Gives a :class:`LiveServer` (``.url``, ``.database_url``, ``.log``,
                  ``.url_for(path)``). Cookies stay Secure (the app's default): Chromium
                  counts http://127.0.0.1 as a secure context and keeps them.
``app``           (tests/conftest.py) is bound to the same database and holds an app
                  context for the whole test, so ``tests.factories`` (make_agency,
                  make_user, standard_world ...) create the server's data in-process.
                  ``live_server`` requests it, so it is always there.
``page``          a Playwright page in a fresh browser context (one Chromium per xdist
                  worker). Any console error (CSP violations included) or uncaught page
                  error fails the test (an error status of a page the test navigated to
                  is the test's to assert; see ``PageErrors``); a test that provokes
                  errors on purpose takes them with ``page_errors.take()``. On failure a
                  screenshot and the server log are written to ``test-results/``.
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

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 10.0
# The only CASEOPS_* settings the server takes from the test process (tests/conftest.py sets
# them); every other CASEOPS_*/GUNICORN* variable is dropped so the server runs on defaults.
SERVER_ENV_PASSTHROUGH = ("CASEOPS_SECRET_KEY", "CASEOPS_ENCRYPTION_KEYS", "CASEOPS_LOG_LEVEL")


# --- marking and failure artefacts -------------------------------------------------------


def pytest_collection_modifyitems(config, items) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"_report_{report.when}", report)
    return report


def _failed(item) -> bool:
    return any(
        getattr(getattr(item, f"_report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


def _artefact(item, suffix: str) -> Path:
    results = Path(item.config.rootpath) / "test-results"
    results.mkdir(exist_ok=True)
    return results / (re.sub(r"[^\w-]+", "_", item.nodeid) + suffix)


# --- the server ---------------------------------------------------------------------------


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
            with urllib.request.urlopen(server.url_for("/readyz"), timeout=2) as response:  # noqa: S310
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


@pytest.fixture
def live_server(request, app, database_url, tmp_path) -> Iterator[LiveServer]:
    """gunicorn serving the real app on the database the in-process ``app`` fixture uses."""
    assert app.config["SQLALCHEMY_DATABASE_URI"] == database_url
    if not GUNICORN.exists():
        pytest.fail(f"gunicorn not found at {GUNICORN}", pytrace=False)
    sock = _listening_socket()
    host, port = sock.getsockname()
    log = tmp_path / "gunicorn.log"
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
                "--no-control-socket",  # its default path is shared by every gunicorn
                "wsgi:app",
            ],
            cwd=PROJECT_ROOT,
            env=_server_env(database_url, tmp_path / "instance"),
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
        yield server
    finally:
        _stop(process)
        if _failed(request.node):
            shutil.copyfile(log, _artefact(request.node, ".server.log"))


# --- the browser --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"The browser tests need Debian's Chromium at {CHROMIUM} (scripts/ensure-chromium).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


# Chromium reports every HTTP error status as a console error. For a page the test itself
# navigated to (a document) the status is the test's business, and e.g. a failed sign-in
# is deliberately answered 401; errors for anything the page loads still fail the test.
FAILED_LOAD = re.compile(r"^Failed to load resource: the server responded with a status of (\d{3})")


class PageErrors:
    """Console errors and uncaught exceptions seen by one page."""

    def __init__(self) -> None:
        self._seen: list[tuple[str, str]] = []  # (message, url it is about)
        self._documents: set[tuple[str, str]] = set()  # (url, status) of error documents

    def on_console(self, message) -> None:
        if message.type == "error":
            self._seen.append((f"console: {message.text}", (message.location or {}).get("url", "")))

    def on_pageerror(self, error) -> None:
        self._seen.append((f"pageerror: {error}", ""))

    def on_response(self, response) -> None:
        if response.status >= 400 and response.request.is_navigation_request():
            self._documents.add((response.url, str(response.status)))

    def _unexpected(self, entry: tuple[str, str]) -> bool:
        text, url = entry
        failed = FAILED_LOAD.match(text.removeprefix("console: "))
        return not (failed and (url, failed.group(1)) in self._documents)

    @property
    def seen(self) -> list[str]:
        return [f"{text} @ {url}" for text, url in self._seen if self._unexpected((text, url))]

    def take(self) -> list[str]:
        """Hand over (and forget) the errors, for a test that provokes some on purpose."""
        seen, self._seen = self.seen, []
        return seen


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(request, browser, page_errors):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    pw_page = context.new_page()
    pw_page.on("console", page_errors.on_console)
    pw_page.on("pageerror", page_errors.on_pageerror)
    pw_page.on("response", page_errors.on_response)
    try:
        yield pw_page
        if _failed(request.node) or page_errors.seen:
            with contextlib.suppress(Exception):
                pw_page.screenshot(path=str(_artefact(request.node, ".png")), full_page=True)
    finally:
        context.close()
    assert not page_errors.seen, "the page reported errors:\n" + "\n".join(page_errors.seen)
