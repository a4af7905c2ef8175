"""Shared test set-up: a migrated template database per xdist worker, a fresh copy per test.

``CASEOPS_TEST_DB`` picks the backend: ``sqlite`` (default) or ``postgres`` (URL from
``CASEOPS_TEST_POSTGRES_URL``). A PostgreSQL run that cannot reach its server fails;
it never skips.
"""

from __future__ import annotations

import base64
import itertools
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

os.environ["CASEOPS_ENV"] = "test"
os.environ.setdefault(
    "CASEOPS_ENCRYPTION_KEYS", "t1:" + base64.urlsafe_b64encode(b"t" * 32).decode()
)
os.environ.setdefault("CASEOPS_SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("CASEOPS_PSEUDONYM_KEY", "test-pseudonym-key-not-for-production")
os.environ.setdefault("CASEOPS_AUDIT_SIGNING_KEY", base64.b64encode(b"s" * 32).decode())
os.environ.setdefault("CASEOPS_LOG_LEVEL", "WARNING")

from alembic import command
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from caseops import create_app
from caseops.migrations_state import alembic_config
from tests import factories

# Shared builders and fixtures live in tests/fixtures/ (and live_server, gunicorn on the
# test's database, in tests/live.py). pytest takes ``pytest_plugins`` only here, in the root
# conftest; listing the modules also rewrites their asserts. Test modules import plain
# helpers from tests/fixtures/ and never from another test module (tests/test_test_layout.py).
pytest_plugins = [
    "tests.live",
    "tests.fixtures.records",
    "tests.fixtures.bulk",
    "tests.fixtures.consents",
    "tests.fixtures.access",
    "tests.fixtures.pages",
    "tests.fixtures.merkle",
    "tests.fixtures.worlds",
    "tests.fixtures.oracle",
    "tests.fixtures.referrals",
    "tests.fixtures.notes",
    "tests.fixtures.portal",
    "tests.fixtures.events",
    "tests.fixtures.agreements",
]

BACKEND = os.environ.get("CASEOPS_TEST_DB", "sqlite")

# CI explores the same examples every run, so a submission's result is reproducible;
# local runs keep exploring new ones.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")
_counter = itertools.count()


class _SingleProcess:
    """``worker_id`` as pytest-xdist names the only process, for runs with ``-p no:xdist``."""

    @pytest.fixture(scope="session")
    def worker_id(self) -> str:
        return "master"


def pytest_configure(config) -> None:
    if not config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_SingleProcess(), "caseops-single-process")


def pytest_report_header(config) -> str:
    return f"caseops test database: {BACKEND}"


class TestDatabases:
    """Creates throw-away databases cloned from one migrated template."""

    def __init__(self, backend: str, workdir: Path, worker: str):
        self.backend = backend
        self.workdir = workdir
        self.worker = re.sub(r"\W", "", worker)
        if backend == "postgres":
            url = os.environ.get("CASEOPS_TEST_POSTGRES_URL")
            if not url:
                raise pytest.UsageError("CASEOPS_TEST_DB=postgres needs CASEOPS_TEST_POSTGRES_URL")
            self.server_url = make_url(url)
            self.admin_engine = create_engine(
                self.server_url, isolation_level="AUTOCOMMIT", pool_size=1
            )
            with self.admin_engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        elif backend != "sqlite":
            raise pytest.UsageError(f"unknown CASEOPS_TEST_DB {backend!r}")
        self.template_url = self.empty()
        command.upgrade(alembic_config(self.template_url), "head")

    def _pg_name(self) -> str:
        return f"caseops_t_{self.worker}_{uuid.uuid4().hex[:10]}"

    def empty(self) -> str:
        """A new database with nothing in it."""
        if self.backend == "sqlite":
            return f"sqlite:///{self.workdir / f'db{next(_counter)}.sqlite3'}"
        name = self._pg_name()
        with self.admin_engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def migrated(self) -> str:
        """A new database at the migration head, cloned from the template."""
        if self.backend == "sqlite":
            target = self.workdir / f"db{next(_counter)}.sqlite3"
            shutil.copyfile(make_url(self.template_url).database, target)
            return f"sqlite:///{target}"
        name = self._pg_name()
        template = make_url(self.template_url).database
        with self.admin_engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        """Drop a test database. (On PostgreSQL each drop forces a checkpoint: with fsync
        on that costs about a second, which is why .ci/run turns fsync off.)"""
        if self.backend == "sqlite":
            Path(make_url(url).database).unlink(missing_ok=True)
            return
        name = make_url(url).database
        with self.admin_engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self.drop(self.template_url)
        if self.backend == "postgres":
            self.admin_engine.dispose()


@pytest.fixture(scope="session")
def databases(tmp_path_factory, worker_id) -> Iterator[TestDatabases]:
    dbs = TestDatabases(BACKEND, tmp_path_factory.mktemp("db"), worker_id)
    yield dbs
    dbs.close()


@pytest.fixture
def database_url(databases) -> Iterator[str]:
    url = databases.migrated()
    yield url
    databases.drop(url)


@pytest.fixture
def app(database_url, tmp_path):
    application = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TESTING": True,
        }
    )
    application.instance_path = str(tmp_path)
    application.test_client_class = HttpsClient
    with application.app_context():
        yield application
        from caseops.extensions import db

        db.session.remove()
        db.engine.dispose()


class HttpsClient(FlaskClient):
    """Requests over https, as in production, so Secure cookies are sent back.

    Each request gets its own app context (its own ``g`` and database session), as
    under a real server, even though the test itself holds one open.
    """

    def open(self, *args, **kwargs):
        if not (args and not isinstance(args[0], str)):
            kwargs.setdefault("base_url", "https://localhost")
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("Referer", "https://localhost/")  # as a browser sends it
            kwargs["headers"] = headers
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def world(app):
    """Agencies and one account per persona (see tests/factories.py)."""
    return factories.standard_world()


# What makes a test need a database: ``databases`` (under ``database_url``, ``app``,
# ``client``, ``world``, ``live_server``, the matrix worlds) or a cluster of its own.
_DATABASE_FIXTURES = {"databases", "tls_cluster"}
_DATABASE_MARKERS = ("browser", "outage")


def _cap_examples(items, cap: int) -> None:
    """The fast tier asks each property for at most ``cap`` examples: a quick check while
    editing. The full suite keeps every test's own count (set in its decorator, which a
    Hypothesis profile cannot lower), so nothing is explored less where it counts."""
    from hypothesis import settings as hypothesis_settings

    for item in items:
        test = getattr(item, "obj", None)
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if current is not None and current.max_examples > cap:
            test._hypothesis_internal_use_settings = hypothesis_settings(current, max_examples=cap)


def pytest_collection_modifyitems(config, items) -> None:
    """Mark ``pure`` every test that needs no database and drives no browser: the fast
    tier, ``make test-fast`` (``pytest -m pure``), which also sets
    ``CASEOPS_FAST_EXAMPLES`` to cap each property's examples."""
    for item in items:
        if _DATABASE_FIXTURES.isdisjoint(item.fixturenames) and not any(
            item.get_closest_marker(name) for name in _DATABASE_MARKERS
        ):
            item.add_marker(pytest.mark.pure)
    if cap := os.environ.get("CASEOPS_FAST_EXAMPLES"):
        _cap_examples(items, int(cap))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"_report_{report.when}", report)
    return report
