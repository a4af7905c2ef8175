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
import re
from pathlib import Path

import pytest

from tests.live import artefact, failed

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


# --- marking and failure artefacts -------------------------------------------------------


def pytest_collection_modifyitems(config, items) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


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
        if failed(request.node) or page_errors.seen:
            with contextlib.suppress(Exception):
                pw_page.screenshot(path=str(artefact(request.node, ".png")), full_page=True)
    finally:
        context.close()
    assert not page_errors.seen, "the page reported errors:\n" + "\n".join(page_errors.seen)
