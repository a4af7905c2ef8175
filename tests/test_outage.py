"""A database that goes away answers 503 (never 500), keeps the access log whole, and
comes back without a restart of caseops.

The fault test starts its own PostgreSQL cluster (bench/soak.py's machinery: initdb and
pg_ctl from /usr/lib/postgresql/15/bin), serves caseops on it with gunicorn, drives a
bounded load of views, searches and consent reads, stops the cluster for 3 seconds and
starts it again. Since it brings its own server it does not depend on CASEOPS_TEST_DB; it
runs once per ``make test``, in the SQLite run (which always runs), and is skipped in
the PostgreSQL run. In CI (``CI`` set) missing PostgreSQL binaries fail it: it never
skips silently there.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
from sqlalchemy import create_engine, func, select, text

from bench.soak import Cluster, Server, account, audit_cli, run_load, seed, throwaway_cluster
from caseops import create_app
from caseops.errors import RETRY_AFTER_SECONDS, database_unavailable
from caseops.extensions import db
from caseops.records.models import SourceRecord
from tests import factories
from tests.conftest import BACKEND
from tests.fixtures.records import MARIA

READS = (("view", 55), ("search", 30), ("consents", 15))


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.mark.outage
def test_a_database_outage_answers_503_then_recovers_without_a_restart(tmp_path):
    if BACKEND != "sqlite":
        pytest.skip("runs once per make test, in the SQLite run: it starts its own cluster")
    if not Cluster.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL 15 binaries are missing in CI (/usr/lib/postgresql/15/bin)")
        pytest.skip("needs PostgreSQL server binaries (initdb, pg_ctl) in CASEOPS_PG_BIN")
    with throwaway_cluster() as cluster:
        url = cluster.create_database("caseops_outage")
        seeded = seed(url, 6)
        server = Server(url, tmp_path, workers=2)
        try:
            server.wait_ready()
            workers_before = server.workers()
            during: dict[str, int] = {}
            window: dict[str, float] = {}

            def database_outage() -> None:
                window["down"] = time.monotonic()
                cluster.stop()
                during["readyz"] = _status(server.url + "/readyz")
                time.sleep(max(0.0, 3 - (time.monotonic() - window["down"])))
                cluster.start()
                window["up"] = time.monotonic()

            began = time.monotonic()
            answers, _ = run_load(
                server.url, seeded, users=4, seconds=9, faults=[(2.5, database_outage)], mix=READS
            )
            down, up = window["down"] - began, window["up"] - began

            statuses = Counter(a.status for a in answers)
            failed = [a.request_id for a in answers if a.status not in (200, 503)]
            assert not failed, f"{statuses}\n{server.errors_for(set(failed))}"
            assert statuses[200] > 0 and statuses[503] > 0, statuses
            assert {a.code for a in answers if a.status == 503} <= {
                "database_unavailable",
                "audit_unavailable",
            }
            assert during["readyz"] == 503
            # Recovered by itself: everything asked a second after the restart got data,
            # from the same master and the same workers.
            after = [a for a in answers if a.started > up + 1.0]
            assert after and all(a.status == 200 for a in after), Counter(a.status for a in after)
            assert _status(server.url + "/readyz") == 200
            assert server.process.poll() is None and server.workers() == workers_before
            assert any(down <= a.started <= up and a.status == 503 for a in answers)

            accounting = account(url, answers)
            assert accounting.answered_with_data == statuses[200]
            assert accounting.missing == [] and accounting.duplicate == []
        finally:
            server.stop()
        sealed = audit_cli(url, "seal", "--grace", "0")
        assert sealed.returncode == 0, sealed.stderr
        verified = audit_cli(url, "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert verified.stdout.startswith("ok:")


# --- in process: an unreachable server, a read-only one, the classification ------------

UNREACHABLE = "postgresql+psycopg://caseops@127.0.0.1:1/caseops"


@pytest.fixture
def unreachable_app(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": UNREACHABLE, "TESTING": True})
    app.instance_path = str(tmp_path)
    yield app
    with app.app_context():
        db.engine.dispose()


def test_an_unreachable_database_answers_503_json_with_retry_after(unreachable_app):
    client = unreachable_app.test_client()
    response = client.get("/api/v1/agencies", headers={"Authorization": "Bearer cop_x_y"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    error = response.get_json()["error"]
    assert error["code"] == "database_unavailable"
    assert response.headers["X-Request-Id"]
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["database"] == "unreachable"


def test_an_unreachable_database_answers_503_html_to_a_browser(unreachable_app):
    client = unreachable_app.test_client()
    page = client.get("/login", base_url="https://localhost")
    form = {"username": "someone", "password": "secret-secret"}
    if page.status_code == 200:
        form["csrf_token"] = factories.csrf_token(page.get_data(as_text=True))
    response = client.post(
        "/login",
        data=form,
        base_url="https://localhost",
        headers={"Accept": "text/html", "Referer": "https://localhost/login"},
    )
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    # (the login route's rate limiter may state its own, longer, Retry-After)
    assert int(response.headers["Retry-After"]) >= RETRY_AFTER_SECONDS
    assert "503" in response.get_data(as_text=True)


@pytest.mark.skipif(BACKEND != "postgres", reason="a read-only standby is PostgreSQL's")
def test_a_read_only_database_answers_503_and_stores_nothing(app, client, world, database_url):
    """As on a standby or during a fail-over: every write refused with SQLSTATE 25006."""
    token = factories.token_for("hha.integration")
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(
                text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            )
        db.engine.dispose()  # new connections take the setting
        response = client.put(
            "/api/v1/agencies/hha/records/H-1",
            json=MARIA,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 503, response.get_json()
        assert response.get_json()["error"]["code"] in (
            "database_unavailable",
            "audit_unavailable",
        )
        assert response.headers["Retry-After"]
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
        admin.dispose()
        db.engine.dispose()
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(SourceRecord)) == 0


def _dbapi_error(kind, orig: Exception):
    return kind("SELECT 1", {}, orig)


def test_what_counts_as_the_database_being_unavailable():
    import psycopg
    from psycopg import errors as pg
    from sqlalchemy import exc as sa

    unavailable = [
        _dbapi_error(sa.OperationalError, psycopg.OperationalError("connection refused")),
        _dbapi_error(sa.InterfaceError, psycopg.InterfaceError("connection closed")),
        _dbapi_error(sa.InternalError, pg.ReadOnlySqlTransaction("read-only")),
        sa.DisconnectionError("gone"),
        sa.TimeoutError("QueuePool limit reached"),
        psycopg.OperationalError("server closed the connection unexpectedly"),
    ]
    for error in unavailable:
        assert database_unavailable(error), error
    available = [
        _dbapi_error(sa.IntegrityError, pg.UniqueViolation("duplicate key")),
        _dbapi_error(sa.DataError, pg.StringDataRightTruncation("too long")),
        ValueError("not a database error"),
    ]
    for error in available:
        assert not database_unavailable(error), error


def test_a_connection_lost_after_the_answer_leaves_the_answer_alone(client, world, monkeypatch):
    """The end-of-request ROLLBACK on a connection the server ended (the soak saw it as
    gunicorn's 500) is not the caller's problem: the server rolled back already."""
    import psycopg
    from sqlalchemy import exc as sa

    token = factories.token_for("hha.system_admin")
    remove = db.session.remove

    def connection_gone() -> None:
        remove()  # the session really ends; then the server's goodbye surfaces
        raise sa.OperationalError(
            "ROLLBACK", {}, psycopg.OperationalError("terminating connection")
        )

    monkeypatch.setattr(db.session, "remove", connection_gone)
    response = client.get("/api/v1/agencies", headers={"Authorization": f"Bearer {token}"})
    monkeypatch.undo()
    assert response.status_code == 200
    assert {a["code"] for a in response.get_json()} >= {"hha", "cchc"}
